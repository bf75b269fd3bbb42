// Select mode in the gallery (issue 12, item 6): a "Select" button in the page head; while it is on, clicking a
// photo selects it instead of opening it, and a bar offers changes to the faces on the selected photos:
// "Confirm all guesses" and "Mark unknown" (faces a person named keep their names), one POST /v1/faces/batch
// each, with Undo. It works beside gallery.js without reaching into it: it watches the page gallery.js draws
// and asks it to draw again with a popstate event (what gallery.js answers by rendering the search again).
import { api, currentUser, h, hasRole, icon, plural, showError, toast } from "./common.js";
import { hideUndo, showUndo } from "./undo-bar.js";

const app = document.getElementById("app");
const selected = new Set(); // image ids
let selecting = false;
let bar = null;

function redrawGallery() {
  window.dispatchEvent(new PopStateEvent("popstate"));
}

function setSelecting(on) {
  selecting = on;
  if (!on) selected.clear();
  document.body.classList.toggle("selecting", on);
  decorate();
}

function toggleButton() {
  return h("button", {
    type: "button", class: "toggle", id: "select-photos",
    title: "Select photos to confirm or clear the names on them together",
    onclick: () => setSelecting(!selecting),
  });
}

// Keep what gallery.js draws in step with the selection: the button in the head, the marks on the cards.
function decorate() {
  const head = app.querySelector(".page-head");
  if (head) {
    let button = head.querySelector("#select-photos");
    if (!button) {
      button = toggleButton();
      head.querySelector(".spacer")?.after(button);
    }
    if (button.getAttribute("aria-pressed") !== String(selecting)) {
      button.setAttribute("aria-pressed", String(selecting));
      button.replaceChildren(icon("check"), selecting ? "Done selecting" : "Select");
    }
  }
  for (const card of app.querySelectorAll("#gallery .card")) {
    const on = selecting && selected.has(card.dataset.imageId);
    card.classList.toggle("selected", on);
    const thumb = card.querySelector("a.thumb");
    if (thumb) {
      if (selecting) thumb.setAttribute("aria-pressed", String(on));
      else thumb.removeAttribute("aria-pressed");
    }
  }
  drawBar();
}

function drawBar() {
  if (!selecting) {
    bar?.remove();
    bar = null;
    return;
  }
  const n = selected.size;
  const next = h("div", { class: "select-bar", id: "photo-select-bar", role: "region", "aria-label": "Selected photos" },
    h("span", { id: "photo-select-count" }, n ? `${plural(n, "photo")} selected` : "Click photos to select them"),
    h("button", { type: "button", class: "confirm", id: "confirm-guesses", disabled: !n, onclick: () => change("confirm") },
      icon("check"), "Confirm all guesses"),
    h("button", { type: "button", id: "mark-unknown", disabled: !n, onclick: () => change("unknown"),
      title: "Faces nobody named, and the model's guesses, become unknown; names a person gave stay" }, "Mark unknown"),
    h("button", { type: "button", class: "ghost", onclick: () => setSelecting(false) }, icon("x"), "Cancel"));
  if (bar) bar.replaceWith(next);
  else document.body.append(next);
  bar = next;
}

// The faces the change is for: guesses to confirm, or every face no person named to mark unknown.
async function facesFor(change) {
  const images = await Promise.all([...selected].map((id) => api(`/v1/images/${encodeURIComponent(id)}`)));
  const faces = images.flatMap((image) => image.faces);
  return faces.filter((face) => face.label_source !== "person"
    && (change === "unknown" || (face.label_source === "model" && face.person))).map((face) => face.id);
}

async function change(kind) {
  let result;
  try {
    const ids = await facesFor(kind);
    if (!ids.length) {
      toast(kind === "confirm" ? "No guesses on these photos to confirm" : "Every face on these photos has a name a person gave");
      return;
    }
    result = await api("/v1/faces/batch", { method: "POST", body: { face_ids: ids, change: kind } });
  } catch (err) {
    showError(err);
    return;
  }
  setSelecting(false);
  redrawGallery();
  if (result.action) showUndo(result.action, redrawGallery);
}

async function main() {
  const user = await currentUser().catch(() => null);
  if (!hasRole(user, "editor")) return; // only editors change faces
  // While selecting, a click on a photo selects it instead of opening it.
  app.addEventListener("click", (event) => {
    if (!selecting) return;
    const thumb = event.target.closest?.("#gallery .card a.thumb");
    if (!thumb) return;
    event.preventDefault();
    const id = thumb.closest(".card").dataset.imageId;
    if (selected.has(id)) selected.delete(id); else selected.add(id);
    decorate();
  }, true);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selecting && !document.querySelector("dialog[open]")) setSelecting(false);
  });
  window.addEventListener("pagehide", hideUndo);
  // gallery.js draws the page again on every search, page and refresh: mark it again each time.
  new MutationObserver((records) => {
    if (records.some((r) => [...r.addedNodes].some((n) => n.nodeType === 1 && !n.closest?.("#select-photos")))) decorate();
  }).observe(app, { childList: true, subtree: true });
  decorate();
}

main();
