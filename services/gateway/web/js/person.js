// One person's page (person.html?id=...): their name (renamed in place), counts, photos and faces, both paged.
// Editors choose the cover face, hide them, limit the dates they may be named automatically, opt them out of
// automatic naming, merge them into someone else or delete them; and select faces (click, shift-click, all on
// the page) to confirm, reject ("not them"), move to someone else (a split) or delete. Every change that can be
// undone shows the Undo bar (undo-bar.js).
import {
  CursorPages, PAGE_SIZE, api, ApiError, ask, avatarColour, clear, csrfHeaders, faceLabel, h, hasRole, icon, imgOr,
  initials,
  loadPeople, mountHeader, peopleList, plural, showError, toast,
} from "./common.js";
import { chooseMergeTarget } from "./merge-dialog.js";
import { hideUndo, showUndo } from "./undo-bar.js";

const FACES_PAGE = 48;
const app = document.getElementById("app");
let user = null;
let editor = false;
let personId = new URLSearchParams(location.search).get("id") || "";
let person = null;
let facesPage = 0;
let photosPage = 0;
const facesPages = new CursorPages((cursor) => api(`${personUrl()}/faces`, { params: { cursor, limit: FACES_PAGE } }));
const photosPages = new CursorPages((cursor) => api("/v1/images", {
  params: { person: person.name, cursor, limit: PAGE_SIZE },
}));
let faces = []; // the faces shown (this page)
const selected = new Set(); // face ids
let lastClicked = null; // index on the page of the face last clicked, for shift-click ranges
let renaming = false;

const personUrl = (id = personId) => `/v1/people/${encodeURIComponent(id)}`;

function goTo(id) {
  personId = id;
  facesPages.reset();
  photosPages.reset();
  facesPage = photosPage = 0;
  history.replaceState(null, "", `/person.html?id=${encodeURIComponent(id)}`);
}

async function loadPerson() {
  try {
    person = await api(personUrl());
  } catch (err) {
    person = null;
    if (!(err instanceof ApiError && err.status === 404)) showError(err);
  }
}

// Everything again: after any change, the counts, the faces and the photos may all differ.
async function reload() {
  await loadPerson();
  selected.clear();
  lastClicked = null;
  await render();
}

async function patch(body, done) {
  try {
    person = await api(personUrl(), { method: "PATCH", body });
    if (done) toast(done);
  } catch (err) {
    if (err instanceof ApiError && err.status === 409 && body.name) return err; // the name is taken: rename() asks
    showError(err);
  }
  await render();
  return null;
}

// ---- name, counts and the person's settings --------------------------------------------------------

async function rename(name) {
  renaming = false;
  const err = await patch({ name }, `Renamed to ${name}`);
  if (!err) return;
  await render();
  // The name is someone else's: maybe they are the same person.
  const list = await loadPeople({ hidden: "true" }).catch(() => []);
  const other = list.find((p) => p.id !== person.id && p.name.toLowerCase() === name.toLowerCase());
  if (!other) {
    showError(err);
    return;
  }
  const ok = await ask({
    title: `${other.name} already exists`,
    text: `Are ${person.name} and ${other.name} the same person? Merging moves all of ${person.name}'s faces to ${other.name}.`,
    ok: `Merge into ${other.name}`,
  });
  if (ok) await merge(other);
}

function nameBlock() {
  if (!renaming) {
    return h("div", { class: "person-title" },
      h("h1", { id: "person-name", title: person.name }, person.name),
      person.hidden ? h("span", { class: "chip unknown", id: "hidden-badge", title: "Left out of the People list" }, "Hidden") : null,
      editor ? h("button", {
        type: "button", class: "ghost icon-btn", id: "rename-button", "aria-label": `Rename ${person.name}`, title: "Rename",
        onclick: () => { renaming = true; render(); },
      }, icon("pencil")) : null);
  }
  const input = h("input", { type: "text", id: "rename-input", value: person.name, maxlength: "100", "aria-label": `New name for ${person.name}` });
  const cancel = () => { renaming = false; render(); };
  input.addEventListener("keydown", (event) => { if (event.key === "Escape") cancel(); });
  queueMicrotask(() => { input.focus(); input.select(); });
  return h("form", {
    class: "rename person-title",
    onsubmit: (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name || name === person.name) cancel();
      else rename(name);
    },
  }, input, h("button", { type: "submit", class: "primary" }, "Save"),
  h("button", { type: "button", class: "ghost icon-btn", "aria-label": "Cancel", onclick: cancel }, icon("x")));
}

function settings() {
  if (!editor) {
    const dates = person.active_from || person.active_to;
    return h("div", { class: "person-settings muted small" },
      person.never_tag ? h("span", { class: "chip unknown" }, "Never tagged automatically") : null,
      dates ? h("span", {}, `Named automatically only in photos taken ${person.active_from ? `from ${person.active_from}` : ""} `
        + `${person.active_to ? `until ${person.active_to}` : ""}`) : null);
  }
  const hide = h("button", {
    type: "button", id: "hide-toggle", "aria-pressed": String(Boolean(person.hidden)), class: "toggle",
    title: person.hidden ? "Show them in the People list again" : "Leave them out of the People list (still named and searchable)",
    onclick: () => patch({ hidden: !person.hidden }, person.hidden ? `${person.name} is shown again` : `${person.name} is hidden`),
  }, person.hidden ? "Unhide" : "Hide");
  const neverId = "never-tag";
  const never = h("input", { type: "checkbox", id: neverId, checked: Boolean(person.never_tag) });
  never.addEventListener("change", () => patch({ never_tag: never.checked },
    never.checked ? `${person.name} will never be tagged automatically` : `The model may tag ${person.name} again`));
  const from = h("input", { type: "date", id: "active-from", value: person.active_from || "", max: person.active_to || null,
    "aria-label": "Only name them automatically in photos taken from" });
  const to = h("input", { type: "date", id: "active-to", value: person.active_to || "", min: person.active_from || null,
    "aria-label": "until" });
  const saveDates = () => patch({ active_from: from.value || null, active_to: to.value || null },
    from.value || to.value ? "Dates saved" : "No date limit");
  from.addEventListener("change", saveDates);
  to.addEventListener("change", saveDates);
  return h("div", { class: "person-settings" },
    hide,
    h("label", { class: "check", for: neverId,
      title: "The model never names this person on its own; only people do. Faces it named before become unknown." },
    never, h("span", {}, "Never tag automatically")),
    h("fieldset", { class: "person-dates" },
      h("legend", { class: "small" }, "Only name them automatically in photos taken between"),
      from, h("span", { class: "muted" }, "and"), to,
      person.active_from || person.active_to
        ? h("button", { type: "button", class: "ghost", id: "dates-clear",
          onclick: () => patch({ active_from: null, active_to: null }, "No date limit") }, "Any date") : null),
    h("span", { class: "spacer" }),
    h("button", { type: "button", id: "merge-button", onclick: askMerge }, icon("merge"), "Merge into…"),
    h("button", { type: "button", class: "danger", id: "delete-button", onclick: remove }, icon("trash"), "Delete"));
}

// ---- merge and delete, both undoable ---------------------------------------------------------------

async function merge(target) {
  const source = person;
  let result;
  try {
    result = await api(`${personUrl(source.id)}/merge`, { method: "POST", body: { into: target.id } });
  } catch (err) {
    showError(err);
    return;
  }
  // They are gone: show who they became, with the way back.
  goTo(result.id);
  renaming = false;
  await reload();
  showUndo(result.action, async () => {
    goTo(source.id);
    await reload();
  });
}

async function askMerge() {
  const others = (await loadPeople({ hidden: "true" }).catch((err) => {
    showError(err);
    return [];
  })).filter((p) => p.id !== person.id);
  const target = await chooseMergeTarget(person, others, "You can undo it.");
  if (target) await merge(target);
}

async function remove() {
  const gone = person;
  const ok = await ask({
    title: `Delete ${gone.name}?`,
    text: gone.face_count
      ? `Their ${plural(gone.face_count, "face")} become unknown. The ${plural(gone.image_count, "photo")} stay. You can undo it.`
      : "Nobody's face is named this; nothing else changes.",
    ok: "Delete person", danger: true,
  });
  if (!ok) return;
  // 204 with the way back in a header, which api() does not show: asked directly.
  let response;
  try {
    response = await fetch(personUrl(gone.id), { method: "DELETE", credentials: "same-origin", headers: csrfHeaders("DELETE") });
  } catch (err) {
    showError(new Error("Facetag did not answer. Is the service running?"));
    return;
  }
  if (!response.ok) {
    const data = await response.json().catch(() => null);
    showError(new ApiError(response.status, data?.error || "error", data?.message || `Delete failed (${response.status}).`));
    return;
  }
  person = null;
  await render(gone.name);
  showUndo({ summary: `Deleted ${gone.name}`, undo_url: response.headers.get("Facetag-Undo") }, () => reload());
}

// ---- faces: paged, selectable, with actions on the selection ---------------------------------------

function faceTile(face, index) {
  const label = faceLabel(face);
  const guess = label.kind === "guess";
  const cover = person.chosen_cover_id === face.id;
  const isSelected = selected.has(face.id);
  const chip = imgOr(face.chip_url, `Face of ${person.name}`, h("div", { class: "noface" }, "…"));
  const picture = editor
    ? h("button", {
      type: "button", class: "face-select", "aria-pressed": String(isSelected),
      "aria-label": isSelected ? "Selected; click to leave it out" : "Select this face",
      title: "Click to select; shift-click to select a range",
      onclick: (event) => toggle(face, index, event.shiftKey),
    }, chip)
    : h("a", { href: `/photo.html?id=${encodeURIComponent(face.image_id)}`, title: "Open the photo" }, chip);
  return h("div", { class: `face-tile${isSelected ? " selected" : ""}`, "data-face-id": face.id },
    picture,
    h("div", { class: "meta" },
      h("div", { class: "row" },
        guess ? h("span", { class: "chip guess", title: label.title }, "Guess", label.pct !== null ? h("span", { class: "pct" }, `${label.pct}%`) : null)
          : h("span", { class: "chip confirmed", title: label.title }, "Confirmed"),
        cover ? h("span", { class: "chip token cover-badge", title: "Shown for them everywhere" }, "Cover") : null),
      h("div", { class: "row" },
        h("a", { class: "button", href: `/photo.html?id=${encodeURIComponent(face.image_id)}`, title: "Open the photo" }, icon("photos")),
        editor && !cover ? h("button", {
          type: "button", class: "make-cover", title: `Show this face for ${person.name}`,
          onclick: () => patch({ cover_face_id: face.id }, "Cover chosen"),
        }, "Make cover") : null,
        editor && cover ? h("button", {
          type: "button", class: "auto-cover", title: "Let Facetag pick the face shown for them",
          onclick: () => patch({ cover_face_id: null }, "Cover picked for you"),
        }, "Automatic") : null)));
}

function toggle(face, index, range) {
  if (range && lastClicked !== null) {
    const [a, b] = lastClicked < index ? [lastClicked, index] : [index, lastClicked];
    for (const f of faces.slice(a, b + 1)) selected.add(f.id);
  } else if (selected.has(face.id)) selected.delete(face.id);
  else selected.add(face.id);
  lastClicked = index;
  drawFaces();
}

function bulkBar() {
  if (!editor) return null;
  const n = selected.size;
  const onPage = faces.length && faces.every((f) => selected.has(f.id));
  const bar = h("div", { class: "bulk-bar", id: "bulk-bar" },
    h("button", {
      type: "button", id: "select-page",
      onclick: () => {
        for (const f of faces) if (onPage) selected.delete(f.id); else selected.add(f.id);
        drawFaces();
      },
    }, onPage ? "Select none on this page" : "Select all on this page"),
    h("span", { class: "muted", id: "selected-count" }, n ? `${plural(n, "face")} selected` : "Click faces to select them"));
  if (!n) return bar;
  const move = h("input", {
    type: "text", id: "bulk-move-name", list: "person-people", maxlength: "100", placeholder: "Who are they?",
    "aria-label": "Move the selected faces to (a name)",
  });
  bar.append(
    h("button", { type: "button", class: "confirm", id: "bulk-confirm", onclick: () => bulk("confirm") }, icon("check"), "Confirm"),
    h("button", { type: "button", id: "bulk-reject", onclick: () => bulk("reject"), title: `They are not ${person.name}` },
      `Not ${person.name}`),
    h("form", {
      class: "bulk-move",
      onsubmit: (event) => {
        event.preventDefault();
        const name = move.value.trim();
        if (name) split(name); else move.focus();
      },
    }, move, h("button", { type: "submit", id: "bulk-move" }, "Move to…")),
    h("button", { type: "button", class: "danger", id: "bulk-delete", onclick: () => bulk("delete"), title: "They are not faces" },
      icon("trash"), "Delete"),
    h("button", { type: "button", class: "ghost", id: "select-none", onclick: () => { selected.clear(); drawFaces(); } }, "Clear"));
  return bar;
}

async function bulk(change) {
  let result;
  try {
    result = await api("/v1/faces/batch", { method: "POST", body: { face_ids: [...selected], change } });
  } catch (err) {
    showError(err);
    return;
  }
  if (result.skipped.length) toast(`${plural(result.skipped.length, "face")} left as they were`);
  await reload();
  if (result.action) showUndo(result.action, () => reload());
}

// Move the selected faces to someone else: a split (the other person is made if the name is new).
async function split(name) {
  let result;
  try {
    result = await api(`${personUrl()}/split`, { method: "POST", body: { face_ids: [...selected], name } });
  } catch (err) {
    showError(err);
    return;
  }
  await reload();
  showUndo(result.action, () => reload());
}

async function loadFaces() {
  const page = await facesPages.load(facesPage);
  facesPage = page.page;
  if (!page.items.length && facesPage > 0) { // the last page emptied (faces moved away): the one before
    facesPage -= 1;
    return loadFaces();
  }
  return page;
}

let facesMore = false;
function drawFaces() {
  const section = document.getElementById("faces-section");
  if (!section) return;
  clear(section,
    h("div", { class: "section-head" }, h("h2", {}, "Faces"),
      h("span", { class: "muted small" }, editor ? "Dashed ones are the model's guesses. Select faces to correct them together." : "")),
    bulkBar(),
    faces.length
      ? h("div", { class: "chips-grid", id: "faces" }, faces.map(faceTile))
      : h("p", { class: "muted", id: "no-faces" }, "No faces are named as this person."),
    pager("faces", facesPage, facesMore, async (page) => {
      facesPage = page;
      selected.clear();
      lastClicked = null;
      try {
        ({ items: faces, more: facesMore } = await loadFaces());
      } catch (err) {
        showError(err);
      }
      drawFaces();
    }));
}

// ---- photos -----------------------------------------------------------------------------------------

function pager(what, page, more, go) {
  if (!page && !more) return null;
  return h("nav", { class: "pager", "aria-label": `Pages of ${what}` },
    h("button", { type: "button", id: `${what}-prev`, disabled: page <= 0, onclick: () => go(page - 1) }, icon("back"), "Previous"),
    h("span", { class: "muted" }, `Page ${page + 1}`),
    h("button", { type: "button", id: `${what}-next`, disabled: !more, onclick: () => go(page + 1) }, "Next", icon("next")));
}

async function drawPhotos() {
  const section = document.getElementById("photos-section");
  if (!section) return;
  let page;
  try {
    page = await photosPages.load(photosPage);
  } catch (err) {
    showError(err);
    return;
  }
  photosPage = page.page;
  clear(section,
    h("div", { class: "section-head" }, h("h2", {}, "Photos"),
      h("a", { class: "button", href: `/?person=${encodeURIComponent(person.name)}` }, icon("search"), "In the gallery")),
    page.items.length
      ? h("div", { class: "grid", id: "photos" }, page.items.map((image) =>
        h("article", { class: "card", "data-image-id": image.id },
          h("a", { class: "thumb", href: `/photo.html?id=${encodeURIComponent(image.id)}`, title: image.filename || "Photo" },
            imgOr(image.thumbnail_url, image.filename || "photo", h("div", { class: "placeholder" }, icon("image")))))))
      : h("p", { class: "muted" }, "No photos yet."),
    pager("photos", photosPage, page.more, (n) => { photosPage = n; drawPhotos(); }));
}

// ---- the page ---------------------------------------------------------------------------------------

let renderSeq = 0; // a newer render (after another change) wins over one still loading
async function render(deletedName = null) {
  const seq = ++renderSeq;
  if (!person) {
    document.title = "Person · Facetag";
    clear(app, h("div", { class: "empty", id: "person-missing" }, icon("people"),
      h("h2", {}, deletedName ? `${deletedName} was deleted` : "Nobody here"),
      h("p", {}, deletedName ? "Their faces are unknown now." : "This person does not exist (any more)."),
      h("a", { class: "button", href: "/people.html" }, icon("people"), "Everyone")));
    return;
  }
  document.title = `${person.name} · Facetag`;
  const fallback = h("span", { class: "avatar-initials", style: { background: avatarColour(person.name) } }, initials(person.name));
  clear(app,
    h("p", { class: "small flush-top" }, h("a", { href: "/people.html" }, "← People")),
    h("div", { class: "person-head", "data-person-id": person.id },
      h("div", { class: "avatar person-avatar" }, imgOr(person.cover_chip_url, "", fallback)),
      h("div", { class: "grow" },
        nameBlock(),
        h("div", { class: "muted", id: "person-counts" },
          `${plural(person.image_count, "photo")} · ${plural(person.face_count, "face")}`))),
    settings(),
    h("section", { id: "faces-section", "aria-label": "Faces" }),
    h("section", { id: "photos-section", "aria-label": "Photos" }));
  try {
    const loaded = await loadFaces();
    if (seq !== renderSeq) return;
    ({ items: faces, more: facesMore } = loaded);
  } catch (err) {
    if (seq !== renderSeq) return;
    faces = [];
    showError(err);
  }
  drawFaces();
  await drawPhotos();
}

async function main() {
  const [me] = await Promise.all([mountHeader("people"), loadPerson()]);
  user = me;
  editor = hasRole(user, "editor");
  if (editor) peopleList("person-people", await loadPeople().catch(() => []));
  window.addEventListener("pagehide", hideUndo);
  await render();
}

main();
