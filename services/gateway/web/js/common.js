// Shared pieces of the Facetag web UI: DOM building, the API client (session, CSRF, sign-in), the header
// with who is signed in, toasts, dialogs, and how a face's label is shown. No framework and nothing
// fetched from elsewhere; nothing inline either (the pages run under a strict Content-Security-Policy).

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
  user: "M12 12a4 4 0 1 0 0-8 4 4 0 0 0 0 8zM4.5 20.5a7.5 7.5 0 0 1 15 0",
  users: "M12 3l7.5 3v5.5c0 4.3-3.1 8.1-7.5 9.5-4.4-1.4-7.5-5.2-7.5-9.5V6L12 3zM12 11.5a2.3 2.3 0 1 0 0-4.6 2.3 2.3 0 0 0 0 4.6zM8.2 16.2a4 4 0 0 1 7.6 0",
  audit: "M9 3.5h6v3H9zM7.5 5H5v15.5h14V5h-2.5M8.5 11h7M8.5 14.5h7M8.5 18h4",
  logout: "M14 4h4.5a1 1 0 0 1 1 1v14a1 1 0 0 1-1 1H14M9.5 16.5L5 12l4.5-4.5M5 12h10.5",
  copy: "M9 9h11v11H9zM15 9V4H4v11h5",
  download: "M12 4v11M7 10.5l5 5 5-5M4.5 20h15",
  lock: "M6 11h12v9.5H6zM8.5 11V7.5a3.5 3.5 0 0 1 7 0V11",
  chevron: "M7 10l5 5 5-5",
  eraser: "M8.5 20H20M5.3 14.3l8.9-8.9a2 2 0 0 1 2.8 0l2.6 2.6a2 2 0 0 1 0 2.8L12.8 18.6 8.5 20 4.3 15.8z",
  review: "M4 6h10M4 12h7M4 18h6M14 15l2.5 2.5L21 12", // review queue (issue 12, item 2)
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
    this.signedOut = false; // true: the page is on its way to the sign-in page; nothing to show
  }
}

// The CSRF token the server set at sign-in: every request that changes something sends it back.
export function csrfToken() {
  for (const part of document.cookie.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "facetag_csrf") {
      try {
        return decodeURIComponent(rest.join("="));
      } catch (err) {
        return rest.join("=");
      }
    }
  }
  return "";
}

// Request headers for ``method``: the CSRF token on anything but GET and HEAD.
export function csrfHeaders(method = "GET") {
  const m = method.toUpperCase();
  if (m === "GET" || m === "HEAD") return {};
  const token = csrfToken();
  return token ? { "X-CSRF-Token": token } : {};
}

// The sign-in page, coming back to ``next`` (this page by default) afterwards.
export function signInHref(next = location.pathname + location.search) {
  return `/login.html?next=${encodeURIComponent(next)}`;
}

let leaving = false;
// The session is gone (expired, signed out elsewhere, password changed): off to the sign-in page, once.
export function goSignIn() {
  if (leaving) return;
  leaving = true;
  location.assign(signInHref());
}

// JSON API call; throws ApiError with the service's own message. ``headers`` adds request headers.
// A 401 sends the user to the sign-in page unless ``signIn`` is false (the sign-in page itself, or a
// call where 401 means something else).
export async function api(path, { method = "GET", body, params, headers, signIn = true } = {}) {
  let url = path;
  if (params) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(params)) {
      for (const v of [].concat(value)) if (v !== undefined && v !== null && v !== "") query.append(key, v);
    }
    const text = query.toString();
    if (text) url += (url.includes("?") ? "&" : "?") + text;
  }
  const init = {
    method, credentials: "same-origin", headers: { Accept: "application/json", ...csrfHeaders(method), ...headers },
  };
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
    const error = new ApiError(response.status, data?.error || "error", data?.message || `Request failed (${response.status}).`);
    if (response.status === 401 && signIn) {
      error.signedOut = true;
      goSignIn();
    }
    throw error;
  }
  return data;
}

// ---- who is signed in ------------------------------------------------------------------------------

export const ROLES = ["viewer", "editor", "admin"];
export const ROLE_TEXT = {
  viewer: "Viewer: sees photos, faces and people",
  editor: "Editor: also uploads photos, names faces, edits people",
  admin: "Admin: also manages models, users and the audit log",
};

// The role that decides what a page offers; an operator's admin key has no role, only the admin scope.
export function roleOf(user) {
  if (ROLES.includes(user?.role)) return user.role;
  const scopes = user?.scopes || [];
  if (scopes.includes("admin")) return "admin";
  if (scopes.includes("edit")) return "editor";
  return scopes.includes("read") ? "viewer" : null;
}

// At least ``role``? Roles are ordered viewer < editor < admin.
export function hasRole(user, role) {
  const own = roleOf(user);
  return own !== null && ROLES.indexOf(own) >= ROLES.indexOf(role);
}

let mePromise = null;
// GET /v1/auth/me, asked once per page.
export function currentUser() {
  if (!mePromise) mePromise = api("/v1/auth/me");
  return mePromise;
}

export async function signOut() {
  try {
    await api("/v1/auth/logout", { method: "POST", signIn: false });
  } catch (err) {
    if (err.status !== 401) {
      showError(err);
      return;
    }
  }
  leaving = true;
  location.assign("/login.html");
}

function userMenu(user, active) {
  const admin = hasRole(user, "admin");
  const role = roleOf(user) || "";
  const panel = h("div", { class: "menu", id: "user-menu", hidden: true },
    h("div", { class: "menu-who" },
      h("strong", {}, user.username || "?"),
      h("span", { class: "muted small" }, ROLE_TEXT[role] || role)),
    h("a", { href: "/account.html", "aria-current": active === "account" ? "page" : null }, icon("user"), "Account"),
    admin ? h("a", { href: "/users.html", class: "narrow-only", "aria-current": active === "users" ? "page" : null }, icon("users"), "Users") : null,
    admin ? h("a", { href: "/audit.html", class: "narrow-only", "aria-current": active === "audit" ? "page" : null }, icon("audit"), "Audit log") : null,
    h("button", { type: "button", id: "sign-out", onclick: signOut }, icon("logout"), "Sign out"),
  );
  const button = h("button", {
    type: "button", class: `user-btn${active === "account" ? " current" : ""}`, id: "user-button",
    "aria-expanded": "false", "aria-controls": "user-menu", title: "Your account and signing out",
  },
  h("span", { class: "user-initials", "aria-hidden": "true", style: { background: avatarColour(user.username || "?") } },
    initials(user.username || "?")),
  h("span", { class: "user-name" }, user.username || "?"),
  h("span", { class: `role-badge role-${role}` }, role),
  icon("chevron"));
  const box = h("div", { class: "usermenu" }, button, panel);
  const show = (open) => {
    panel.hidden = !open;
    button.setAttribute("aria-expanded", String(open));
  };
  button.addEventListener("click", () => show(panel.hidden));
  document.addEventListener("click", (event) => {
    if (!panel.hidden && !box.contains(event.target)) show(false);
  });
  box.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !panel.hidden) {
      show(false);
      button.focus();
    }
  });
  return box;
}

// ---- skip link (issue 12, item 10) -----------------------------------------------------------------
// "Skip to content": the first thing Tab reaches on every page (hidden until focused), so keyboard users
// jump past the header. It focuses <main> itself rather than following "#app": a fragment navigation
// fires popstate, which the gallery answers by rendering again.
export function mountSkipLink() {
  let link = document.getElementById("skip-link");
  if (!link) {
    link = h("a", {
      class: "skip-link", id: "skip-link", href: "#app",
      onclick: (event) => {
        const main = document.querySelector("main") || document.getElementById("app");
        if (!main) return;
        event.preventDefault();
        if (!main.hasAttribute("tabindex")) main.setAttribute("tabindex", "-1");
        main.focus();
        main.scrollIntoView({ block: "start" });
      },
    }, "Skip to content");
  }
  document.body.prepend(link); // (again) first, also once a header went in front of it
  return link;
}
if (document.body) mountSkipLink();
// ---- end of skip link ------------------------------------------------------------------------------

// ---- live events (issue 13, item 5) ---------------------------------------------------------------
// One EventSource per page on GET /v1/events, shared by every part of the page. The browser reconnects it
// by itself and sends the last event id it saw, so the gateway first replays what was missed meanwhile.
// onLiveEvents(kinds, onEvent, onChange): onEvent(event) for each event of those kinds (the event's JSON:
// kind, image_id, face_id, person_id, data...); onChange(why) when what the page shows may be stale or its
// way of keeping up changes: "ready" (subscribed: the first time, or back after a break: "reconnected"),
// "resync" (the gateway could not replay everything: reload) or "down" (no stream: liveEventsUp() is false,
// and parts of the page go back to their slow poll until it is back).
// A hidden tab closes its stream and opens it again when shown ("reconnected": the page catches up then):
// browsers allow only six connections to a server over HTTP/1.1, and a stream holds one for good, so six
// tabs kept open in the background would otherwise leave none for the next page.
const LIVE_EVENT_KINDS = ["photo.queued", "photo.detected", "photo.done", "photo.failed", "face.named",
  "person.changed", "model.published", "job.changed"];
const LIVE_REOPEN_MS = 30_000; // after the server refused the stream (signed out, restarting behind a proxy)
const liveListeners = new Set();
let liveSource = null;
let liveUp = false;
let liveHadBreak = false;

export function liveEventsUp() {
  return liveUp;
}

function liveChange(why) {
  for (const listener of liveListeners) listener.onChange?.(why);
}

function openLiveEvents() {
  if (liveSource || document.hidden || typeof EventSource === "undefined") return;
  const source = new EventSource("/v1/events");
  liveSource = source;
  source.addEventListener("ready", () => {
    liveUp = true;
    liveChange(liveHadBreak ? "reconnected" : "ready");
  });
  source.addEventListener("resync", () => liveChange("resync"));
  source.addEventListener("error", () => {
    // CONNECTING: the browser tries again by itself. CLOSED: it gave up (an error status); so do we, for a while.
    if (source.readyState === EventSource.CLOSED) {
      liveSource = null;
      setTimeout(() => { if (liveListeners.size) openLiveEvents(); }, LIVE_REOPEN_MS);
    }
    if (!liveUp) return;
    liveUp = false;
    liveHadBreak = true;
    liveChange("down");
  });
  for (const kind of LIVE_EVENT_KINDS) {
    source.addEventListener(kind, (message) => {
      let event;
      try {
        event = JSON.parse(message.data);
      } catch (err) {
        return;
      }
      for (const listener of liveListeners) if (!listener.kinds || listener.kinds.has(kind)) listener.onEvent(event);
    });
  }
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden && liveSource) {
    liveSource.close();
    liveSource = null;
    liveUp = false;
    liveHadBreak = true;
  } else if (!document.hidden && liveListeners.size) {
    openLiveEvents();
  }
});

// Returns a function that stops listening. kinds: a list, or null for every kind.
export function onLiveEvents(kinds, onEvent, onChange = null) {
  const listener = { kinds: kinds ? new Set(kinds) : null, onEvent, onChange };
  liveListeners.add(listener);
  openLiveEvents();
  return () => liveListeners.delete(listener);
}

// fn at most once per ms, with the last call's arguments: a burst of events makes one request.
export function coalesce(fn, ms = 400) {
  let timer = null;
  let latest = [];
  return (...args) => {
    latest = args;
    if (!timer) timer = setTimeout(() => { timer = null; fn(...latest); }, ms);
  };
}
// ---- end of live events ----------------------------------------------------------------------------

// ---- model status (issue 12, item 4) --------------------------------------------------------------
// One line in the header of every page: "Up to date", "Learning from 12 new names…", "3 new names since
// the last training; it will start within 2 minutes" (GET /v1/model/status). Asked again when a live event
// says it changed (a name given, a training moving on, a model published); without the event stream, every
// so often while the page is visible, more often while a training runs. Admins get a link to the Model page.
const MODEL_STATUS_POLL_MS = 15000;
const MODEL_STATUS_BUSY_POLL_MS = 3000;
let modelStatusTimer = null;
let modelStatusBox = null;
// On a phone the header has no room for the line: only its dot shows (the line is its label and title).
const MODEL_STATUS_NARROW = window.matchMedia("(max-width: 700px)");

function modelStatusKind(status) {
  if (status.training) return "learning";
  return status.up_to_date ? "up-to-date" : "waiting";
}

export async function refreshModelStatus() {
  if (!modelStatusBox) return;
  clearTimeout(modelStatusTimer);
  let status = null;
  try {
    status = document.visibilityState === "hidden" ? null : await api("/v1/model/status", { signIn: false });
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      modelStatusBox.hidden = true; // not for this user (or signed out): stop asking
      return;
    }
  }
  const kind = status && modelStatusKind(status);
  if (status && (modelStatusBox.hidden || modelStatusBox.dataset.message !== status.message
      || modelStatusBox.dataset.state !== kind)) { // unchanged: left alone, so screen readers hear news only
    modelStatusBox.hidden = false;
    modelStatusBox.dataset.message = status.message;
    modelStatusBox.dataset.state = kind;
    modelStatusBox.title = status.current_version ? `Model ${status.current_version}: ${status.message}` : status.message;
    modelStatusBox.setAttribute("aria-label", status.message);
    clear(modelStatusBox,
      kind === "learning" ? h("span", { class: "spinner", style: { width: "12px", height: "12px" } })
        : h("span", { "aria-hidden": "true", style: {
          width: "8px", height: "8px", borderRadius: "50%", flex: "none",
          background: kind === "up-to-date" ? "var(--ok)" : "var(--guess)" } }),
      h("span", { class: "model-status-text", hidden: MODEL_STATUS_NARROW.matches,
        style: { overflow: "hidden", textOverflow: "ellipsis" } }, status.message));
  }
  const busy = status && (status.training || status.starts_in_seconds !== null);
  modelStatusTimer = setTimeout(() => { if (!liveEventsUp()) refreshModelStatus(); },
    busy ? MODEL_STATUS_BUSY_POLL_MS : MODEL_STATUS_POLL_MS);
}

function mountModelStatus(user) {
  const admin = hasRole(user, "admin");
  modelStatusBox = h(admin ? "a" : "span", {
    id: "model-status", class: "model-status small muted", hidden: true, role: "status",
    href: admin ? "/model.html" : null,
    style: { display: "flex", alignItems: "center", gap: ".4rem", minWidth: "0", maxWidth: "22rem",
      whiteSpace: "nowrap", margin: "0 .6rem", color: "inherit" },
  });
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") refreshModelStatus();
  });
  const soon = coalesce(refreshModelStatus, 1000);
  onLiveEvents(["face.named", "model.published", "job.changed"], (event) => {
    if (event.kind !== "face.named" || event.data.by === "person") soon(); // the model's own names teach it nothing
  }, (why) => { if (why !== "ready") refreshModelStatus(); });
  MODEL_STATUS_NARROW.addEventListener("change", () => {
    const text = modelStatusBox.querySelector(".model-status-text");
    if (text) text.hidden = MODEL_STATUS_NARROW.matches;
  });
  refreshModelStatus();
  return modelStatusBox;
}
// ---- end of model status ---------------------------------------------------------------------------

// Header with the places a user goes; the links that need a role appear once the user is known.
// Resolves to the signed-in user (GET /v1/auth/me), or null when that could not be asked.
export async function mountHeader(active) {
  const link = (href, name, text, extra = {}) =>
    h("a", { href, "aria-current": active === name ? "page" : null, ...extra }, icon(name), h("span", {}, text));
  const nav = h("nav", { class: "nav", "aria-label": "Main" },
    link("/", "photos", "Photos"),
    link("/people.html", "people", "People"));
  const slot = h("div", { class: "user-slot" });
  const header = h("header", { class: "topbar" },
    h("a", { class: "brand", href: "/" }, icon("logo"), h("span", {}, "Facetag")),
    nav, slot);
  document.body.prepend(header);
  mountSkipLink(); // the skip link stays in front of the header
  let user = null;
  try {
    user = await currentUser();
  } catch (err) {
    showError(err);
    return null;
  }
  document.body.dataset.role = roleOf(user) || "";
  if (hasRole(user, "editor")) nav.append(link("/upload.html", "upload", "Upload"));
  if (hasRole(user, "editor")) nav.append(link("/review.html", "review", "Review")); // review queue (issue 12, item 2)
  if (hasRole(user, "admin")) {
    nav.append(
      link("/model.html", "model", "Model"),
      link("/users.html", "users", "Users", { class: "wide-only" }),
      link("/audit.html", "audit", "Audit", { class: "wide-only" }));
  }
  header.insertBefore(mountModelStatus(user), slot); // model status (issue 12, item 4)
  slot.append(userMenu(user, active));
  return user;
}

// A page only some roles may use: a short notice in place of its controls.
export function roleNotice(text) {
  return h("div", { class: "empty role-notice", id: "role-notice" }, icon("lock"), h("h2", {}, text),
    h("p", {}, "Ask an admin if you need it."), h("a", { class: "button", href: "/" }, icon("photos"), "Go to photos"));
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
  if (err instanceof ApiError && err.signedOut) return; // already on the way to the sign-in page
  toast(err instanceof Error ? err.message : String(err), "error", 6000);
}

// A modal question; resolves true when the user accepts. ``ready()`` (checked on every input in the
// dialog) keeps the OK button off until it is true, e.g. until a name is typed to confirm.
export function ask({ title, text, ok = "OK", danger = false, body = null, ready = null, cancel = "Cancel" }) {
  return new Promise((resolve) => {
    const dialog = h("dialog", { "aria-labelledby": "ask-title", class: danger ? "danger-dialog" : null });
    const done = (answer) => {
      dialog.close();
      dialog.remove();
      resolve(answer);
    };
    const okButton = h("button", {
      type: "button", class: danger ? "danger solid" : "primary", disabled: ready ? !ready() : false,
      onclick: () => done(true),
    }, ok);
    if (ready) dialog.addEventListener("input", () => { okButton.disabled = !ready(); });
    dialog.append(
      h("div", { class: "dlg-head" }, h("h2", { id: "ask-title" }, title)),
      h("div", { class: "dlg-body" }, text ? h("p", { class: "flush" }, text) : null, body),
      h("div", { class: "dlg-foot" },
        cancel ? h("button", { type: "button", onclick: () => done(false) }, cancel) : null,
        okButton,
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

// Every item of a cursor-paged list that stays short (the people), following next_cursor page by page.
export async function allPages(path, params = {}) {
  const items = [];
  let cursor = null;
  do {
    const page = await api(path, { params: { ...params, cursor } });
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor);
  return items;
}

// Numbered pages (Previous / Next) over a cursor-paged list: page n (from 0) starts after the cursor that
// page n-1 answered with. ``fetch(cursor)`` asks for one page.
export class CursorPages {
  constructor(fetch) {
    this.fetch = fetch;
    this.reset();
  }

  reset() {
    this.cursors = [null];
  }

  async load(page) {
    const known = Math.min(page, this.cursors.length - 1); // a page past the last known one: the last known
    const answer = await this.fetch(this.cursors[known]);
    this.cursors.length = known + 1;
    if (answer.next_cursor) this.cursors.push(answer.next_cursor);
    return { page: known, items: answer.items, more: Boolean(answer.next_cursor) };
  }
}

export async function loadPeople(params = {}) {
  return allPages("/v1/people", params);
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

// The gallery pages by cursor: page n starts after the cursor that page n-1 answered with. The cursors of
// the pages seen for a search are kept for the tab (sessionStorage), so Previous, a reload and the photo
// page's previous/next photo find page n again. Page 1 needs none.
function cursorsKey(state) {
  return `facetag.pages:${searchQuery(state)}`;
}

export function pageCursor(state, page) {
  if (page <= 1) return null;
  try {
    return JSON.parse(sessionStorage.getItem(cursorsKey(state)) || "{}")[page] ?? undefined;
  } catch (err) {
    return undefined; // storage refused: only the first page is known
  }
}

export function rememberPageCursor(state, page, cursor) {
  try {
    const known = JSON.parse(sessionStorage.getItem(cursorsKey(state)) || "{}");
    if (cursor) known[page] = cursor;
    else delete known[page];
    sessionStorage.setItem(cursorsKey(state), JSON.stringify(known));
  } catch (err) {
    // storage refused: stepping back a page starts from the first
  }
}

// Page ``page`` of a search: {items, next_cursor}, or null when its cursor is not known (a link from elsewhere).
export async function fetchGalleryPage(state, page, limit = PAGE_SIZE) {
  const cursor = pageCursor(state, page);
  if (cursor === undefined) return null;
  const answer = await api("/v1/images", { params: { ...searchParams(state), cursor, limit } });
  if (limit === PAGE_SIZE) rememberPageCursor(state, page + 1, answer.next_cursor);
  return answer;
}

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
export function localDay(value, end) {
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
