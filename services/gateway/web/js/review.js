// Review: the faces whose answer teaches the model most (GET /v1/review), one at a time, answered with one key:
// Y yes, N not this person, T (or /) to type a name (Enter sends), S skip, U undo the last answer. Each answer
// is one POST /v1/review/{face}; its action's undo_url takes it back, and the face comes back to be answered
// again. Viewers see the queue but cannot answer.
import {
  api, clear, h, hasRole, icon, imgOr, loadPeople, mountHeader, peopleList, plural, showError, toast,
} from "./common.js";

const PAGE = 20;
const LOW = 3; // faces left in hand when the next page is asked for
const app = document.getElementById("app");
let user = null;
let editor = false;
let people = [];
const queue = []; // review items in hand, the one shown first
const seen = new Set(); // face ids shown here already (answered or skipped): not shown again from a later page
let cursor = null; // the next page starts after the last face read (skipped ones stay in the server's queue)
let exhausted = false; // the server has nothing more
let loading = null;
let busy = false; // an answer is on its way: keys wait
const answered = []; // newest last: {item, action} for U

function personFaces(person) {
  return people.find((p) => p.id === person?.id);
}

// The question, in words: "Is this Ben Affleck? 54% sure — borderline", "Ben Affleck or Matt Damon?",
// "Only 2 photos of Madonna so far".
function question(item) {
  const guess = item.guess?.name;
  const pct = item.confidence === null || item.confidence === undefined ? null : Math.round(item.confidence * 100);
  const sure = pct === null ? "" : `${pct}% sure`;
  // No guess: the model takes it for nobody it knows, but not by far; it asks about whoever came nearest.
  if (!guess && item.nearest) {
    return { title: `Is this ${item.nearest.name}?`,
             detail: `The model thinks it is nobody it knows${sure ? `, ${sure}` : ""}, but ${item.nearest.name} comes closest` };
  }
  if (!guess) return { title: "Who is this?", detail: `The model thinks it is nobody it knows${sure ? `, ${sure}` : ""} — borderline` };
  if (item.reason === "close_call" && item.runner_up) {
    return { title: `${guess} or ${item.runner_up.name}?`, detail: `The model leans to ${guess}${sure ? `, ${sure}` : ""}.` };
  }
  if (item.reason === "few_examples") {
    const known = personFaces(item.guess);
    const count = known ? known.image_count : null;
    return {
      title: `Is this ${guess}?`,
      detail: count !== null ? `Only ${plural(count, "photo")} of ${guess} so far${sure ? ` — ${sure}` : ""}`
        : `The model knows ${guess} from few photos${sure ? ` — ${sure}` : ""}`,
    };
  }
  return { title: `Is this ${guess}?`, detail: `${sure}${sure ? " — " : ""}borderline` };
}

async function fill() {
  if (loading) return loading;
  loading = (async () => {
    // A page may hold only faces already seen here (e.g. answered elsewhere meanwhile): read on, a few times.
    for (let tries = 0; tries < 5 && !exhausted && queue.length <= LOW; tries += 1) {
      let page;
      try {
        page = await api("/v1/review", { params: { cursor, limit: PAGE } });
      } catch (err) {
        showError(err);
        return;
      }
      const fresh = page.items.filter((item) => !seen.has(item.face.id) && !queue.some((q) => q.face.id === item.face.id));
      queue.push(...fresh);
      cursor = page.next_cursor;
      if (!cursor) exhausted = true;
    }
  })().finally(() => { loading = null; });
  return loading;
}

function keyButton(key, text, onclick, extra = {}) {
  return h("button", { type: "button", "data-key": key.toLowerCase(), onclick, ...extra },
    h("kbd", { "aria-hidden": "true" }, key), h("span", {}, text));
}

function answerBox(item) {
  const input = h("input", {
    type: "text", id: "review-name", list: "review-people", maxlength: "100", autocomplete: "off",
    placeholder: "Someone else? Type a name", "aria-label": "Who is it? Type a name, then Enter",
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      const name = input.value.trim();
      if (name) send(item, { answer: "name", name });
    } else if (event.key === "Escape") {
      event.preventDefault();
      input.value = "";
      input.blur();
    }
  });
  const guess = item.nearest?.name;
  return h("div", { class: "review-answers", id: "review-answers" },
    h("div", { class: "review-keys" },
      guess ? keyButton("Y", `Yes, ${guess}`, () => send(item, { answer: "yes" }), { class: "confirm", id: "review-yes" })
        : keyButton("Y", "Right, nobody I know", () => send(item, { answer: "unknown" }), { class: "confirm", id: "review-yes" }),
      guess ? keyButton("N", `Not ${guess}`, () => send(item, { answer: "no" }), { class: "danger", id: "review-no" }) : null,
      keyButton("S", "Skip", skip, { id: "review-skip" }),
      keyButton("U", "Undo", undo, { id: "review-undo", disabled: !answered.length }),
    ),
    h("label", { class: "review-type", for: "review-name" },
      h("kbd", { "aria-hidden": "true", title: "Press T or / to type a name" }, "T"), input),
  );
}

function render() {
  const item = queue[0];
  if (!item) {
    clear(app, head(),
      h("div", { class: "empty", id: "review-empty" }, icon("check"),
        h("h2", {}, "Nothing to review — the model is sure of everything it has seen"),
        h("p", {}, "New photos may bring new questions."),
        answered.length && editor ? keyButton("U", "Undo the last answer", undo, { id: "review-undo" }) : null,
        h("a", { class: "button", href: "/" }, icon("photos"), "Go to photos")));
    return;
  }
  const q = question(item);
  const chip = imgOr(item.face.chip_url, item.guess ? `Face the model takes for ${item.guess.name}` : "Face",
    h("div", { class: "noface review-chip" }, "…"), { class: "review-chip", width: 240, height: 240 });
  clear(app, head(),
    h("article", { class: "review-card", id: "review-card", "data-face-id": item.face.id, "data-reason": item.reason },
      h("div", { class: "review-pictures" },
        chip,
        h("a", { class: "review-photo", href: item.photo_url, title: "Open the whole photo" },
          imgOr(item.thumbnail_url, "The photo this face is in", h("div", { class: "noface" }, "…")),
          h("span", { class: "small" }, "Open the photo"))),
      h("div", { class: "review-question" },
        h("h2", { id: "review-title" }, q.title),
        h("p", { class: "muted", id: "review-detail" }, q.detail),
        editor ? answerBox(item)
          : h("p", { class: "muted small", id: "review-readonly" }, "Only editors can answer; you can look through the queue."),
        editor ? null : keyButton("S", "Next", skip, { id: "review-skip" })),
    ));
}

function head() {
  return h("div", { class: "page-head" },
    h("h1", {}, "Review"),
    h("span", { class: "muted", id: "review-left" },
      queue.length ? `${plural(queue.length, "face")}${exhausted ? "" : " or more"} to go` : ""),
    h("span", { class: "spacer" }),
    editor ? h("span", { class: "muted small review-help" }, "Y yes · N no · T type a name · S skip · U undo") : null);
}

async function next() {
  if (!queue.length && !exhausted) {
    clear(app, head(), h("div", { class: "empty" }, h("span", { class: "spinner" })));
    await fill();
  }
  render();
  if (queue.length <= LOW && !exhausted) fill().then(refreshHead); // the next page, while this face is answered
}

function refreshHead() {
  app.querySelector(".page-head")?.replaceWith(head());
}

async function send(item, body) {
  if (busy || !editor || queue[0] !== item) return;
  busy = true;
  let result;
  try {
    result = await api(`/v1/review/${encodeURIComponent(item.face.id)}`, { method: "POST", body });
  } catch (err) {
    busy = false;
    showError(err);
    return;
  }
  seen.add(item.face.id);
  queue.shift();
  answered.push({ item, action: result.action });
  if (body.answer === "name" && !people.some((p) => p.name.toLowerCase() === body.name.toLowerCase())) {
    loadPeople().then((list) => { people = list; peopleList("review-people", people); }).catch(() => {});
  }
  toast(result.action.summary);
  busy = false;
  await next();
}

async function skip() {
  if (busy || !queue.length) return;
  const item = queue.shift();
  seen.add(item.face.id);
  await next();
}

async function undo() {
  if (busy || !editor || !answered.length) return;
  busy = true;
  const last = answered[answered.length - 1];
  try {
    await api(last.action.undo_url, { method: "POST" });
  } catch (err) {
    busy = false;
    showError(err);
    return;
  }
  answered.pop();
  queue.unshift(last.item); // back to that face, to answer it again
  toast(`Undone: ${last.action.summary}`);
  busy = false;
  render();
}

function typing(target) {
  return target instanceof HTMLElement && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
}

document.addEventListener("keydown", (event) => {
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
  if (event.repeat) return; // a key held down answers one face, not every face after it
  if (document.querySelector("dialog[open]")) return;
  const key = event.key.toLowerCase();
  if (key === "s") skip();
  else if (!editor) return;
  else if (key === "y" && queue[0]) send(queue[0], { answer: queue[0].nearest ? "yes" : "unknown" });
  else if (key === "n" && queue[0]?.nearest) send(queue[0], { answer: "no" });
  else if (key === "u") undo();
  else if (key === "t" || key === "/") {
    const input = document.getElementById("review-name");
    if (!input) return;
    input.focus();
  } else return;
  event.preventDefault(); // the key is an answer, not a letter typed into what gets the focus next
});

async function main() {
  const [me, list] = await Promise.all([
    mountHeader("review"),
    loadPeople().catch((err) => {
      showError(err);
      return [];
    }),
  ]);
  user = me;
  editor = hasRole(user, "editor");
  people = list;
  peopleList("review-people", people);
  await fill();
  render();
}

main();
