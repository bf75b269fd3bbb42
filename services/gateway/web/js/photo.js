// One photo with its face boxes: click a box to name, confirm or remove it; drag to draw a new one.
import {
  PAGE_SIZE, STATUS_TEXT, UNFINISHED, api, ask, clear, coalesce, faceLabel, formatBytes, formatDate, h, icon, imgOr,
  fetchGalleryPage, labelChip, liveEventsUp, loadPeople, mountHeader, onLiveEvents, peopleList, plural, readSearch,
  showError, toast,
} from "./common.js";

const MIN_SIDE = 8; // pixels of the photo; the API refuses smaller boxes
const app = document.getElementById("app");
const query = new URLSearchParams(location.search);
const imageId = query.get("id");
// Where the photo was opened from: the gallery's search and the photo's place in its results.
const search = query.get("in") || "";
const position = query.has("at") ? Math.max(0, parseInt(query.get("at"), 10) || 0) : null;
const galleryHref = (() => {
  const q = new URLSearchParams(search);
  if (position !== null && position >= PAGE_SIZE) q.set("page", String(Math.floor(position / PAGE_SIZE) + 1));
  const text = q.toString();
  return text ? `/?${text}` : "/";
})();

const state = {
  image: null,
  people: [],
  selected: null, // face id with the editor open
  draft: null, // {left, top, width, height} of a box being drawn or waiting for its name
  drawMode: false, // touch screens draw only in this mode, so a finger can still scroll
  busy: false,
  prev: null, // neighbours in the gallery's order: {href, image}
  next: null,
  stepping: false, // the photo's place in its search is known: previous and next can be shown
};
let pollTimer = null;
const els = {};

const pct = (value, whole) => `${(100 * value) / whole}%`;
const faceById = (id) => state.image?.faces.find((f) => f.id === id) || null;
const dims = () => ({
  width: state.image.width || els.photo?.naturalWidth || 1,
  height: state.image.height || els.photo?.naturalHeight || 1,
});

function describe(face) {
  const label = faceLabel(face);
  if (face.label_source === "person") return face.person ? "Named by a person" : "Marked unknown by a person";
  if (label.low) return `Low quality (${Math.round((face.quality || 0) * 100)}%): too small, blurred or turned away, never named by the model`;
  if (face.label_source === "model") {
    const sure = face.confidence === null ? "" : ` · ${Math.round(face.confidence * 100)}% sure`;
    return face.person ? `Model ${face.model_version || ""} guess${sure}` : `Model ${face.model_version || ""}: nobody it knows`;
  }
  if (label.pending) return "Drawn by hand · being analysed";
  return face.origin === "manual" ? "Drawn by hand · not named yet" : "Not named yet";
}

function chipImage(face, cls = "") {
  return imgOr(face.chip_url, "", h("div", { class: `noface ${cls}` }, face.chip_url ? "" : "…"));
}

// ---- actions -------------------------------------------------------------------------------------

// Faces still waiting for a person's word: the model's guesses and faces nobody named.
function needsReview(face) {
  return face.label_source !== "person";
}

function nextToReview(afterId) {
  const faces = state.image.faces;
  const at = faces.findIndex((f) => f.id === afterId);
  const order = [...faces.slice(at + 1), ...faces.slice(0, Math.max(0, at))];
  return order.find(needsReview) || null;
}

// ``advance``: from the editor, go straight on to the next face to name, so a whole photo is named
// with the keyboard alone.
function labelFace(face, body, message, { advance = false } = {}) {
  return editorAction(async () => {
    const updated = await api(`/v1/faces/${encodeURIComponent(face.id)}`, { method: "PATCH", body });
    Object.assign(face, updated);
    if (body.name) await refreshPeople();
    state.selected = advance ? nextToReview(face.id)?.id || null : null;
    toast(message(updated));
  });
}

// One editor action at a time; a failure is shown in the editor and the faces stay as drawn.
async function editorAction(work) {
  if (state.busy) return;
  state.busy = true;
  try {
    await work();
  } catch (err) {
    showEditorError(err);
    return;
  } finally {
    state.busy = false;
  }
  renderFaces();
}

function nameFace(face, name, options) {
  return labelFace(face, { name }, (f) => `Named ${f.person.name}`, options);
}

function confirmFace(face, options) {
  return labelFace(face, { confirm: true }, (f) => (f.person ? `Confirmed ${f.person.name}` : "Confirmed as unknown"),
    options);
}

function markUnknown(face, options) {
  return labelFace(face, { unknown: true }, () => "Marked as unknown", options);
}

async function removeFace(face) {
  try {
    await api(`/v1/faces/${encodeURIComponent(face.id)}`, { method: "DELETE" });
  } catch (err) {
    showEditorError(err);
    return;
  }
  state.image.faces = state.image.faces.filter((f) => f.id !== face.id);
  state.image.face_count = state.image.faces.length;
  state.selected = null;
  renderFaces();
  const body = { box: face.box };
  if (face.label_source === "person" && face.person) body.person_id = face.person.id;
  toast("Face removed", "info", 7000, {
    label: "Undo",
    run: async () => {
      try {
        const restored = await api(`/v1/images/${encodeURIComponent(imageId)}/faces`, { method: "POST", body });
        state.image.faces.push(restored);
        renderFaces();
        schedulePoll();
      } catch (err) {
        showError(err);
      }
    },
  });
}

function addFace(box, name) {
  return editorAction(async () => {
    const body = { box };
    if (name) body.name = name;
    const face = await api(`/v1/images/${encodeURIComponent(imageId)}/faces`, { method: "POST", body });
    state.image.faces.push(face);
    state.image.face_count = state.image.faces.length;
    state.draft = null;
    state.selected = null;
    if (name) await refreshPeople();
    toast(name ? `Added ${face.person?.name || name}` : "Face added");
    schedulePoll();
  });
}

async function deletePhoto() {
  const faces = state.image.faces.length;
  const ok = await ask({
    title: "Delete this photo?",
    text: `${state.image.filename || "The photo"} and its ${plural(faces, "face")} are removed for good. People stay.`,
    ok: "Delete photo",
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/v1/images/${encodeURIComponent(imageId)}`, { method: "DELETE" });
    // The next photo moves up into this one's place.
    location.href = state.next ? photoHref(state.next.id, position) : galleryHref;
  } catch (err) {
    showError(err);
  }
}

async function refreshPeople() {
  try {
    state.people = await loadPeople();
    peopleList("people-names", state.people);
  } catch (err) {
    showError(err);
  }
}

// ---- the editor (a card under the selected box; a bottom sheet on phones) ------------------------

function showEditorError(err) {
  const line = els.stage?.querySelector(".editor .error");
  if (line) {
    line.textContent = err.message;
    line.hidden = false;
  } else {
    showError(err);
  }
}

function closeEditor() {
  state.selected = null;
  state.draft = null;
  renderFaces();
}

function nameForm(onName, { submitText, placeholder, initial = "" }) {
  const input = h("input", {
    type: "text", list: "people-names", autocomplete: "off", placeholder, value: initial, maxlength: "100",
    "aria-label": "Name", name: "name", enterkeyhint: "done",
  });
  const form = h("form", {
    onsubmit: (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name) {
        input.focus();
        return;
      }
      onName(name);
    },
  }, input, h("button", { type: "submit", class: "primary" }, submitText));
  return { form, input };
}

function editorFor(face) {
  const label = faceLabel(face);
  const current = face.person?.name || "";
  const advance = { advance: true };
  const { form, input } = nameForm((name) => nameFace(face, name, advance), {
    submitText: "Save",
    placeholder: label.kind === "guess" ? "Someone else?" : "Who is this?",
  });
  const confirm = label.kind === "guess"
    ? h("button", { type: "button", class: "confirm", onclick: () => confirmFace(face, advance) },
      icon("check"), `Yes, it's ${current}`)
    : null;
  const editor = h("div", { class: "editor", role: "dialog", "aria-label": "Edit face", "data-editing": face.id },
    h("div", { class: "head" },
      chipImage(face),
      h("div", { class: "who" },
        h("strong", {}, face.person ? label.text : face.label_source === "person" ? "Unknown" : "Unnamed face"),
        h("div", { class: "muted" }, describe(face)),
      ),
      h("button", { type: "button", class: "ghost icon-btn", "aria-label": "Close", onclick: closeEditor }, icon("x")),
    ),
    confirm,
    form,
    h("div", { class: "row" },
      face.label_source === "person" && !face.person ? null
        : h("button", { type: "button", onclick: () => markUnknown(face, advance) }, icon("question"), "Unknown"),
      h("button", { type: "button", class: "danger", onclick: () => removeFace(face) }, icon("trash"), "Not a face"),
    ),
    h("div", { class: "error", hidden: true, role: "alert" }),
    matchMedia("(pointer: fine)").matches
      ? h("div", { class: "keys" }, "Enter saves and opens the next face to name · Esc closes")
      : null,
  );
  return { editor, focus: input };
}

function editorForDraft(box) {
  const { form, input } = nameForm((name) => addFace(box, name), { submitText: "Add", placeholder: "Who is this? (optional)" });
  const editor = h("div", { class: "editor", role: "dialog", "aria-label": "New face" },
    h("div", { class: "head" },
      h("div", { class: "noface" }, icon("box")),
      h("div", { class: "who" }, h("strong", {}, "New face"),
        h("div", { class: "muted" }, `${box.width} × ${box.height} px box`)),
      h("button", { type: "button", class: "ghost icon-btn", "aria-label": "Cancel", onclick: closeEditor }, icon("x")),
    ),
    form,
    h("div", { class: "row" },
      h("button", { type: "button", onclick: () => addFace(box, null) }, icon("plus"), "Add without a name"),
      h("button", { type: "button", class: "ghost", onclick: closeEditor }, "Cancel"),
    ),
    h("div", { class: "error", hidden: true, role: "alert" }),
  );
  return { editor, focus: input };
}

function placeEditor(editor, box) {
  const { width, height } = dims();
  const stageW = els.stage.clientWidth;
  const stageH = els.stage.clientHeight;
  const bx = (box.left / width) * stageW;
  const by = ((box.top + box.height) / height) * stageH;
  const top = (box.top / height) * stageH;
  const ew = editor.offsetWidth || 300;
  const eh = editor.offsetHeight || 200;
  const left = Math.max(0, Math.min(bx, stageW - ew));
  // Below the box when it fits in the photo, else above it, else below anyway (the page scrolls).
  const below = by + 10;
  const above = top - eh - 10;
  editor.style.left = `${left}px`;
  editor.style.top = `${below + eh <= stageH || above < 0 ? below : above}px`;
}

// ---- rendering -----------------------------------------------------------------------------------

function faceBox(face) {
  const { width, height } = dims();
  const label = faceLabel(face);
  const selected = state.selected === face.id;
  const kind = label.pending ? "pending" : label.kind;
  const box = h("button", {
    type: "button", class: `box ${kind}${selected ? " selected" : ""}`,
    "aria-label": `Face: ${label.text}. ${describe(face)}`, title: label.title,
    "data-face-id": face.id,
    onclick: (event) => {
      event.stopPropagation();
      state.draft = null;
      state.selected = selected ? null : face.id;
      renderFaces();
    },
  });
  const nearBottom = (face.box.top + face.box.height) / height > 0.86;
  // Unnamed faces get a small "?" so that a crowd stays readable; names are written out.
  const short = label.kind === "unknown" && face.label_source !== "person";
  const tag = selected ? null : h("span", {
    class: `tag ${label.kind}${nearBottom ? " above" : ""}${short ? " short" : ""}`, title: label.title,
  },
    h("span", { class: "text" }, short ? "?" : label.text,
      label.kind === "guess" && label.pct !== null ? h("span", { class: "pct" }, ` ${label.pct}%`) : null),
    label.kind === "guess" ? h("button", {
      type: "button", class: "yes", title: `Yes, this is ${face.person.name}`,
      "aria-label": `Confirm ${face.person.name}`,
      onclick: (event) => {
        event.stopPropagation();
        confirmFace(face);
      },
    }, "✓") : null,
  );
  return h("div", {
    class: "face",
    style: {
      left: pct(face.box.left, width), top: pct(face.box.top, height),
      width: pct(face.box.width, width), height: pct(face.box.height, height),
    },
  }, box, tag);
}

function faceRow(face) {
  const label = faceLabel(face);
  const selected = state.selected === face.id;
  return h("li", {
    class: `face-row${selected ? " selected" : ""}`, "data-face-id": face.id,
    onclick: () => {
      state.draft = null;
      state.selected = selected ? null : face.id;
      renderFaces();
      if (state.selected && matchMedia("(max-width: 820px)").matches) {
        els.stage.scrollIntoView({ behavior: "smooth", block: "center" });
      }
    },
  },
  chipImage(face),
  h("div", { class: "who" }, labelChip(face, {}, false), h("span", { class: "why" }, describe(face))),
  label.kind === "guess" ? h("button", {
    type: "button", class: "confirm", title: `Yes, this is ${face.person.name}`,
    onclick: (event) => {
      event.stopPropagation();
      confirmFace(face);
    },
  }, icon("check"), "Yes") : null,
  );
}

// The editor closed while it had the keyboard (Esc, Close, the last face named): the focus goes back to
// the face that was being edited, so a keyboard user goes on from where they were instead of from the
// top of the page. A face that is gone hands it to its neighbour; a new box's editor, to "Draw a face".
function returnFocus(editedId, editedAt) {
  const boxes = [...els.overlay.querySelectorAll(".box[data-face-id]")];
  const target = (editedId && boxes.find((b) => b.dataset.faceId === editedId))
    || (editedId && boxes[Math.min(editedAt, boxes.length - 1)])
    || document.getElementById("draw-toggle");
  target?.focus({ preventScroll: true });
}

function renderFaces() {
  if (!els.overlay) return;
  const faces = state.image.faces;
  // Drawing anew drops the element with the focus: note which face it belonged to, to give it back.
  const oldEditor = els.stage.querySelector(".editor");
  const active = document.activeElement;
  const inEditor = Boolean(oldEditor?.contains(active));
  const hadFocus = inEditor || els.overlay.contains(active);
  const editedId = inEditor ? oldEditor.dataset.editing || null
    : active?.closest?.(".face")?.querySelector(".box")?.dataset.faceId || null;
  // Its place among the boxes drawn so far, for when the face itself was just removed.
  const editedAt = Math.max(0, [...els.overlay.querySelectorAll(".box[data-face-id]")]
    .findIndex((box) => box.dataset.faceId === editedId));
  clear(els.overlay, faces.map(faceBox));
  if (state.draft) {
    const { width, height } = dims();
    els.overlay.append(h("div", {
      class: "box draft",
      style: { left: pct(state.draft.left, width), top: pct(state.draft.top, height),
        width: pct(state.draft.width, width), height: pct(state.draft.height, height) },
    }));
  }
  els.stage.querySelector(".editor")?.remove();
  const face = faceById(state.selected);
  if (!face) state.selected = null;
  const open = face ? editorFor(face) : state.draft && !els.drawing ? editorForDraft(state.draft) : null;
  if (open) {
    els.stage.append(open.editor);
    placeEditor(open.editor, face ? face.box : state.draft);
    // Type a name straight away with a keyboard; on touch screens the keyboard would hide the choices.
    if (open.focus && matchMedia("(pointer: fine)").matches) open.focus.focus({ preventScroll: true });
  } else if (hadFocus) {
    returnFocus(editedId, editedAt);
  }
  // Side list
  const unknown = faces.filter((f) => faceLabel(f).kind === "unknown").length;
  const guesses = faces.filter((f) => faceLabel(f).kind === "guess").length;
  clear(els.summary,
    faces.length ? plural(faces.length, "face") : "",
    unknown ? ` · ${unknown} unknown` : "",
    guesses ? ` · ${plural(guesses, "guess", "guesses")} to check` : "");
  clear(els.list, faces.length ? faces.map(faceRow) : h("li", { class: "muted small" },
    UNFINISHED.has(state.image.status) ? "Looking for faces…" : "No faces found. Drag on the photo to draw one."));
}

function renderStatus() {
  const image = state.image;
  let banner = null;
  if (UNFINISHED.has(image.status)) {
    banner = h("div", { class: "banner info", role: "status" }, h("span", { class: "spinner" }),
      `${STATUS_TEXT[image.status]}… this page updates by itself.`);
  } else if (image.status === "failed") {
    banner = h("div", { class: "banner error", role: "alert" }, `Facetag could not read the faces: ${image.error || "unknown error"}`);
  }
  clear(els.status, banner);
  clear(els.facts,
    h("dt", {}, "Uploaded"), h("dd", {}, formatDate(image.uploaded_at)),
    h("dt", {}, "Size"), h("dd", {}, `${image.width} × ${image.height} · ${formatBytes(image.size_bytes)}`),
    h("dt", {}, "Status"), h("dd", {}, STATUS_TEXT[image.status] || image.status),
    h("dt", {}, "File"), h("dd", {}, h("a", { href: image.original_url, target: "_blank", rel: "noopener" }, image.filename || "original")),
  );
}

function startDrawing(event) {
  if (event.target !== els.overlay || event.button > 0) return;
  if (event.pointerType === "touch" && !state.drawMode) return;
  const rect = els.photo.getBoundingClientRect();
  const { width, height } = dims();
  const toImage = (e) => ({
    x: Math.max(0, Math.min(width, ((e.clientX - rect.left) / rect.width) * width)),
    y: Math.max(0, Math.min(height, ((e.clientY - rect.top) / rect.height) * height)),
  });
  const start = toImage(event);
  const startScreen = { x: event.clientX, y: event.clientY };
  els.overlay.setPointerCapture(event.pointerId);
  event.preventDefault();
  state.selected = null;
  state.draft = null;
  els.drawing = true;
  renderFaces();
  const draftEl = h("div", { class: "box draft" });
  els.overlay.append(draftEl);
  let box = null;
  const move = (e) => {
    const p = toImage(e);
    box = {
      left: Math.round(Math.min(start.x, p.x)), top: Math.round(Math.min(start.y, p.y)),
      width: Math.round(Math.abs(p.x - start.x)), height: Math.round(Math.abs(p.y - start.y)),
    };
    Object.assign(draftEl.style, {
      left: pct(box.left, width), top: pct(box.top, height), width: pct(box.width, width), height: pct(box.height, height),
    });
  };
  const end = (e) => {
    els.overlay.removeEventListener("pointermove", move);
    els.overlay.removeEventListener("pointerup", end);
    els.overlay.removeEventListener("pointercancel", end);
    els.drawing = false;
    const dragged = Math.hypot(e.clientX - startScreen.x, e.clientY - startScreen.y) > 6;
    if (e.type === "pointerup" && box && dragged && box.width >= MIN_SIDE && box.height >= MIN_SIDE) {
      box.width = Math.min(box.width, width - box.left);
      box.height = Math.min(box.height, height - box.top);
      state.draft = box;
    } else if (e.type === "pointerup" && box && dragged) {
      toast(`Draw a bigger box: at least ${MIN_SIDE} pixels each way.`);
    }
    renderFaces();
  };
  els.overlay.addEventListener("pointermove", move);
  els.overlay.addEventListener("pointerup", end);
  els.overlay.addEventListener("pointercancel", end);
}

function renderPage() {
  const image = state.image;
  document.title = `${image.filename || "Photo"} · Facetag`;
  els.photo = h("img", { class: "photo", src: image.original_url, alt: image.filename || "Photo", draggable: "false" });
  els.overlay = h("div", { class: "overlay", "aria-label": "Faces on the photo" });
  els.overlay.addEventListener("pointerdown", startDrawing);
  els.stage = h("div", { class: "stage" }, els.photo, els.overlay);
  els.photo.addEventListener("load", () => renderFaces());
  els.status = h("div");
  els.list = h("ul", { class: "face-list", id: "face-list" });
  els.summary = h("span", { class: "muted small" });
  els.facts = h("dl", { class: "facts" });
  const drawToggle = h("button", {
    type: "button", class: "toggle", "aria-pressed": "false", id: "draw-toggle",
    title: "Draw a box around a face the finder missed",
    onclick: () => {
      state.drawMode = !state.drawMode;
      drawToggle.setAttribute("aria-pressed", String(state.drawMode));
      els.overlay.classList.toggle("drawing-mode", state.drawMode);
      hint.textContent = state.drawMode ? "Drag across the face to draw its box." : hintText;
    },
  }, icon("box"), "Draw a face");
  const hintText = matchMedia("(pointer: coarse)").matches
    ? "Tap a box to name it."
    : "Click a box to name it · drag on the photo to add a face.";
  const hint = h("span", { class: "hint" }, hintText);
  const tagsToggle = h("button", {
    type: "button", class: "toggle", "aria-pressed": "true", id: "names-toggle", title: "Show or hide the names on the photo",
    onclick: () => {
      const shown = tagsToggle.getAttribute("aria-pressed") !== "true";
      tagsToggle.setAttribute("aria-pressed", String(shown));
      els.overlay.classList.toggle("hide-tags", !shown);
    },
  }, "Names");
  const back = h("a", { class: "button ghost", href: galleryHref, title: "Back to the photos", "aria-label": "Back to Photos" },
    icon("back"), h("span", { class: "wide-only" }, "Photos"));
  els.nav = h("div", { class: "photo-nav" });
  clear(app,
    h("div", { class: "page-head photo-head" },
      back,
      h("h1", { style: { overflow: "hidden", textOverflow: "ellipsis", whiteSpace: "nowrap", minWidth: "0", flex: "1" } },
        image.filename || "Photo"),
      els.nav,
      h("button", { type: "button", class: "danger", onclick: deletePhoto, "aria-label": "Delete photo", id: "delete-photo" },
        icon("trash"), h("span", { class: "wide-only" }, "Delete photo")),
    ),
    els.status,
    h("div", { class: "photo-layout" },
      h("section", { class: "stage-wrap", "aria-label": "Photo" },
        h("div", { class: "stage-tools" }, drawToggle, tagsToggle, hint), els.stage),
      h("aside", { class: "side" },
        h("section", { class: "panel" }, h("h2", {}, "In this photo ", els.summary), els.list),
        h("section", { class: "panel" }, h("h2", {}, "Details"), els.facts),
      ),
    ),
  );
  renderStatus();
  renderFaces();
  renderNav();
}

function photoHref(id, at) {
  const q = new URLSearchParams({ id, at: String(at) });
  if (search) q.set("in", search);
  return `/photo.html?${q}`;
}

// Previous and next photo of the search this photo was opened from.
async function loadNeighbours() {
  if (position === null) return;
  try {
    // The gallery page the photo is on (by the cursors the gallery kept), and the pages either side at its edges.
    const found = readSearch(search);
    const number = Math.floor(position / PAGE_SIZE) + 1;
    const page = await fetchGalleryPage(found, number);
    const at = page ? page.items.findIndex((image) => image.id === imageId) : -1;
    if (at !== position % PAGE_SIZE) return; // opened from elsewhere, or the list changed since: no stepping
    const before = at > 0 ? page.items : (await fetchGalleryPage(found, number - 1))?.items || [];
    const after = at + 1 < page.items.length || !page.next_cursor ? page.items
      : [...page.items, ...((await fetchGalleryPage(found, number + 1))?.items || []).slice(0, 1)];
    state.prev = (at > 0 ? before[at - 1] : before[before.length - 1]) || null;
    state.next = after[at + 1] || null;
    state.stepping = true;
  } catch (err) {
    return;
  }
  renderNav();
}

function renderNav() {
  if (!els.nav || !state.stepping) return;
  const link = (image, at, name, label) => (image
    ? h("a", { class: "button icon-btn", href: photoHref(image.id, at), "aria-label": label, title: `${label} (${name === "back" ? "←" : "→"})`, id: `${name}-photo` }, icon(name))
    : h("button", { type: "button", class: "icon-btn", disabled: true, "aria-label": label }, icon(name)));
  clear(els.nav,
    link(state.prev, position - 1, "back", "Previous photo"),
    h("span", { class: "muted small" }, `Photo ${position + 1}`),
    link(state.next, position + 1, "next", "Next photo"),
  );
}

function needsPolling() {
  const image = state.image;
  // Live events say when the photo moves on or a face is named; none says when a box drawn by hand has its chip.
  return (UNFINISHED.has(image.status) && !liveEventsUp())
    || image.faces.some((f) => f.origin === "manual" && !f.chip_url);
}

function followLiveEvents() {
  const pollSoon = coalesce(poll);
  onLiveEvents(["photo.detected", "photo.done", "photo.failed", "face.named", "person.changed"], (event) => {
    if (event.image_id === imageId || (event.kind === "person.changed" && state.image?.faces.some(
      (f) => f.person && f.person.id === event.person_id))) pollSoon();
  }, (why) => {
    // Subscribed after the photo was read (it may have finished in between), back after a break, or down.
    if (why !== "ready" || (state.image && UNFINISHED.has(state.image.status))) pollSoon();
  });
}

function schedulePoll() {
  clearTimeout(pollTimer);
  if (state.image && needsPolling()) pollTimer = setTimeout(poll, 1500);
}

async function poll() {
  try {
    const fresh = await api(`/v1/images/${encodeURIComponent(imageId)}`);
    const before = JSON.stringify(state.image);
    state.image = fresh;
    if (JSON.stringify(fresh) !== before) {
      renderStatus();
      // Keep an editor the user is typing in; refresh everything else.
      const typing = els.stage.querySelector(".editor input") === document.activeElement
        && document.activeElement.value;
      if (!typing && !els.drawing) renderFaces();
    }
  } catch (err) {
    if (err.status === 404) {
      clear(app, h("div", { class: "empty" }, h("h2", {}, "This photo was deleted"), h("a", { href: "/" }, "Back to photos")));
      return;
    }
  }
  schedulePoll();
}

document.addEventListener("keydown", (event) => {
  if (event.key === "Escape" && (state.selected || state.draft)) {
    closeEditor();
    return;
  }
  const typing = event.target.closest?.("input, textarea, select, dialog");
  if (typing || state.selected || state.draft || event.altKey || event.ctrlKey || event.metaKey) return;
  const to = event.key === "ArrowLeft" ? state.prev : event.key === "ArrowRight" ? state.next : null;
  if (to) location.href = photoHref(to.id, position + (event.key === "ArrowLeft" ? -1 : 1));
});

document.addEventListener("pointerdown", (event) => {
  // A click outside the photo and its editor closes the editor.
  if ((state.selected || state.draft) && els.stage && !els.stage.contains(event.target)
      && !event.target.closest?.(".face-row, .toasts, dialog")) {
    closeEditor();
  }
});

window.addEventListener("resize", () => {
  const editor = els.stage?.querySelector(".editor");
  const face = faceById(state.selected);
  if (editor && (face || state.draft)) placeEditor(editor, face ? face.box : state.draft);
});

async function start() {
  mountHeader("photos");
  if (!imageId) {
    clear(app, h("div", { class: "empty" }, h("h2", {}, "No photo chosen"), h("a", { href: "/" }, "Back to photos")));
    return;
  }
  try {
    [state.image, state.people] = await Promise.all([api(`/v1/images/${encodeURIComponent(imageId)}`), loadPeople()]);
  } catch (err) {
    clear(app, h("div", { class: "empty" }, h("h2", {}, err.status === 404 ? "No such photo" : "Could not load the photo"),
      h("p", {}, err.message), h("a", { href: "/" }, "Back to photos")));
    return;
  }
  peopleList("people-names", state.people);
  renderPage();
  schedulePoll();
  followLiveEvents();
  loadNeighbours();
}

start();
