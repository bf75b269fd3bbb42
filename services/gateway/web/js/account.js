// Account: who is signed in, changing the password, API tokens for programs (made, shown once, revoked),
// and signing out of every browser at once.
import {
  ROLE_TEXT, allPages, api, ask, clear, formatDate, h, hasRole, icon, mountHeader, roleOf, showError, toast,
} from "./common.js";

// Token scopes, and the least role that may hand each out.
const SCOPES = [
  { id: "read", role: "viewer", text: "Read", help: "see photos, faces, people and models" },
  { id: "edit", role: "editor", text: "Edit", help: "name faces, change people" },
  { id: "images:write", role: "editor", text: "Upload", help: "add photos" },
  { id: "admin", role: "admin", text: "Admin", help: "everything, including models, users and the audit log" },
];
const SCOPE_TEXT = Object.fromEntries(SCOPES.map((s) => [s.id, s.text]));
const EXPIRY = [["30", "30 days"], ["90", "90 days"], ["365", "1 year"], ["", "Never"]];
const MIN_PASSWORD = 10;

const app = document.getElementById("app");
let user = null;
let tokens = [];
let everyone = false; // an admin looking at everyone's tokens
let secret = null; // the token just made: its secret is shown this once

// ---- password ------------------------------------------------------------------------------------------

function passwordField(id, label, autocomplete, help) {
  const input = h("input", {
    type: "password", id, name: id, autocomplete, required: true, maxlength: "1024",
    "aria-describedby": help ? `${id}-help` : null,
  });
  return [
    h("label", { class: "field", for: id }, label),
    input,
    help ? h("p", { class: "field-help", id: `${id}-help` }, help) : null,
  ];
}

function passwordPanel() {
  const problem = h("p", { class: "form-error", id: "password-error", role: "alert", hidden: true });
  const say = (text) => {
    clear(problem, text || "");
    problem.hidden = !text;
  };
  const form = h("form", {
    class: "stack", id: "password-form",
    onsubmit: async (event) => {
      event.preventDefault();
      const current = form.querySelector("#current-password");
      const fresh = form.querySelector("#new-password");
      const again = form.querySelector("#new-password-again");
      if (!current.value) return say("Enter your current password.");
      if (fresh.value.length < MIN_PASSWORD) return say(`The new password needs at least ${MIN_PASSWORD} characters.`);
      if (fresh.value !== again.value) return say("The two new passwords are not the same.");
      say("");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await api("/v1/auth/password", {
          method: "POST", body: { current_password: current.value, new_password: fresh.value },
        });
        form.reset();
        toast("Password changed. You are signed out of every other browser.");
      } catch (err) {
        if (!err.signedOut) say(err.message);
      }
      button.disabled = false;
    },
  },
  // The username, for password managers.
  h("input", { type: "text", name: "username", autocomplete: "username", value: user.username, hidden: true, readonly: true }),
  passwordField("current-password", "Current password", "current-password"),
  passwordField("new-password", "New password", "new-password", `At least ${MIN_PASSWORD} characters. A few unrelated words make a good one.`),
  passwordField("new-password-again", "New password again", "new-password"),
  problem,
  h("div", {}, h("button", { type: "submit", class: "primary" }, icon("lock"), "Change password")));
  return h("section", { class: "panel", id: "password", "aria-labelledby": "password-title" },
    h("h2", { id: "password-title" }, "Password"),
    h("p", { class: "muted small flush-top" }, "Changing it signs you out everywhere else."),
    form);
}

// ---- sessions -----------------------------------------------------------------------------------------

async function signOutEverywhere() {
  const ok = await ask({
    title: "Sign out everywhere?",
    text: "Every browser where you are signed in is signed out, this one too. API tokens keep working: revoke those below.",
    ok: "Sign out everywhere",
    danger: true,
  });
  if (!ok) return;
  try {
    await api("/v1/auth/logout-all", { method: "POST", signIn: false });
  } catch (err) {
    if (err.status !== 401) {
      showError(err);
      return;
    }
  }
  location.assign("/login.html");
}

function sessionsPanel() {
  return h("section", { class: "panel", id: "sessions", "aria-labelledby": "sessions-title" },
    h("h2", { id: "sessions-title" }, "Where you are signed in"),
    h("p", { class: "small flush-top" },
      "Lost a phone, or signed in on a computer that is not yours? Sign out of every browser at once."),
    h("button", { type: "button", class: "danger", id: "sign-out-everywhere", onclick: signOutEverywhere },
      icon("logout"), "Sign out everywhere"));
}

// ---- API tokens ---------------------------------------------------------------------------------------

async function loadTokens() {
  try {
    tokens = await allPages("/v1/tokens", { all: everyone ? "true" : undefined, limit: 200 });
  } catch (err) {
    showError(err);
  }
  renderTokens();
}

function expired(token) {
  return token.expires_at && new Date(token.expires_at).getTime() <= Date.now();
}

async function revoke(token) {
  const ok = await ask({
    title: `Revoke “${token.name}”?`,
    text: "Programs that use this token are refused from now on. This cannot be undone; you can make a new token.",
    ok: "Revoke token",
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/v1/tokens/${encodeURIComponent(token.id)}`, { method: "DELETE" });
    if (secret?.id === token.id) secret = null;
    toast(`Revoked “${token.name}”`);
  } catch (err) {
    showError(err);
  }
  await loadTokens();
}

function tokenForm() {
  const allowed = SCOPES.filter((s) => hasRole(user, s.role));
  const name = h("input", {
    type: "text", id: "token-name", name: "token-name", maxlength: "100", required: true, autocomplete: "off",
    placeholder: "e.g. photo import script",
  });
  const expiry = h("select", { id: "token-expiry", name: "token-expiry" },
    EXPIRY.map(([value, text]) => h("option", { value, selected: value === "90" }, text)));
  const problem = h("p", { class: "form-error", id: "token-error", role: "alert", hidden: true });
  const form = h("form", {
    class: "token-form", id: "token-form", "aria-labelledby": "token-form-title",
    onsubmit: async (event) => {
      event.preventDefault();
      const scopes = Array.from(form.querySelectorAll("input[name=scope]:checked")).map((box) => box.value);
      const say = (text) => {
        clear(problem, text || "");
        problem.hidden = !text;
      };
      if (!name.value.trim()) {
        say("Give the token a name, so you know later which program has it.");
        name.focus();
        return;
      }
      if (!scopes.length) {
        say("Tick at least one thing the token may do.");
        return;
      }
      say("");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        secret = await api("/v1/tokens", {
          method: "POST",
          body: { name: name.value.trim(), scopes, expires_in_days: expiry.value ? Number(expiry.value) : null },
        });
        form.reset();
        await loadTokens();
        document.getElementById("new-token")?.focus();
        document.getElementById("new-token")?.select();
      } catch (err) {
        if (!err.signedOut) say(err.message);
      }
      button.disabled = false;
    },
  },
  h("h3", { id: "token-form-title" }, "New token"),
  h("div", { class: "token-fields" },
    h("div", { class: "stack-sm grow" }, h("label", { class: "field", for: "token-name" }, "Name"), name),
    h("div", { class: "stack-sm" }, h("label", { class: "field", for: "token-expiry" }, "Expires after"), expiry)),
  h("fieldset", { class: "scopes" },
    h("legend", {}, "It may"),
    allowed.map((s) => h("label", { class: "check", for: `scope-${s.id.replace(":", "-")}` },
      h("input", { type: "checkbox", name: "scope", value: s.id, id: `scope-${s.id.replace(":", "-")}`, checked: s.id === "read" }),
      h("span", {}, h("strong", {}, s.text), ` — ${s.help}`)))),
  problem,
  h("div", {}, h("button", { type: "submit", class: "primary" }, icon("key"), "Create token")));
  return form;
}

async function copySecret(input, button) {
  let copied = false;
  try {
    await navigator.clipboard.writeText(input.value);
    copied = true;
  } catch (err) {
    input.select();
    try {
      copied = document.execCommand("copy");
    } catch (e) {
      copied = false;
    }
  }
  if (copied) {
    clear(button, icon("check"), "Copied");
    setTimeout(() => clear(button, icon("copy"), "Copy"), 2000);
  } else {
    input.focus();
    input.select();
    toast("Could not copy: the token is selected, copy it with Ctrl+C (⌘C).");
  }
}

function secretBox() {
  if (!secret?.token) return null;
  const input = h("input", {
    type: "text", id: "new-token", value: secret.token, readonly: true, spellcheck: "false", autocomplete: "off",
    "aria-label": `The secret of token “${secret.name}”`, "aria-describedby": "new-token-help",
  });
  input.addEventListener("focus", () => input.select());
  const copy = h("button", { type: "button", id: "copy-token", onclick: () => copySecret(input, copy) }, icon("copy"), "Copy");
  return h("div", { class: "secret", id: "token-secret", role: "status" },
    h("strong", {}, `Token “${secret.name}” is ready. Copy it now.`),
    h("p", { class: "flush", id: "new-token-help" },
      "You will not see this token again: Facetag keeps only a fingerprint of it. Programs send it as ",
      h("code", {}, "Authorization: Bearer TOKEN"), "."),
    h("div", { class: "secret-row" }, input, copy),
    h("div", {}, h("button", {
      type: "button", class: "ghost", id: "token-done",
      onclick: () => {
        secret = null;
        renderTokens();
      },
    }, "I have copied it")));
}

function scopeChips(scopes) {
  return (scopes || []).map((s) => h("span", { class: `chip scope ${s === "admin" ? "admin" : ""}`, title: s }, SCOPE_TEXT[s] || s));
}

// A day is enough in the table; the exact time is in the tooltip.
function when(iso, never = "—") {
  if (!iso) return never;
  const day = new Date(iso).toLocaleDateString(undefined, { dateStyle: "medium" });
  return h("time", { datetime: iso, title: formatDate(iso) }, day);
}

function tokenTable() {
  if (!tokens.length) {
    return h("p", { class: "muted", id: "no-tokens" }, everyone ? "Nobody has an API token." : "You have no API tokens yet.");
  }
  return h("div", { class: "table-wrap" },
    h("table", { class: "data-table", id: "tokens" },
      h("caption", { class: "sr-only" }, everyone ? "Everyone's API tokens" : "Your API tokens"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Name"),
        everyone ? h("th", { scope: "col" }, "User") : null,
        h("th", { scope: "col" }, "May"),
        h("th", { scope: "col", class: "wide-col" }, "Created"),
        h("th", { scope: "col" }, "Expires"),
        h("th", { scope: "col", class: "wide-col" }, "Last used"),
        h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Revoke")))),
      h("tbody", {}, tokens.map((t) => h("tr", { "data-token-id": t.id, class: expired(t) ? "expired" : null },
        h("th", { scope: "row", class: "wrap" }, t.name),
        everyone ? h("td", {}, t.username || "") : null,
        h("td", {}, h("span", { class: "chips" }, scopeChips(t.scopes))),
        h("td", { class: "wide-col" }, when(t.created_at)),
        h("td", {}, expired(t) ? h("span", { class: "chip unknown" }, "expired") : when(t.expires_at, "never")),
        h("td", { class: "wide-col" }, when(t.last_used_at, "never")),
        h("td", { class: "actions-cell" }, h("button", {
          type: "button", class: "danger", onclick: () => revoke(t), "aria-label": `Revoke ${t.name}`,
        }, "Revoke")),
      )))));
}

function tokensPanel() {
  const admin = hasRole(user, "admin");
  const all = admin ? h("input", { type: "checkbox", id: "tokens-all", checked: everyone }) : null;
  all?.addEventListener("change", () => {
    everyone = all.checked;
    loadTokens();
  });
  return h("section", { class: "panel", id: "api-tokens", "aria-labelledby": "tokens-title" },
    h("div", { class: "panel-head" },
      h("h2", { id: "tokens-title" }, "API tokens", tokens.length ? h("span", { class: "h-count" }, String(tokens.length)) : null),
      admin ? h("label", { class: "check inline", for: "tokens-all" }, all, h("span", {}, "Everyone's")) : null),
    h("p", { class: "small flush-top" },
      "For programs and scripts, such as an importer. A token may do only what you tick, never more than your role allows, "
      + "and works until it expires or you revoke it."),
    secretBox(),
    tokenTable(),
    tokenForm());
}

function renderTokens() {
  document.getElementById("api-tokens")?.replaceWith(tokensPanel());
}

// ---- page ---------------------------------------------------------------------------------------------

function render() {
  clear(app,
    h("div", { class: "page-head" },
      h("h1", {}, "Account"),
      h("span", { class: "muted", id: "whoami" }, "Signed in as ", h("strong", {}, user.username), ` · ${roleOf(user) || ""}`)),
    h("p", { class: "muted small role-line" }, ROLE_TEXT[roleOf(user)] || ""),
    h("div", { class: "account-layout" },
      h("div", { class: "model-col" }, passwordPanel(), sessionsPanel()),
      h("div", { class: "model-col" }, tokensPanel())));
}

async function main() {
  user = await mountHeader("account");
  if (!user) return;
  render();
  await loadTokens();
}

main();
