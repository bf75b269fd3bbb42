// Shared pieces of the Facetag web UI: DOM building, the API client, the header, toasts, dialogs,
// and how a face's label is shown. No framework and nothing fetched from elsewhere.

const SVG_NS = "http://www.w3.org/2000/svg";

// Stroke icons on a 24x24 grid.
const ICONS = {
  logo: "M4 8V6a2 2 0 0 1 2-2h2M16 4h2a2 2 0 0 1 2 2v2M20 16v2a2 2 0 0 1-2 2h-2M8 20H6a2 2 0 0 1-2-2v-2M9 10h.01M15 10h.01M9.5 15a3.5 3.5 0 0 0 5 0",
  photos: "M4 5h16v14H4zM4 15l4-4 4 4 3-3 5 5M15.5 9.5h.01",
  people: "M9 11a3.5 3.5 0 1 0 0-7 3.5 3.5 0 0 0 0 7zM2.5 20a6.5 6.5 0 0 1 13 0M16 4.5a3.5 3.5 0 0 1 0 6.5M18.5 14.5A6.5 6.5 0 0 1 21.5 20",
  upload: "M12 16V4M7 9l5-5 5 5M4 16v3a1 1 0 0 0 1 1h14a1 1 0 0 0 1-1v-3",
  search: "M11 18a7 7 0 1 0 0-14 7 7 0 0 0 0 14zM20 20l-4-4",
  check: "M5 12.5l4.5 4.5L19 7.5",
  x: "M6 6l12 12M18 6L6 18",
  trash: "M4 7h16M10 11v6M14 11v6M6 7l1 12a1 1 0 0 0 1 1h8a1 1 0 0 0 1-1l1-12M9 7V4h6v3",
  pencil: "M4 20h4L19 9l-4-4L4 16v4zM13.5 6.5l4 4",
  merge: "M6 4v5a4 4 0 0 0 4 4h8M14 9l4 4-4 4M6 20v-3",
  plus: "M12 5v14M5 12h14",
  box: "M4 8V5a1 1 0 0 1 1-1h3M16 4h3a1 1 0 0 1 1 1v3M20 16v3a1 1 0 0 1-1 1h-3M8 20H5a1 1 0 0 1-1-1v-3M9 9h6v6H9z",
  question: "M12 21a9 9 0 1 0 0-18 9 9 0 0 0 0 18zM9.5 9a2.5 2.5 0 1 1 3.5 2.3c-.6.3-1 .9-1 1.6V14M12 17.5h.01",
  back: "M15 5l-7 7 7 7",
  next: "M9 5l7 7-7 7",
  image: "M4 5h16v14H4zM4 15l4-4 4 4 3-3 5 5",
  model: "M7 7h10v10H7zM10 10h4v4h-4zM10 3v4M14 3v4M10 17v4M14 17v4M3 10h4M3 14h4M17 10h4M17 14h4",
  key: "M8 20a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9zM11.2 12.3L20 3.5M16.5 7l2.5 2.5M14 9.5l2 2",
  refresh: "M20 11a8 8 0 0 0-14.9-3.5M4 4v4h4M4 13a8 8 0 0 0 14.9 3.5M20 20v-4h-4",
};

export function icon(name, label) {
  const svg = document.createElementNS(SVG_NS, "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("fill", "none");
  svg.setAttribute("stroke", "currentColor");
  svg.setAttribute("stroke-width", "2");
  svg.setAttribute("stroke-linecap", "round");
  svg.setAttribute("stroke-linejoin", "round");
  if (label) {
    svg.setAttribute("role", "img");
    svg.setAttribute("aria-label", label);
  } else {
    svg.setAttribute("aria-hidden", "true");
  }
  const path = document.createElementNS(SVG_NS, "path");
  path.setAttribute("d", ICONS[name] || "");
  svg.append(path);
  return svg;
}

// h("button", {class: "primary", onclick: fn}, "Save") -> element. Text children are always text,
// never parsed as HTML, so names with markup in them are shown as typed.
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "style" && typeof value === "object") Object.assign(el.style, value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

// JSON API call; throws ApiError with the service's own message. ``headers`` adds request headers.
export async function api(path, { method = "GET", body, params, headers } = {}) {
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      for (const v of [].concat(value)) if (v !== undefined && v !== null && v !== "") query.append(key, v);
    }
    const text = query.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const init = { method, headers: { Accept: "application/json", ...headers } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new ApiError(0, "offline", "Facetag did not answer. Is the service running?");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (!response.ok) {
    throw new ApiError(response.status, data?.error || "error", data?.message || `Request failed (${response.status}).`);
  }
  return data;
}

// Header with the places a user goes.
export function mountHeader(active) {
  const link = (href, name, text) =>
    h("a", { href, "aria-current": active === name ? "page" : null }, icon(name), h("span", {}, text));
  const header = h("header", { class: "topbar" },
    h("a", { class: "brand", href: "/" }, icon("logo"), h("span", {}, "Facetag")),
    h("nav", { class: "nav", "aria-label": "Main" },
      link("/", "photos", "Photos"),
      link("/people.html", "people", "People"),
      link("/upload.html", "upload", "Upload"),
      link("/model.html", "model", "Model"),
    ),
  );
  document.body.prepend(header);
}

let toastBox = null;
// A short message at the bottom; ``action`` adds a button (e.g. Undo) that runs once.
export function toast(message, kind = "info", ms = 3800, action = null) {
  if (!toastBox) {
    toastBox = h("div", { class: "toasts", role: "status", "aria-live": "polite" });
    document.body.append(toastBox);
  }
  const el = h("div", { class: `toast ${kind}` }, h("span", { style: { flex: "1" } }, message));
  if (action) {
    el.append(h("button", {
      type: "button", class: "toast-action",
      onclick: () => {
        el.remove();
        action.run();
      },
    }, action.label));
  }
  toastBox.append(el);
  setTimeout(() => el.remove(), action ? Math.max(ms, 7000) : ms);
}

export function showError(err) {
  toast(err instanceof Error ? err.message : String(err), "error", 6000);
}

// A modal question; resolves true when the user accepts.
export function ask({ title, text, ok = "OK", danger = false, body = null }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "ask-title" });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    dialog.append(
      h("div", { class: "dlg-head" }, h("h2", { id: "ask-title" }, title)),
      h("div", { class: "dlg-body" }, text ? h("p", { style: { margin: 0 } }, text) : null, body),
      h("div", { class: "dlg-foot" },
        h("button", { type: "button", onclick: () => done(false) }, "Cancel"),
        h("button", { type: "button", class: danger ? "danger solid" : "primary", onclick: () => done(true) }, ok),
      ),
    );
    dialog.addEventListener("cancel", (event) => {
      event.preventDefault();
      done(false);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

// How a face's label reads: a person's word, a model's guess (with how sure), or unknown.
export function faceLabel(face) {
  const name = face.person?.name;
  const pct = face.confidence === null || face.confidence === undefined ? null : Math.round(face.confidence * 100);
  if (face.label_source === "person") {
    return name
      ? { kind: "confirmed", text: name, title: `${name} (named by a person)` }
      : { kind: "unknown", text: "Unknown", title: "A person said this is nobody they know" };
  }
  if (face.label_source === "model" && name) {
    const sure = pct === null ? "" : `, ${pct}% sure`;
    return {
      kind: "guess", text: `${name}?`, name, pct,
      title: `The model (${face.model_version || "?"}) guesses ${name}${sure}. Confirm or correct it.`,
    };
  }
  if (!face.chip_url && face.origin === "manual") {
    return { kind: "unknown", text: "Who is this?", title: "Drawn by hand; being analysed", pending: true };
  }
  if (face.low_quality) {
    return {
      kind: "unknown", text: "Low quality", low: true,
      title: "Too small, blurred or turned away: the model never names it. You can still name it.",
    };
  }
  return { kind: "unknown", text: "Who is this?", title: "Nobody has named this face yet" };
}

export function labelChip(face, extra = {}, withPct = true) {
  const label = faceLabel(face);
  return h("span", { class: `chip ${label.kind}`, title: label.title, ...extra },
    h("span", {}, label.text),
    withPct && label.kind === "guess" && label.pct !== null ? h("span", { class: "pct" }, `${label.pct}%`) : null,
  );
}

export const STATUS_TEXT = {
  queued: "Waiting",
  detecting: "Finding faces",
  classifying: "Recognising",
  done: "Done",
  failed: "Failed",
};

export const UNFINISHED = new Set(["queued", "detecting", "classifying"]);

export async function loadPeople() {
  return api("/v1/people");
}

// A <datalist> of everyone's name, for name inputs to suggest from.
export function peopleList(id, people) {
  let list = document.getElementById(id);
  if (!list) {
    list = h("datalist", { id });
    document.body.append(list);
  }
  clear(list, people.map((p) => h("option", { value: p.name })));
  return list;
}

// A stable colour for someone's initials.
export function avatarColour(name) {
  let hash = 0;
  for (const ch of name) hash = (hash * 31 + ch.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 55% 45%)`;
}

export function initials(name) {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const letters = parts.length > 1 ? [parts[0], parts[parts.length - 1]] : parts;
  return letters.map((p) => Array.from(p)[0]).join("").toUpperCase() || "?";
}

export function formatDate(iso) {
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });
}

export function formatBytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function plural(n, one, many = `${one}s`) {
  return `${n} ${n === 1 ? one : many}`;
}

// An <img> that turns into a placeholder when the picture is missing (e.g. not made yet).
export function imgOr(src, alt, placeholder, attrs = {}) {
  if (!src) return placeholder;
  const img = h("img", { src, alt, loading: "lazy", decoding: "async", ...attrs });
  img.addEventListener("error", () => img.replaceWith(placeholder), { once: true });
  return img;
}

// ---- the gallery search, shared by the gallery and the photo page (previous/next) ----------------

export const PAGE_SIZE = 24;

export function readSearch(queryString) {
  const q = new URLSearchParams(queryString);
  return {
    people: q.getAll("person").filter((p) => p.trim()),
    unknown: q.get("unknown") === "1",
    from: q.get("from") || "",
    to: q.get("to") || "",
    page: Math.max(1, parseInt(q.get("page") || "1", 10) || 1),
  };
}

export function searchQuery(state, { withPage = false } = {}) {
  const q = new URLSearchParams();
  for (const p of state.people) q.append("person", p);
  if (state.unknown) q.set("unknown", "1");
  if (state.from) q.set("from", state.from);
  if (state.to) q.set("to", state.to);
  if (withPage && state.page > 1) q.set("page", String(state.page));
  return q.toString();
}

// A date field means the whole day where the user is.
function localDay(value, end) {
  if (!value) return undefined;
  const [y, m, d] = value.split("-").map(Number);
  return (end ? new Date(y, m - 1, d, 23, 59, 59, 999) : new Date(y, m - 1, d)).toISOString();
}

// GET /v1/images parameters for a search.
export function searchParams(state) {
  return {
    person: state.people,
    has_unknown: state.unknown ? "true" : undefined,
    uploaded_from: localDay(state.from, false),
    uploaded_to: localDay(state.to, true),
  };
}
