// The "Undo" bar after a correction (merge, split, delete, not X, a bulk change): the action's summary and an
// Undo button, across the bottom of the page for UNDO_MS. One bar at a time; a newer action replaces it.
// Undoing POSTs the action's undo_url (the server puts the faces and people back as they were).
import { api, h, plural, showError, toast } from "./common.js";

const UNDO_MS = 15_000;
let hideTimer = null;

export function hideUndo() {
  clearTimeout(hideTimer);
  document.getElementById("undo-bar")?.remove();
}

// What the server said it did on undo, in words: faces changed by someone since are left as they are.
export function undoneText(action, result) {
  const left = result?.faces_left ? ` (${plural(result.faces_left, "face")} changed since left as they are)` : "";
  return `Undone: ${action.summary}${left}`;
}

// Show ``action`` ({summary, undo_url}) with an Undo button; ``onUndone(result)`` runs after a successful undo.
export function showUndo(action, onUndone = null) {
  hideUndo();
  if (!action?.undo_url) return null;
  const button = h("button", { type: "button", class: "primary", id: "undo-button" }, "Undo");
  const bar = h("div", { class: "undo-bar", id: "undo-bar", role: "status", "aria-live": "polite" },
    h("span", { class: "undo-text" }, action.summary), button,
    h("button", { type: "button", class: "ghost icon-btn", "aria-label": "Dismiss", onclick: hideUndo }, "×"));
  button.addEventListener("click", async () => {
    button.disabled = true;
    let result;
    try {
      result = await api(action.undo_url, { method: "POST" });
    } catch (err) {
      button.disabled = false;
      showError(err);
      return;
    }
    hideUndo();
    toast(undoneText(action, result));
    if (onUndone) await onUndone(result);
  });
  document.body.append(bar);
  hideTimer = setTimeout(hideUndo, UNDO_MS);
  return bar;
}
