// Users (admins only): everyone who can sign in, their role; add someone, change a role, set a new
// password, remove. The server keeps at least one admin and says so when asked to remove the last.
import {
  ROLES, ROLE_TEXT, allPages, api, ask, clear, formatDate, h, hasRole, icon, mountHeader, plural, roleNotice, showError,
  toast,
} from "./common.js";

const MIN_PASSWORD = 10;
const ROLE_NAME = { viewer: "a viewer", editor: "an editor", admin: "an admin" };

const app = document.getElementById("app");
let me = null;
let users = [];

// A password that is easy to read out and type: four groups of four letters and digits.
function makePassword() {
  const letters = "abcdefghijkmnpqrstuvwxyz23456789";
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  const chars = Array.from(bytes, (b) => letters[b % letters.length]);
  return [0, 4, 8, 12].map((i) => chars.slice(i, i + 4).join("")).join("-");
}

// A password input with a "Suggest" button that fills in a readable one and shows it.
function passwordInput(id, label) {
  const input = h("input", {
    type: "password", id, name: id, autocomplete: "new-password", minlength: String(MIN_PASSWORD), maxlength: "1024",
    required: true, "aria-describedby": `${id}-help`,
  });
  const suggest = h("button", {
    type: "button", class: "ghost", title: "Fill in a new random password and show it",
    "aria-label": `Suggest a password for ${label.toLowerCase()}`,
    onclick: () => {
      input.type = "text";
      input.value = makePassword();
      input.dispatchEvent(new Event("input", { bubbles: true }));
      input.focus();
      input.select();
    },
  }, icon("refresh"), "Suggest");
  return { input, row: h("div", { class: "secret-row" }, input, suggest) };
}

function roleSelect(id, value, label) {
  return h("select", { id, name: id, "aria-label": label },
    ROLES.map((role) => h("option", { value: role, selected: role === value, title: ROLE_TEXT[role] }, role)));
}

async function load() {
  try {
    users = await allPages("/v1/admin/users", { limit: 200 }); // every page: the list shows everyone
  } catch (err) {
    showError(err);
  }
  renderList();
}

async function changeRole(user, select) {
  const role = select.value;
  if (role === user.role) return;
  if (user.id === me.id && role !== "admin") {
    const ok = await ask({
      title: `Make yourself ${ROLE_NAME[role]}?`,
      text: "You lose the Users, Audit and Model pages at once, and only another admin can give them back.",
      ok: `Make me ${ROLE_NAME[role]}`,
      danger: true,
    });
    if (!ok) {
      select.value = user.role;
      return;
    }
  }
  try {
    await api(`/v1/admin/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: { role } });
    toast(`${user.username} is now ${ROLE_NAME[role] || role}`);
    if (user.id === me.id && role !== "admin") {
      location.assign("/");
      return;
    }
  } catch (err) {
    select.value = user.role;
    showError(err);
    return;
  }
  await load();
}

async function resetPassword(user) {
  const { input, row } = passwordInput("reset-password", "the new password");
  const ok = await ask({
    title: `New password for ${user.username}`,
    body: h("div", { class: "stack" },
      h("label", { class: "field", for: "reset-password" }, "New password"),
      row,
      h("p", { class: "field-help", id: "reset-password-help" },
        `At least ${MIN_PASSWORD} characters. Give it to ${user.username} in person or another safe way; `
        + "they can change it on their Account page.")),
    ok: "Set password",
    ready: () => input.value.length >= MIN_PASSWORD,
  });
  if (!ok) return;
  try {
    await api(`/v1/admin/users/${encodeURIComponent(user.id)}`, { method: "PATCH", body: { password: input.value } });
    toast(`${user.username}'s password is changed`);
  } catch (err) {
    showError(err);
  }
  await load();
}

async function remove(user) {
  const self = user.id === me.id;
  const ok = await ask({
    title: `Remove ${user.username}?`,
    text: `${self ? "You" : user.username} can no longer sign in, and ${self ? "your" : "their"} API tokens stop working. `
      + "The photos and names they added stay, and the audit log keeps what they did.",
    ok: self ? "Remove me" : `Remove ${user.username}`,
    danger: true,
  });
  if (!ok) return;
  try {
    await api(`/v1/admin/users/${encodeURIComponent(user.id)}`, { method: "DELETE" });
    toast(`Removed ${user.username}`);
  } catch (err) {
    showError(err);
  }
  await load();
}

function addForm() {
  const username = h("input", {
    type: "text", id: "new-username", name: "new-username", maxlength: "64", required: true, autocomplete: "off",
    autocapitalize: "none", spellcheck: "false", title: "Letters, digits and . _ @ -, starting with a letter or digit",
  });
  const role = roleSelect("new-role", "editor", "Role");
  const { input: password, row } = passwordInput("new-password", "the new user");
  const problem = h("p", { class: "form-error", id: "add-user-error", role: "alert", hidden: true });
  const say = (text) => {
    clear(problem, text || "");
    problem.hidden = !text;
  };
  const form = h("form", {
    class: "add-user", id: "add-user",
    onsubmit: async (event) => {
      event.preventDefault();
      const name = username.value.trim();
      if (!name) {
        say("Enter a username.");
        username.focus();
        return;
      }
      if (password.value.length < MIN_PASSWORD) {
        say(`The password needs at least ${MIN_PASSWORD} characters.`);
        password.focus();
        return;
      }
      say("");
      const button = form.querySelector("button[type=submit]");
      button.disabled = true;
      try {
        await api("/v1/admin/users", { method: "POST", body: { username: name, password: password.value, role: role.value } });
        toast(`Added ${name} as ${ROLE_NAME[role.value] || role.value}`);
        form.reset();
        password.type = "password";
        await load();
      } catch (err) {
        if (!err.signedOut) say(err.message);
      }
      button.disabled = false;
    },
  },
  h("div", { class: "add-user-fields" },
    h("div", { class: "stack-sm" }, h("label", { class: "field", for: "new-username" }, "Username"), username),
    h("div", { class: "stack-sm" }, h("label", { class: "field", for: "new-role" }, "Role"), role),
    h("div", { class: "stack-sm grow" }, h("label", { class: "field", for: "new-password" }, "Password"), row),
    h("div", { class: "stack-sm end" }, h("button", { type: "submit", class: "primary" }, icon("plus"), "Add user"))),
  h("p", { class: "field-help", id: "new-password-help" },
    "A username is letters, digits and . _ @ - (not case-sensitive). "
    + `The password needs at least ${MIN_PASSWORD} characters: give it to the person; they can change it on their Account page.`),
  problem);
  return h("section", { class: "panel", "aria-labelledby": "add-title" },
    h("h2", { id: "add-title" }, "Add someone"),
    form,
    h("ul", { class: "role-help muted small" }, ROLES.map((r) => h("li", {}, ROLE_TEXT[r]))));
}

function userRow(user) {
  const self = user.id === me.id;
  const select = roleSelect(`role-${user.id}`, user.role, `Role of ${user.username}`);
  select.addEventListener("change", () => changeRole(user, select));
  return h("tr", { "data-user-id": user.id, "data-username": user.username },
    h("th", { scope: "row", class: "wrap" }, user.username, self ? h("span", { class: "chip confirmed you" }, "you") : null),
    h("td", {}, select),
    h("td", { class: "wide-col" }, user.created_at ? h("time", { datetime: user.created_at }, formatDate(user.created_at)) : "—"),
    h("td", { class: "wide-col" }, user.last_login_at ? h("time", { datetime: user.last_login_at }, formatDate(user.last_login_at)) : "never"),
    h("td", { class: "actions-cell" },
      h("button", { type: "button", onclick: () => resetPassword(user), "aria-label": `New password for ${user.username}` },
        icon("key"), h("span", { class: "wide-text" }, "New password…")),
      h("button", {
        type: "button", class: "danger icon-btn", onclick: () => remove(user), "aria-label": `Remove ${user.username}`,
        title: `Remove ${user.username}`,
      }, icon("trash"))));
}

function listPanel() {
  return h("section", { class: "panel", id: "users-panel", "aria-labelledby": "users-title" },
    h("h2", { id: "users-title" }, "Everyone who can sign in", h("span", { class: "h-count" }, String(users.length))),
    h("div", { class: "table-wrap" },
      h("table", { class: "data-table", id: "users" },
        h("caption", { class: "sr-only" }, "Users"),
        h("thead", {}, h("tr", {},
          h("th", { scope: "col" }, "Username"),
          h("th", { scope: "col" }, "Role"),
          h("th", { scope: "col", class: "wide-col" }, "Added"),
          h("th", { scope: "col", class: "wide-col" }, "Last sign-in"),
          h("th", { scope: "col" }, h("span", { class: "sr-only" }, "Actions")))),
        h("tbody", {}, users.map(userRow)))));
}

function renderList() {
  const count = document.getElementById("user-count");
  if (count) clear(count, plural(users.length, "user"));
  document.getElementById("users-panel")?.replaceWith(listPanel());
}

async function main() {
  me = await mountHeader("users");
  if (!me) return;
  const head = h("div", { class: "page-head" }, h("h1", {}, "Users"), h("span", { class: "muted", id: "user-count" }));
  if (!hasRole(me, "admin")) {
    clear(app, head, roleNotice("Only admins can manage users"));
    return;
  }
  clear(app, head, h("div", { class: "stack-lg" }, listPanel(), addForm()));
  await load();
}

main();
