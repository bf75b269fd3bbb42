// People: everyone with a face, their counts; add, rename, merge, delete; see and fix their faces.
// Editors and admins can keep someone from ever being tagged automatically; admins can export all that is
// kept about a person, or erase them. The server decides who may do what; a refusal shows its message.
import {
  api, ApiError, ask, avatarColour, clear, faceLabel, h, hasRole, icon, imgOr, initials, loadPeople, mountHeader, plural,
  showError, toast,
} from "./common.js";
import { chooseMergeTarget } from "./merge-dialog.js";

const FACES_PAGE = 60;
const app = document.getElementById("app");
let user = null; // who is signed in (GET /v1/auth/me)
let people = [];
let filter = "";
let renaming = null; // id of the person whose name is being edited
let showHidden = false; // people hidden from the list (on their own page) are shown too

const listPeople = () => loadPeople(showHidden ? { hidden: true } : {});

async function reload() {
  try {
    people = await listPeople();
  } catch (err) {
    showError(err);
  }
  render();
}

function avatar(person, size = 64) {
  const fallback = h("span", { style: { background: avatarColour(person.name), width: "100%", height: "100%", display: "grid", placeItems: "center" } },
    initials(person.name));
  return h("button", {
    type: "button", class: "avatar", style: { width: `${size}px`, height: `${size}px` },
    title: `See ${person.name}'s faces`, "aria-label": `See ${person.name}'s faces`,
    onclick: () => showFaces(person),
  }, imgOr(person.cover_chip_url, "", fallback));
}

function photosHref(person) {
  return `/?person=${encodeURIComponent(person.name)}`;
}

async function rename(person, name) {
  try {
    await api(`/v1/people/${encodeURIComponent(person.id)}`, { method: "PATCH", body: { name } });
    renaming = null;
    toast(`Renamed to ${name}`);
    await reload();
  } catch (err) {
    if (err instanceof ApiError && err.status === 409) {
      const other = people.find((p) => p.name.toLowerCase() === name.trim().toLowerCase());
      if (other) {
        const ok = await ask({
          title: `${other.name} already exists`,
          text: `Are ${person.name} and ${other.name} the same person? Merging moves all of ${person.name}'s faces to ${other.name}.`,
          ok: `Merge into ${other.name}`,
        });
        if (ok) await merge(person, other);
        return;
      }
    }
    showError(err);
  }
}

async function merge(source, target) {
  try {
    await api(`/v1/people/${encodeURIComponent(source.id)}/merge`, { method: "POST", body: { into: target.id } });
    renaming = null;
    toast(`${source.name} merged into ${target.name}`);
    await reload();
  } catch (err) {
    showError(err);
  }
}

async function askMerge(person) {
  const others = people.filter((p) => p.id !== person.id);
  const target = await chooseMergeTarget(person, others, "Use this when one person was entered twice.");
  if (target) await merge(person, target);
}

async function remove(person) {
  const ok = await ask({
    title: `Delete ${person.name}?`,
    text: person.face_count
      ? `Their ${plural(person.face_count, "face")} become unknown. The ${plural(person.image_count, "photo")} stay.`
      : "Nobody's face is named this; nothing else changes.",
    ok: "Delete person",
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/v1/people/${encodeURIComponent(person.id)}`, { method: "DELETE" });
    toast(`Deleted ${person.name}`);
    await reload();
  } catch (err) {
    showError(err);
  }
}

function renameForm(person) {
  const input = h("input", { type: "text", value: person.name, maxlength: "100", "aria-label": `New name for ${person.name}` });
  const form = h("form", {
    class: "rename",
    onsubmit: (event) => {
      event.preventDefault();
      const name = input.value.trim();
      if (!name || name === person.name) {
        renaming = null;
        render();
        return;
      }
      rename(person, name);
    },
  }, input, h("button", { type: "submit", class: "primary" }, "Save"),
  h("button", { type: "button", class: "ghost icon-btn", "aria-label": "Cancel", onclick: () => { renaming = null; render(); } }, icon("x")));
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      renaming = null;
      render();
    }
  });
  queueMicrotask(() => {
    input.focus();
    input.select();
  });
  return form;
}

async function setNeverTag(person, on, box) {
  try {
    await api(`/v1/people/${encodeURIComponent(person.id)}`, { method: "PATCH", body: { never_tag: on } });
    person.never_tag = on;
    toast(on ? `${person.name} will never be tagged automatically` : `The model may tag ${person.name} again`);
    await reload();
  } catch (err) {
    box.checked = !on;
    showError(err);
  }
}

function neverTagToggle(person) {
  const id = `never-tag-${person.id}`;
  const box = h("input", { type: "checkbox", id, checked: Boolean(person.never_tag) });
  box.addEventListener("change", () => setNeverTag(person, box.checked, box));
  return h("label", {
    class: "check never-tag", for: id,
    title: "The model never names this person on its own; only people do. Faces it named before become unknown.",
  }, box, h("span", {}, "Never tag automatically"));
}

function exportDialog(person) {
  const href = `/v1/people/${encodeURIComponent(person.id)}/export`;
  const dialog = h("dialog", { "aria-labelledby": "export-title" });
  const close = () => dialog.close();
  dialog.append(
    h("div", { class: "dlg-head" }, h("h2", { id: "export-title" }, `Export ${person.name}`)),
    h("div", { class: "dlg-body" },
      h("p", { class: "flush" },
        `A zip of everything Facetag keeps about ${person.name}: their name, each face named as them with its `
        + "photo and where on it, and their face chips. Use it to answer someone who asks what is stored about them."),
      h("p", { class: "muted small" }, "The download is recorded in the audit log.")),
    h("div", { class: "dlg-foot" },
      h("button", { type: "button", onclick: close }, "Cancel"),
      h("a", { class: "button primary", id: "export-download", href, download: "", onclick: () => setTimeout(close, 0) },
        icon("download"), "Download zip")),
  );
  dialog.addEventListener("close", () => dialog.remove());
  document.body.append(dialog);
  dialog.showModal();
}

function listOrNone(items) {
  if (!Array.isArray(items) || !items.length) return "none";
  return items.map((item) => (typeof item === "string" ? item : JSON.stringify(item))).join(", ");
}

async function erase(person) {
  const typed = h("input", {
    type: "text", id: "erase-confirm", autocomplete: "off", spellcheck: "false", "aria-describedby": "erase-what",
  });
  const ok = await ask({
    title: `Erase ${person.name}?`,
    danger: true,
    ok: "Erase for good",
    body: h("div", { class: "stack" },
      h("div", { class: "banner error flush", id: "erase-what" },
        h("div", {},
          h("strong", {}, "This cannot be undone. "),
          `Every face named ${person.name} is removed with its face chip, ${person.name} is taken out of every `
          + "training set, and every model that learned them is withdrawn; a new model is then trained without them. "
          + "The photos stay, without these faces.")),
      h("label", { class: "field", for: "erase-confirm" }, `Type ${person.name} to confirm`),
      typed),
    ready: () => typed.value.trim() === person.name,
  });
  if (!ok) return;
  let report;
  try {
    report = await api(`/v1/people/${encodeURIComponent(person.id)}/erase`, { method: "POST" });
  } catch (err) {
    showError(err);
    return;
  }
  await reload();
  const leftovers = Array.isArray(report.leftovers) ? report.leftovers : [];
  await ask({
    title: `${report.name || person.name} is erased`,
    cancel: null,
    ok: "Done",
    body: h("div", { class: "stack", id: "erase-report" },
      h("dl", { class: "facts" },
        h("dt", {}, "Faces removed"), h("dd", {}, String(report.faces_removed ?? 0)),
        h("dt", {}, "Face chips removed"), h("dd", {}, String(report.chips_removed ?? 0)),
        h("dt", {}, "Photos affected"), h("dd", {}, String(report.images_affected ?? 0)),
        h("dt", {}, "Training sets rewritten"), h("dd", {}, listOrNone(report.datasets_rewritten)),
        h("dt", {}, "Models withdrawn"), h("dd", {}, listOrNone(report.models_withdrawn))),
      report.retrain_job_id
        ? h("p", { class: "flush" }, "A new model is being trained without them. ",
          h("a", { href: "/model.html" }, "Follow it on the Model page"), ".")
        : null,
      leftovers.length
        ? h("div", { class: "banner warn flush", id: "erase-leftovers" },
          h("div", {}, h("strong", {}, "Some traces could not be removed yet: "), listOrNone(leftovers)))
        : h("p", { class: "muted small flush" }, "Nothing of them is left."),
    ),
  });
}

function personOptions(person) {
  const editor = hasRole(user, "editor");
  const admin = hasRole(user, "admin");
  if (!editor && !person.never_tag) return null;
  return h("div", { class: "person-options" },
    editor ? neverTagToggle(person) : h("span", { class: "chip unknown", title: "The model never names this person on its own" },
      "Never tagged automatically"),
    admin ? h("button", { type: "button", onclick: () => exportDialog(person), "aria-label": `Export ${person.name}`, title: `Download everything kept about ${person.name}` },
      icon("download"), "Export…") : null,
    admin ? h("button", { type: "button", class: "danger", onclick: () => erase(person), "aria-label": `Erase ${person.name}`, title: `Erase ${person.name} everywhere` },
      icon("eraser"), "Erase…") : null,
  );
}

function personCard(person) {
  const editing = renaming === person.id;
  return h("article", { class: "person", "data-person-id": person.id },
    h("div", { class: "top" },
      avatar(person),
      h("div", { style: { minWidth: "0", flex: "1" } },
        editing ? renameForm(person) : h("div", { class: "name", title: person.name },
          // their own page (person.js, issue 12 item 6)
          h("a", { class: "person-link", href: `/person.html?id=${encodeURIComponent(person.id)}` }, person.name)),
        h("div", { class: "stats" }, `${plural(person.image_count, "photo")} · ${plural(person.face_count, "face")}`),
      ),
    ),
    h("div", { class: "actions" },
      h("a", { class: "button", href: photosHref(person), title: `Photos of ${person.name}` }, "Photos"),
      h("button", { type: "button", onclick: () => { renaming = person.id; render(); } }, "Rename"),
      h("button", { type: "button", onclick: () => askMerge(person) }, "Merge…"),
      h("button", {
        type: "button", class: "danger icon-btn", onclick: () => remove(person), "aria-label": `Delete ${person.name}`,
        title: `Delete ${person.name}`,
      }, icon("trash")),
    ),
    personOptions(person),
  );
}

async function showFaces(person) {
  const grid = h("div", { class: "chips-grid" });
  const more = h("button", { type: "button", hidden: true }, "Show more");
  const dialog = h("dialog", { class: "wide", "aria-label": `Faces of ${person.name}` },
    h("div", { class: "dlg-head" },
      h("h2", {}, `${person.name}`),
      h("a", { class: "button", href: photosHref(person) }, icon("photos"), "Photos"),
      h("button", { type: "button", class: "ghost icon-btn", "aria-label": "Close", onclick: () => dialog.close() }, icon("x")),
    ),
    h("div", { class: "dlg-body" },
      h("p", { class: "muted small", style: { marginTop: 0 } },
        "Every face named as this person. Dashed ones are the model's guesses: confirm them, or say it is not them."),
      grid,
      h("div", { style: { textAlign: "center", marginTop: "1rem" } }, more)),
  );
  dialog.addEventListener("close", () => {
    dialog.remove();
    reload();
  });
  document.body.append(dialog);
  dialog.showModal();
  let cursor = null; // where the next "more" starts: faces named or moved away meanwhile shift nothing
  let shown = 0;
  const tile = (face) => {
    const label = faceLabel(face);
    const guess = label.kind === "guess";
    const status = guess
      ? h("span", { class: "chip guess", title: label.title }, "Guess", label.pct !== null ? h("span", { class: "pct" }, `${label.pct}%`) : null)
      : h("span", { class: "chip confirmed", title: label.title }, "Confirmed");
    const el = h("div", { class: "face-tile", "data-face-id": face.id },
      h("a", { href: `/photo.html?id=${encodeURIComponent(face.image_id)}`, title: "Open the photo" },
        imgOr(face.chip_url, person.name, h("div", { class: "noface" }, "…"))),
      h("div", { class: "meta" },
        status,
        h("div", { class: "row" },
          guess ? h("button", {
            type: "button", class: "confirm", title: `Yes, this is ${person.name}`, "aria-label": "Confirm",
            onclick: () => act(face, { confirm: true }, el),
          }, icon("check"), "Yes") : null,
          h("button", {
            type: "button", title: `This is not ${person.name}: mark it unknown`,
            onclick: () => act(face, { unknown: true }, el),
          }, `Not ${Array.from(person.name.split(/\s+/)[0]).slice(0, 12).join("")}`),
        ),
      ),
    );
    return el;
  };
  const act = async (face, body, el) => {
    try {
      const updated = await api(`/v1/faces/${encodeURIComponent(face.id)}`, { method: "PATCH", body });
      if (updated.person?.id === person.id) el.replaceWith(tile(updated));
      else el.remove();
    } catch (err) {
      showError(err);
    }
  };
  const load = async () => {
    try {
      const page = await api(`/v1/people/${encodeURIComponent(person.id)}/faces`, { params: { cursor, limit: FACES_PAGE } });
      grid.append(...page.items.map(tile));
      shown += page.items.length;
      cursor = page.next_cursor;
      more.hidden = !cursor;
      if (!shown) grid.replaceWith(h("p", { class: "muted" }, "No faces are named as this person yet."));
    } catch (err) {
      showError(err);
    }
  };
  more.addEventListener("click", load);
  await load();
}

// Once faces have names, point to the Model page, where training turns them into recognition.
function teachHint() {
  if (!hasRole(user, "admin") || !people.some((p) => p.face_count > 0)) return null;
  return h("div", { class: "teach-hint", id: "teach-hint" },
    icon("model"),
    h("span", {}, "Named some faces? Teach the model, so it recognises these people in new photos."),
    h("a", { class: "button", href: "/model.html" }, "Teach the model"));
}

function render() {
  const nameInput = h("input", { type: "text", placeholder: "New person's name", maxlength: "100", "aria-label": "New person's name", id: "new-person" });
  const addForm = h("form", {
    class: "add-person",
    onsubmit: async (event) => {
      event.preventDefault();
      const name = nameInput.value.trim();
      if (!name) return;
      try {
        await api("/v1/people", { method: "POST", body: { name } });
        toast(`Added ${name}`);
        await reload();
      } catch (err) {
        showError(err);
      }
    },
  }, nameInput, h("button", { type: "submit", class: "primary" }, icon("plus"), "Add person"));
  const search = h("input", {
    type: "search", placeholder: "Find a person…", value: filter, "aria-label": "Find a person", id: "people-filter",
  });
  search.addEventListener("input", () => {
    filter = search.value;
    clear(app.querySelector("#people"), grid());
  });
  const grid = () => {
    const visible = filter ? people.filter((p) => p.name.toLowerCase().includes(filter.toLowerCase())) : people;
    return visible.length ? visible.map(personCard) : h("p", { class: "muted" }, `Nobody's name contains “${filter}”.`);
  };
  const focusFilter = document.activeElement?.id === "people-filter";
  clear(app,
    h("div", { class: "page-head" },
      h("h1", {}, "People"),
      h("span", { class: "muted" }, people.length ? plural(people.length, "person", "people") : ""),
      h("span", { class: "spacer" }),
      people.length > 6 ? search : null,
      hiddenToggle(),
      addForm,
    ),
    teachHint(),
    people.length
      ? h("section", { class: "people-grid", id: "people", "aria-label": "People" }, grid())
      : h("div", { class: "empty" }, icon("people"), h("h2", {}, "Nobody yet"),
        h("p", {}, "Open a photo and name a face (a new name becomes a person), or add someone above."),
        h("a", { class: "button", href: "/" }, icon("photos"), "Go to photos")),
  );
  if (focusFilter) app.querySelector("#people-filter")?.focus();
}

function hiddenToggle() {
  const box = h("input", { type: "checkbox", id: "people-show-hidden", checked: showHidden });
  box.addEventListener("change", () => {
    showHidden = box.checked;
    reload();
  });
  return h("label", { class: "muted", for: "people-show-hidden" }, box, " Show hidden people");
}

async function main() {
  // Who is signed in decides which controls the cards show: ask both at once, draw once.
  const [me, list] = await Promise.all([
    mountHeader("people"),
    listPeople().catch((err) => {
      showError(err);
      return [];
    }),
  ]);
  user = me;
  people = list;
  render();
}

// Who is this? (people-clusters.js) names faces, maybe new people: show the list as it is now.
document.addEventListener("facetag:people-changed", () => reload());

main();
