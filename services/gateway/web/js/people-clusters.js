// "Who is this?" above the People page's list: faces nobody has named, grouped by likeness (GET /v1/clusters),
// largest group first. Each group shows sample faces and its size; typing a name (or accepting "Is this X?")
// names every face of it at once. Clicking a face pulls it out first (it stays unnamed). After naming, an
// Undo button puts it all back (one action on the server). Shown to editors and admins, who may name faces.
import { api, currentUser, h, hasRole, loadPeople, plural, showError, toast } from "./common.js";

const SHOWN = 6; // groups at first; "Show more" adds as many again
const SAMPLES = 12; // faces shown per group; "Show all" loads the rest
const CHIP = 64;
const section = h("section", {
  id: "clusters", "aria-labelledby": "clusters-title", hidden: true,
  style: { maxWidth: "1280px", margin: "0 auto", padding: "1.25rem max(1rem, env(safe-area-inset-left)) 0" },
});
const peopleList = h("datalist", { id: "cluster-people" });
let limit = SHOWN;
let pending = null; // the refresh under way, so bursts of changes ask once
const pulledOut = new Map(); // cluster id -> Set of face ids the user pulled out
const named = []; // what was named here, newest first: { action, text } for the Undo buttons

function peopleChanged() {
  // The People page's list below redraws itself on this (people.js).
  document.dispatchEvent(new CustomEvent("facetag:people-changed"));
}

function chip(cluster, face) {
  const out = pulledOut.get(cluster.id) ?? new Set();
  const isOut = out.has(face.face_id);
  const button = h("button", {
    type: "button", class: "cluster-face", "data-face-id": face.face_id, "aria-pressed": String(isOut),
    title: isOut ? "Pulled out: stays unnamed. Click to put it back." : "Not the same person? Click to pull it out.",
    "aria-label": isOut ? "Face pulled out; click to put it back" : "Face; click to pull it out",
    style: {
      padding: 0, width: `${CHIP}px`, height: `${CHIP}px`, minHeight: 0, borderRadius: "10px", overflow: "hidden",
      flex: "none", opacity: isOut ? ".3" : "1", outline: isOut ? "2px dashed var(--danger)" : "none",
      outlineOffset: "-2px",
    },
    onclick: () => {
      if (isOut) out.delete(face.face_id); else out.add(face.face_id);
      pulledOut.set(cluster.id, out);
      button.replaceWith(chip(cluster, face));
      cluster.row.querySelector(".cluster-count").textContent = countText(cluster);
    },
  }, h("img", { src: face.chip_url, alt: "", loading: "lazy", width: CHIP, height: CHIP,
    style: { width: "100%", height: "100%", objectFit: "cover" } }));
  return button;
}

function countText(cluster) {
  const out = pulledOut.get(cluster.id)?.size ?? 0;
  return out ? `${plural(cluster.size, "face")}, ${out} pulled out` : plural(cluster.size, "face");
}

async function name(cluster, body, form) {
  form.querySelectorAll("button, input").forEach((el) => { el.disabled = true; });
  let result;
  try {
    result = await api(`/v1/clusters/${encodeURIComponent(cluster.id)}/name`, {
      method: "POST", body: { ...body, exclude_face_ids: [...(pulledOut.get(cluster.id) ?? [])] },
    });
  } catch (err) {
    form.querySelectorAll("button, input").forEach((el) => { el.disabled = false; });
    showError(err);
    refreshSoon(); // it may have changed under us: show it as it is now
    return;
  }
  pulledOut.delete(cluster.id);
  const text = `Named ${plural(result.named, "face")} ${result.name}`;
  named.unshift({ action: result.action, text });
  toast(text);
  peopleChanged();
  await refresh();
}

async function undo(entry, button) {
  button.disabled = true;
  try {
    await api(entry.action.undo_url, { method: "POST" });
  } catch (err) {
    button.disabled = false;
    showError(err);
    return;
  }
  named.splice(named.indexOf(entry), 1);
  toast(`Undone: ${entry.text}`);
  peopleChanged();
  await refresh();
}

async function showAll(cluster, faces) {
  try {
    const page = await api(cluster.faces_url, { params: { limit: 500 } });
    faces.replaceChildren(...page.items.map((face) => chip(cluster, face)));
  } catch (err) {
    showError(err);
  }
}

function row(cluster) {
  const input = h("input", {
    type: "text", maxlength: "100", list: "cluster-people", placeholder: "Who is this?", class: "cluster-name",
    "aria-label": `Who is this? (${plural(cluster.size, "face")})`, style: { minWidth: "10rem", flex: "0 1 22rem" },
  });
  const form = h("form", {
    class: "cluster-form", style: { display: "flex", gap: ".5rem", flexWrap: "wrap", alignItems: "center" },
    onsubmit: (event) => {
      event.preventDefault();
      const typed = input.value.trim();
      if (typed) name(cluster, { name: typed }, form);
      else input.focus();
    },
  });
  const { suggestion } = cluster;
  if (suggestion) {
    form.append(h("button", {
      type: "button", class: "primary cluster-yes", title: `Name these faces ${suggestion.name}`,
      onclick: () => name(cluster, { person_id: suggestion.person_id }, form),
    }, `Is this ${suggestion.name}? Yes`));
  }
  form.append(input, h("button", { type: "submit", class: suggestion ? "" : "primary" }, "Name"));
  const faces = h("div", { class: "cluster-faces", style: { display: "flex", gap: ".4rem", flexWrap: "wrap" } },
    cluster.samples.map((face) => chip(cluster, face)));
  const more = cluster.size > cluster.samples.length
    ? h("button", {
      type: "button", class: "ghost cluster-all", onclick: (event) => { event.currentTarget.remove(); showAll(cluster, faces); },
    }, `Show all ${cluster.size}`)
    : null;
  cluster.row = h("div", {
    class: "cluster", "data-cluster-id": cluster.id,
    style: {
      display: "flex", flexDirection: "column", gap: ".6rem", padding: ".8rem", border: "1px solid var(--border)",
      borderRadius: "var(--radius)", background: "var(--surface)",
    },
  },
  h("div", { style: { display: "flex", gap: ".5rem", alignItems: "baseline" } },
    h("strong", { class: "cluster-count" }, countText(cluster)), more),
  faces, form);
  return cluster.row;
}

function undoRow(entry) {
  const button = h("button", { type: "button", class: "cluster-undo", onclick: () => undo(entry, button) }, "Undo");
  return h("div", { class: "banner ok cluster-named", style: { margin: 0 } },
    h("span", { style: { flex: "1" } }, entry.text), button);
}

function draw(list) {
  const rows = list.items.map(row);
  const undos = named.slice(0, 3).map(undoRow);
  section.replaceChildren(...[
    h("div", { style: { display: "flex", alignItems: "baseline", gap: ".75rem", flexWrap: "wrap" } },
      h("h2", { id: "clusters-title", style: { margin: 0 } }, "Who is this?"),
      h("span", { class: "muted small" }, list.total
        ? `${plural(list.clustered_faces, "unnamed face")} in ${plural(list.total, "group")} of look-alikes, largest first. `
          + "Name a group to name all its faces; click a face that is someone else to pull it out first."
        : "")),
    list.stale ? h("p", { class: "muted small", role: "status" }, "New photos are being grouped; this list may change.") : null,
    ...undos,
    h("div", { class: "clusters", style: { display: "flex", flexDirection: "column", gap: ".75rem", marginTop: ".75rem" } },
      rows),
    list.total > list.items.length
      ? h("button", {
        type: "button", class: "cluster-more", style: { marginTop: ".75rem" },
        onclick: () => { limit += SHOWN; refresh(); },
      }, `Show more (${list.total - list.items.length} more)`)
      : null,
    peopleList,
  ].filter(Boolean)); // DOM's replaceChildren writes null as text
  section.hidden = !list.total && !named.length;
}

async function refresh() {
  let list;
  let people;
  try {
    [list, people] = await Promise.all([
      api("/v1/clusters", { params: { limit, samples: SAMPLES } }),
      loadPeople(),
    ]);
  } catch (err) {
    showError(err);
    return;
  }
  peopleList.replaceChildren(...people.map((p) => h("option", { value: p.name })));
  draw(list);
}

function refreshSoon() {
  if (!pending) pending = refresh().finally(() => { pending = null; });
}

async function main() {
  const user = await currentUser().catch(() => null);
  if (!hasRole(user, "editor")) return; // viewers cannot name faces: nothing to ask them
  const app = document.getElementById("app");
  app.before(section);
  // The People page draws its list again after every rename, merge or delete: faces may have become unnamed.
  new MutationObserver(refreshSoon).observe(app, { childList: true });
  refreshSoon();
}

main();
