// People who may be one person entered twice (similar names or faces, GET /v1/people/duplicates), above the
// People page's list: "Ben Afflek and Ben Affleck may be the same person — Merge / Not the same". Merge is one
// click (the one with fewer faces goes into the other); "Not the same" is remembered by the server, so the pair
// is never offered again. Shown to editors and admins, who may act on it.
import { api, avatarColour, currentUser, h, hasRole, imgOr, initials, plural, showError, toast } from "./common.js";

const box = h("aside", {
  id: "duplicates", class: "duplicates", "aria-label": "People who may be the same person", hidden: true,
  style: { maxWidth: "1280px", margin: "0 auto", padding: "1.25rem max(1rem, env(safe-area-inset-left)) 0" },
});
let pending = null; // the refresh under way, so bursts of changes ask once

function face(person) {
  const fallback = h("span", {
    style: { background: avatarColour(person.name), width: "100%", height: "100%", display: "grid", placeItems: "center" },
  }, initials(person.name));
  return h("span", { class: "avatar", style: { width: "40px", height: "40px", flex: "none" } },
    imgOr(person.cover_chip_url, person.name, fallback));
}

function why(pair) {
  const text = pair.reasons.map((reason) => (reason.kind === "name"
    ? `names ${Math.round(reason.score)}% alike`
    : "their named faces look alike")).join(", and ");
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function whatMergeDoes(pair) {
  const { merge, into } = pair;
  return merge.face_count
    ? `Merging moves ${plural(merge.face_count, "face")} of ${merge.name} to ${into.name} and removes ${merge.name}.`
    : `Nobody's face is named ${merge.name} yet: merging just removes ${merge.name}.`;
}

// Sends one answer about a pair with its row's buttons off; the row goes once the server took it.
async function answer(row, send) {
  row.querySelectorAll("button").forEach((button) => { button.disabled = true; });
  try {
    await send();
  } catch (err) {
    row.querySelectorAll("button").forEach((button) => { button.disabled = false; });
    showError(err);
    return false;
  }
  row.remove();
  box.hidden = !box.querySelector(".duplicate");
  return true;
}

async function merge(pair, row) {
  const into = { method: "POST", body: { into: pair.into.id } };
  if (!await answer(row, () => api(`/v1/people/${encodeURIComponent(pair.merge.id)}/merge`, into))) return;
  toast(`${pair.merge.name} merged into ${pair.into.name}`);
  // The list below is the People page's (people.js): it loads it afresh, and drawing it makes us ask again.
  document.dispatchEvent(new CustomEvent("facetag:people-changed"));
}

async function notSame(pair, row) {
  const body = { method: "POST", body: { first_id: pair.merge.id, second_id: pair.into.id } };
  if (!await answer(row, () => api("/v1/people/duplicates/not-same", body))) return;
  toast(`${pair.merge.name} and ${pair.into.name} are kept apart; they will not be suggested again`);
}

function row(pair) {
  const el = h("div", {
    class: "banner warn duplicate", "data-merge-id": pair.merge.id, "data-into-id": pair.into.id,
    style: { flexWrap: "wrap" },
  },
  face(pair.merge), face(pair.into),
  h("div", { style: { flex: "1", minWidth: "14rem" } },
    h("strong", { class: "duplicate-message" }, `${pair.merge.name} and ${pair.into.name} may be the same person`),
    h("div", { class: "small" }, `${why(pair)}. ${whatMergeDoes(pair)}`)),
  h("button", {
    type: "button", class: "primary duplicate-merge", title: `Merge ${pair.merge.name} into ${pair.into.name}`,
    onclick: () => merge(pair, el),
  }, "Merge"),
  h("button", {
    type: "button", class: "duplicate-not-same", title: `${pair.merge.name} and ${pair.into.name} are different people`,
    onclick: () => notSame(pair, el),
  }, "Not the same"));
  return el;
}

async function refresh() {
  let pairs;
  try {
    pairs = await api("/v1/people/duplicates");
  } catch (err) {
    showError(err);
    return;
  }
  box.replaceChildren(...pairs.map(row));
  box.hidden = !pairs.length;
}

function refreshSoon() {
  if (!pending) pending = refresh().finally(() => { pending = null; });
}

async function main() {
  const user = await currentUser().catch(() => null);
  if (!hasRole(user, "editor")) return; // viewers cannot merge: nothing to offer them
  const app = document.getElementById("app");
  app.before(box);
  // The People page draws its list (again after every rename, merge or delete): ask then, as the pairs may
  // have changed too; and now, if it has drawn it already.
  new MutationObserver(refreshSoon).observe(app, { childList: true });
  if (app.childElementCount) refreshSoon();
}

main();
