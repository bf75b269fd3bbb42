// Sign in: a username and a password, then on to the page that sent the user here (only ever a page
// of this site: a ``next`` that leads anywhere else leads to the photos instead).
import { ApiError, api, clear, csrfToken, h } from "./common.js";

const form = document.getElementById("login-form");
const username = document.getElementById("username");
const password = document.getElementById("password");
const submit = document.getElementById("sign-in");
const error = document.getElementById("login-error");
const signedInAs = document.getElementById("signed-in-as");

// Where to go after signing in: a path on this site ("/people.html?x=1"), never "//host", "/\host",
// another origin, or the sign-in page itself.
export function safeNext(raw) {
  if (typeof raw !== "string" || !raw.startsWith("/") || raw.startsWith("//")) return "/";
  // Browsers read "\" as "/" and drop tabs and line breaks, so "/\host" or "/\t/host" would leave the site.
  if (/[\\\u0000-\u001f\u007f\s]/.test(raw)) return "/";
  let url;
  try {
    url = new URL(raw, location.origin);
  } catch (err) {
    return "/";
  }
  if (url.origin !== location.origin || url.pathname === "/login.html") return "/";
  return url.pathname + url.search + url.hash;
}

const next = safeNext(new URLSearchParams(location.search).get("next"));

function showProblem(message) {
  clear(error, message);
  error.hidden = !message;
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const name = username.value.trim();
  if (!name || !password.value) {
    showProblem("Enter your username and password.");
    (name ? password : username).focus();
    return;
  }
  submit.disabled = true;
  clear(submit, h("span", { class: "spinner" }), "Signing in…");
  try {
    await api("/v1/auth/login", { method: "POST", body: { username: name, password: password.value }, signIn: false });
    location.replace(next);
    return;
  } catch (err) {
    showProblem(err instanceof ApiError ? err.message : String(err));
    password.value = "";
    password.focus();
  }
  submit.disabled = false;
  clear(submit, "Sign in");
});

// Already signed in (e.g. came back with the back button): say so, and offer the way on.
async function who() {
  if (!csrfToken()) return; // set together with the session cookie: without it, nobody is signed in here
  let user;
  try {
    user = await api("/v1/auth/me", { signIn: false });
  } catch (err) {
    return; // not signed in: the usual case here
  }
  if (!user?.username) return;
  clear(signedInAs,
    "You are signed in as ", h("strong", {}, user.username), ". ",
    h("a", { href: next }, "Continue"), " or sign in as someone else.");
  signedInAs.hidden = false;
}

who();
