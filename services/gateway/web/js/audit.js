// Audit log (admins only): who did what to which thing and when, newest first; filter by who, what,
// target and dates, and page through. The filters live in the address, so a view can be shared or kept.
import {
  CursorPages, allPages, api, clear, formatDate, h, hasRole, icon, localDay, mountHeader, roleNotice, showError,
} from "./common.js";

const PAGE = 50;
const ACTIONS = {
  "image.upload": "Uploaded a photo",
  "image.delete": "Deleted a photo",
  "face.name": "Named a face",
  "face.delete": "Removed a face",
  "face.add": "Drew a face",
  "person.create": "Added a person",
  "person.rename": "Renamed a person",
  "person.merge": "Merged people",
  "person.delete": "Deleted a person",
  "person.never_tag": "Changed automatic tagging",
  "person.export": "Exported a person",
  "person.erase": "Erased a person",
  "model.train": "Trained a model",
  "model.publish": "Made a model current",
  "user.create": "Added a user",
  "user.update": "Changed a user",
  "user.delete": "Removed a user",
  "token.create": "Made an API token",
  "token.revoke": "Revoked an API token",
  "user.password": "Changed their password",
  "auth.login": "Signed in",
  "auth.login_failed": "Failed to sign in",
  "auth.logout": "Signed out",
  "auth.logout_all": "Signed out everywhere",
};

const app = document.getElementById("app");
let knownUsers = [];

function readState() {
  const q = new URLSearchParams(location.search);
  return {
    actor: q.get("actor") || "",
    action: q.get("action") || "",
    target: q.get("target") || "",
    from: q.get("from") || "",
    to: q.get("to") || "",
    page: Math.max(1, parseInt(q.get("page") || "1", 10) || 1),
  };
}

function writeState(state, { replace = false } = {}) {
  const q = new URLSearchParams();
  for (const key of ["actor", "action", "target", "from", "to"]) if (state[key]) q.set(key, state[key]);
  if (state.page > 1) q.set("page", String(state.page));
  const url = `${location.pathname}${q.toString() ? `?${q}` : ""}`;
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

// ---- before and after, as text -------------------------------------------------------------------------

function valueText(value) {
  if (value === null || value === undefined) return "none";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "string") return value;
  if (typeof value === "number") return String(value);
  if (Array.isArray(value)) return value.length ? value.map(valueText).join(", ") : "none";
  return JSON.stringify(value);
}

function shortText(value, max = 160) {
  const text = valueText(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

// {name: "Ann"} -> {name: "Anne"} reads "name: Ann → Anne"; keys that did not change are left out.
function changeView(before, after) {
  if ((before === null || before === undefined) && (after === null || after === undefined)) {
    return h("span", { class: "muted" }, "—");
  }
  if (!isObject(before) && !isObject(after)) {
    return h("div", { class: "change-line" },
      before !== null && before !== undefined ? [h("del", {}, shortText(before)), " → "] : null,
      h("ins", {}, shortText(after)));
  }
  const b = isObject(before) ? before : {};
  const a = isObject(after) ? after : {};
  const keys = [...new Set([...Object.keys(b), ...Object.keys(a)])];
  const both = isObject(before) && isObject(after);
  const changed = both ? keys.filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k])) : keys;
  const shown = changed.length ? changed : keys;
  return h("div", { class: "change" }, shown.map((key) => {
    let value;
    if (both) value = [h("del", {}, shortText(b[key])), " → ", h("ins", {}, shortText(a[key]))];
    else if (isObject(after)) value = h("ins", {}, shortText(a[key]));
    else value = [h("span", { class: "muted" }, "was "), h("span", { class: "was" }, shortText(b[key]))];
    return h("div", { class: "change-line" }, h("span", { class: "change-key" }, key.replace(/_/g, " ")), ": ", value);
  }));
}

function clientView(client) {
  if (client === null || client === undefined || client === "") return h("span", { class: "muted" }, "—");
  if (typeof client === "string") return h("span", { class: "client", title: client }, client);
  if (isObject(client)) {
    const main = client.ip || client.address || client.host || "";
    const agent = client.user_agent || client.agent || "";
    const via = client.via || "";
    const rest = Object.entries(client)
      .filter(([k]) => !["ip", "address", "host", "user_agent", "agent", "via"].includes(k))
      .map(([k, v]) => `${k}: ${valueText(v)}`);
    const text = [main, via, ...rest].filter(Boolean).join(" · ") || shortText(client);
    return h("span", { class: "client", title: [text, agent].filter(Boolean).join("\n") }, text);
  }
  return h("span", { class: "client" }, valueText(client));
}

function targetView(item) {
  if (!item.target_kind && !item.target_id) return h("span", { class: "muted" }, "—");
  const id = item.target_id ? String(item.target_id) : "";
  const idEl = item.target_kind === "image" && id
    ? h("a", { href: `/photo.html?id=${encodeURIComponent(id)}`, title: "Open the photo" }, id)
    : h("span", { title: id }, id);
  return h("div", { class: "target" },
    item.target_kind ? h("span", { class: "muted small" }, item.target_kind) : null,
    id ? h("code", { class: "target-id" }, idEl) : null,
    id ? h("button", {
      type: "button", class: "ghost icon-btn mini", title: "Show everything done to this",
      "aria-label": `Show everything done to ${item.target_kind || "this"} ${id}`,
      onclick: () => go({ ...readState(), actor: "", action: "", target: id, page: 1 }),
    }, icon("search")) : null);
}

// ---- the page ------------------------------------------------------------------------------------------

function filters(state) {
  const field = (id, label, input) => h("div", { class: "stack-sm" }, h("label", { class: "field", for: id }, label), input);
  const actor = h("input", {
    type: "text", id: "audit-actor", name: "actor", value: state.actor, list: "audit-actors", autocomplete: "off",
    placeholder: "anyone", spellcheck: "false",
  });
  const action = h("select", { id: "audit-action", name: "action" },
    h("option", { value: "" }, "Any action"),
    Object.entries(ACTIONS).map(([code, text]) => h("option", { value: code, selected: code === state.action }, `${text} (${code})`)),
    state.action && !ACTIONS[state.action] ? h("option", { value: state.action, selected: true }, state.action) : null);
  const target = h("input", {
    type: "text", id: "audit-target", name: "target", value: state.target, autocomplete: "off", placeholder: "any",
    spellcheck: "false",
  });
  const from = h("input", { type: "date", id: "audit-from", name: "from", value: state.from });
  const to = h("input", { type: "date", id: "audit-to", name: "to", value: state.to });
  const form = h("form", {
    class: "searchbar audit-filters", id: "audit-filters", role: "search", "aria-label": "Filter the audit log",
    onsubmit: (event) => {
      event.preventDefault();
      go({ actor: actor.value.trim(), action: action.value, target: target.value.trim(), from: from.value, to: to.value, page: 1 });
    },
  },
  field("audit-actor", "Who", actor),
  field("audit-action", "Action", action),
  field("audit-target", "Target id", target),
  field("audit-from", "From", from),
  field("audit-to", "To", to),
  h("div", { class: "filter-buttons" },
    h("button", { type: "submit", class: "primary" }, icon("search"), "Show"),
    h("button", {
      type: "button", onclick: () => go({ actor: "", action: "", target: "", from: "", to: "", page: 1 }),
    }, "Clear")));
  return [form, h("datalist", { id: "audit-actors" }, knownUsers.map((u) => h("option", { value: u })))];
}

function pager(state, more) {
  if (state.page <= 1 && !more) return null;
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: state.page <= 1, onclick: () => go({ ...state, page: state.page - 1 }), "aria-label": "Newer entries" },
      icon("back"), "Newer"),
    h("span", { class: "muted", id: "page-of" }, `Page ${state.page}`),
    h("button", { type: "button", disabled: !more, onclick: () => go({ ...state, page: state.page + 1 }), "aria-label": "Older entries" },
      "Older", icon("next")));
}

function table(items) {
  return h("div", { class: "table-wrap panel flush-pad" },
    h("table", { class: "data-table audit-table", id: "audit" },
      h("caption", { class: "sr-only" }, "Audit log, newest first"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "When"),
        h("th", { scope: "col" }, "Who"),
        h("th", { scope: "col" }, "Action"),
        h("th", { scope: "col" }, "Target"),
        h("th", { scope: "col" }, "Change"),
        h("th", { scope: "col" }, "From"))),
      h("tbody", {}, items.map((item) => h("tr", { "data-entry-id": item.id, "data-action": item.action },
        h("td", { class: "nowrap" }, h("time", { datetime: item.at, title: item.at }, formatDate(item.at))),
        h("td", { class: "wrap actor" }, item.actor || "—"),
        h("td", { class: "action" },
          h("div", {}, ACTIONS[item.action] || item.action),
          h("code", { class: "action-code" }, item.action)),
        h("td", {}, targetView(item)),
        h("td", { class: "change-cell" }, changeView(item.before, item.after)),
        h("td", {}, clientView(item.client)))))));
}

// Pages by cursor (newer entries never shift the older pages); the cursors are kept for the filters shown.
let filtersShown = null;
const filterParams = (state) => ({
  actor: state.actor, action: state.action, target_id: state.target,
  since: localDay(state.from, false), until: localDay(state.to, true),
});
const pages = new CursorPages((cursor) => api("/v1/admin/audit", {
  params: { ...filterParams(readState()), cursor, limit: PAGE },
}));

let renderSeq = 0;
async function render() {
  const seq = ++renderSeq;
  const state = readState();
  const filtersNow = JSON.stringify(filterParams(state));
  if (filtersNow !== filtersShown) {
    pages.reset();
    filtersShown = filtersNow;
  }
  let page;
  try {
    page = await pages.load(state.page - 1);
  } catch (err) {
    showError(err);
    page = { page: state.page - 1, items: [], more: false };
  }
  if (seq !== renderSeq) return;
  if (page.page !== state.page - 1) { // a page whose start is not known here (a reload): the last one known
    writeState({ ...state, page: page.page + 1 }, { replace: true });
  }
  const first = page.page * PAGE + 1;
  const filtered = state.actor || state.action || state.target || state.from || state.to;
  clear(app,
    h("div", { class: "page-head" },
      h("h1", {}, "Audit log"),
      h("span", { class: "muted" }, "Who did what, newest first")),
    filters(state),
    h("p", { class: "result-line", id: "audit-count" },
      page.items.length ? `${first}–${first + page.items.length - 1}${page.more ? ", older ones on the next page" : ""}`
        : ""),
    page.items.length
      ? table(page.items)
      : h("div", { class: "empty" }, icon("audit"),
        h("h2", {}, filtered ? "Nothing matches" : "Nothing recorded yet"),
        h("p", {}, filtered ? "Try fewer filters or a wider date range." : "What people do in Facetag shows up here.")),
    pager({ ...state, page: page.page + 1 }, page.more));
}

function go(state) {
  writeState(state);
  render();
  window.scrollTo({ top: 0 });
}

async function main() {
  const user = await mountHeader("audit");
  if (!user) return;
  if (!hasRole(user, "admin")) {
    clear(app, h("div", { class: "page-head" }, h("h1", {}, "Audit log")), roleNotice("Only admins can read the audit log"));
    return;
  }
  window.addEventListener("popstate", () => render());
  allPages("/v1/admin/users", { limit: 200 }).then((list) => {
    knownUsers = list.map((u) => u.username);
    const datalist = document.getElementById("audit-actors");
    if (datalist) clear(datalist, knownUsers.map((u) => h("option", { value: u })));
  }).catch(() => {});
  await render();
}

main();
