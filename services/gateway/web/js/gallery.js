// The gallery: every photo as a thumbnail with the names on it; search by people, unknown faces, dates.
import {
  PAGE_SIZE, STATUS_TEXT, UNFINISHED, api, clear, coalesce, faceLabel, fetchGalleryPage, h, icon, imgOr, labelChip,
  liveEventsUp, loadPeople, mountHeader, onLiveEvents, peopleList, plural, readSearch, searchParams, searchQuery,
  showError,
} from "./common.js";
import "./gallery-select.js"; // select photos, change their faces together (issue 12, item 6)

const app = document.getElementById("app");
let people = [];
let pollTimer = null;
const NEW_PHOTOS_MS = 10_000; // without live events: how often a visible gallery asks whether others uploaded photos
const NEW_PHOTOS_LIMIT = 20; // photos in that answer: the count is exact up to this many, then "20+"
// The newest photos of the search shown when it was last rendered: {key, at, ids}: their upload time and
// the ids of those uploaded at that very millisecond (an import can add several at once).
let newest = null;
let newTimer = null;
let refreshWhenShown = false; // photos were still being read when the tab was hidden
let shown = { ids: new Set(), unfinished: false }; // the photos on the page, for deciding what an event changes

function readState() {
  return readSearch(location.search);
}

function writeState(state, { replace = false } = {}) {
  const query = searchQuery(state, { withPage: true });
  const url = query ? `/?${query}` : "/";
  if (replace) history.replaceState(null, "", url);
  else history.pushState(null, "", url);
}

function go(change) {
  const state = { ...readState(), page: 1, ...change };
  writeState(state);
  render();
}

function searchBar(state) {
  const input = h("input", {
    type: "search", id: "person-search", list: "people-names", autocomplete: "off",
    placeholder: state.people.length ? "Add another name…" : "Search by name…",
    "aria-label": "Search photos by person name",
  });
  const addName = (value) => {
    const name = value.trim();
    if (!name) return;
    // An exact name, else the one person whose name contains what was typed ("ben" -> "Ben Affleck").
    const typed = name.toLowerCase();
    const partial = people.filter((p) => p.name.toLowerCase().includes(typed));
    const known = people.find((p) => p.name.toLowerCase() === typed) || (partial.length === 1 ? partial[0] : null);
    const chosen = known ? known.name : name;
    if (!state.people.some((p) => p.toLowerCase() === chosen.toLowerCase())) go({ people: [...state.people, chosen] });
    else input.value = "";
  };
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter") {
      event.preventDefault();
      addName(input.value);
    } else if (event.key === "Backspace" && !input.value && state.people.length) {
      go({ people: state.people.slice(0, -1) });
    }
  });
  // Picking a suggestion from the list.
  input.addEventListener("change", () => {
    if (people.some((p) => p.name.toLowerCase() === input.value.trim().toLowerCase())) addName(input.value);
  });
  const tokens = h("div", { class: "tokens", onclick: () => input.focus() },
    icon("search"),
    state.people.map((name) =>
      h("span", { class: "chip token" }, h("span", {}, name),
        h("button", {
          type: "button", title: `Remove ${name}`, "aria-label": `Remove ${name} from the search`,
          onclick: (event) => {
            event.stopPropagation();
            go({ people: state.people.filter((p) => p !== name) });
          },
        }, "×"))),
    input,
  );
  tokens.firstChild.classList.add("lens");
  const unknown = h("button", {
    type: "button", class: "toggle", "aria-pressed": String(state.unknown),
    title: "Only photos with faces nobody has named",
    onclick: () => go({ unknown: !state.unknown }),
  }, icon("question"), "Unknown faces");
  const from = h("input", { type: "date", value: state.from, "aria-label": "Uploaded from", max: state.to || null });
  const to = h("input", { type: "date", value: state.to, "aria-label": "Uploaded until", min: state.from || null });
  from.addEventListener("change", () => go({ from: from.value }));
  to.addEventListener("change", () => go({ to: to.value }));
  const filtered = state.people.length || state.unknown || state.from || state.to;
  return h("form", { class: "searchbar", role: "search", onsubmit: (e) => e.preventDefault() },
    tokens,
    unknown,
    h("div", { class: "dates" },
      h("label", { class: "field" }, "Uploaded from", from),
      h("label", { class: "field" }, "until", to),
    ),
    filtered ? h("button", { type: "button", class: "ghost", onclick: () => go({ people: [], unknown: false, from: "", to: "" }) },
      icon("x"), "Clear") : null,
  );
}

// The photo page gets the search and the photo's place in it, to step to the previous and next photo.
function photoHref(imageId, state, position) {
  const q = new URLSearchParams({ id: imageId, at: String(position) });
  const search = searchQuery(state);
  if (search) q.set("in", search);
  return `/photo.html?${q}`;
}

function namesOn(image, state) {
  const chips = [];
  let unknown = 0;
  const seen = new Set();
  for (const face of image.faces) {
    const label = faceLabel(face);
    if (label.kind === "unknown") {
      unknown += 1;
      continue;
    }
    const key = `${face.person.id}:${label.kind}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const searched = state.people.some((p) => p.toLowerCase() === face.person.name.toLowerCase());
    chips.push(labelChip(face, searched ? {} : {
      role: "button", tabindex: "0", style: { cursor: "pointer" },
      title: `${label.title} — click to show only photos of ${face.person.name}`,
      onclick: () => go({ people: [...state.people, face.person.name] }),
      onkeydown: (event) => { if (event.key === "Enter") go({ people: [...state.people, face.person.name] }); },
    }));
  }
  if (unknown) chips.push(h("span", { class: "chip unknown", title: "Faces nobody has named yet" }, `${unknown} unknown`));
  if (!chips.length) {
    const none = image.status === "done" ? "No faces found" : image.status === "failed" ? "" : "Looking for faces…";
    if (none) chips.push(h("span", { class: "none" }, none));
  }
  return chips;
}

function card(image, state, position) {
  const unfinished = UNFINISHED.has(image.status);
  const placeholder = h("div", { class: "placeholder" },
    unfinished ? h("span", { class: "spinner" }) : icon("image"));
  const thumb = unfinished && image.status !== "classifying"
    ? placeholder
    : imgOr(image.thumbnail_url, image.filename || "photo", placeholder);
  const title = image.filename || "Photo";
  return h("article", { class: "card", "data-image-id": image.id },
    h("a", { class: "thumb", href: photoHref(image.id, state, position), title, "aria-label": `Open ${title}` },
      thumb,
      unfinished ? h("span", { class: "badge" }, h("span", { class: "spinner" }), STATUS_TEXT[image.status]) : null,
      image.status === "failed" ? h("span", { class: "badge failed", title: image.error || "" }, "Failed") : null,
      image.face_count ? h("span", { class: "count", title: plural(image.face_count, "face") },
        `${image.face_count} ☺`) : null,
    ),
    h("div", { class: "names" }, namesOn(image, state)),
  );
}

function emptyState(state) {
  const filtered = state.people.length || state.unknown || state.from || state.to;
  if (!filtered) {
    return h("div", { class: "empty" }, icon("photos"), h("h2", {}, "No photos yet"),
      h("p", {}, "Upload some photos and Facetag finds the faces in them."),
      h("a", { class: "button primary needs-editor", href: "/upload.html" }, icon("upload"), "Upload photos"));
  }
  const unknownNames = state.people.filter((n) => !people.some((p) => p.name.toLowerCase() === n.toLowerCase()));
  const why = unknownNames.length
    ? `Nobody is called ${unknownNames.map((n) => `“${n}”`).join(" or ")}.`
    : "Try fewer names or a wider date range.";
  // Suggest people whose names contain what was typed.
  const suggestions = people.filter((p) => unknownNames.some((n) => p.name.toLowerCase().includes(n.toLowerCase())));
  const instead = (person) => state.people.map((n) => (unknownNames.includes(n)
    && person.name.toLowerCase().includes(n.toLowerCase()) ? person.name : n));
  return h("div", { class: "empty" }, icon("search"), h("h2", {}, "No photos match"), h("p", {}, why),
    suggestions.length ? h("p", {}, "Did you mean ",
      suggestions.slice(0, 6).map((p) => [h("button", {
        type: "button", class: "chip token", style: { cursor: "pointer" }, onclick: () => go({ people: instead(p) }),
      }, p.name), " "]), "?") : null);
}

// Previous and Next: pages follow the cursor each page answers with, so no page costs more than the first.
function pager(state, page) {
  const more = Boolean(page.next_cursor);
  if (state.page <= 1 && !more) return null;
  const to = (number) => () => {
    writeState({ ...state, page: number });
    render();
    window.scrollTo({ top: 0 });
  };
  return h("nav", { class: "pager", "aria-label": "Pages" },
    h("button", { type: "button", disabled: state.page <= 1, onclick: to(state.page - 1), "aria-label": "Previous page" },
      icon("back"), "Previous"),
    h("span", { class: "muted", id: "page-of" }, `Page ${state.page}`),
    h("button", { type: "button", disabled: !more, onclick: to(state.page + 1), "aria-label": "Next page" },
      "Next", icon("next")),
  );
}

let renderSeq = 0;
async function render({ quiet = false } = {}) {
  const seq = ++renderSeq;
  clearTimeout(pollTimer);
  const state = readState();
  document.title = state.people.length ? `${state.people.join(" + ")} · Facetag` : "Photos · Facetag";
  let page;
  try {
    page = await fetchGalleryPage(state, state.page);
  } catch (err) {
    showError(err);
    return;
  }
  if (seq !== renderSeq) return; // a newer search started meanwhile
  if (state.page > 1 && (page === null || page.items.length === 0)) {
    // A page whose start is not known here (a link from another tab), or emptied by deletes: the first page.
    writeState({ ...state, page: 1 }, { replace: true });
    return render();
  }
  const focused = document.activeElement?.id === "person-search";
  const grid = h("section", { class: "grid", id: "gallery", "aria-label": "Photos" }, page.items.map((image, n) => card(image, state, (state.page - 1) * PAGE_SIZE + n)));
  const head = h("div", { class: "page-head" },
    h("h1", {}, state.people.length ? `Photos of ${state.people.join(" and ")}` : "Photos"),
    h("span", { class: "spacer" }),
    h("a", { class: "button primary needs-editor", href: "/upload.html" }, icon("upload"), "Upload"),
  );
  const first = (state.page - 1) * PAGE_SIZE + 1;
  const whole = state.page === 1 && !page.next_cursor;
  const count = h("p", { class: "result-line", id: "result-count" }, !page.items.length ? ""
    : whole ? plural(page.items.length, "photo")
      : `Photos ${first}–${first + page.items.length - 1}${page.next_cursor ? " and more" : ""}, newest first`);
  if (!quiet || !app.children.length) {
    const slot = h("div", { id: "new-photos-slot", role: "status", "aria-live": "polite" });
    clear(app, head, searchBar(state), slot, count, page.items.length ? grid : emptyState(state), pager(state, page));
  } else {
    app.querySelector("#gallery")?.replaceWith(grid);
    app.querySelector("#result-count")?.replaceWith(count);
  }
  if (focused) document.getElementById("person-search")?.focus();
  shown = { ids: new Set(page.items.map((i) => i.id)), unfinished: page.items.some((i) => UNFINISHED.has(i.status)) };
  if (shown.unfinished && !liveEventsUp()) {
    // No event stream: ask again soon. A hidden tab does not ask; it catches up when it is shown again.
    pollTimer = setTimeout(() => {
      if (!liveEventsUp()) document.hidden ? (refreshWhenShown = true) : render({ quiet: true });
    }, 2500);
  }
  // The first page shows the newest photos, so what it shows is what "new" is counted from; another
  // page asks for the newest once. A quiet refresh of another page leaves the count as it was.
  if (state.page === 1) rememberNewest(state, page);
  else if (!quiet || newest?.key !== searchQuery(state)) await fetchNewest(state, seq);
}

// ---- "N new photos — show" (issue 12, item 10) ---------------------------------------------------
// When a photo.queued event arrives (or, without the event stream, every NEW_PHOTOS_MS) a visible gallery
// asks for the photos of its search uploaded since the newest one it showed (usually just that one: a
// cheap question), and never while the tab is hidden.

function rememberNewest(state, page) {
  const first = page.items[0];
  const at = first?.uploaded_at || null;
  newest = { key: searchQuery(state), at, ids: new Set(page.items.filter((i) => i.uploaded_at === at).map((i) => i.id)) };
  showNewPhotos(0);
  scheduleNewCheck();
}

async function fetchNewest(state, seq) {
  try {
    const page = await api("/v1/images", { params: { ...searchParams(state), limit: NEW_PHOTOS_LIMIT } });
    if (seq === renderSeq) rememberNewest(state, page);
  } catch (err) {
    newest = null; // asked again at the next render
  }
}

function scheduleNewCheck() {
  clearTimeout(newTimer);
  newTimer = document.hidden || liveEventsUp() ? null : setTimeout(checkNew, NEW_PHOTOS_MS);
}

async function checkNew() {
  newTimer = null;
  const state = readState();
  if (document.hidden || !newest || newest.key !== searchQuery(state)) return;
  const seen = newest;
  // Photos uploaded at or after the newest one shown (the user's own "from" is earlier still).
  const params = { ...searchParams(state), limit: NEW_PHOTOS_LIMIT };
  if (seen.at) params.uploaded_from = seen.at;
  let page;
  try {
    page = await api("/v1/images", { params });
  } catch (err) {
    scheduleNewCheck(); // a blip (restart, network): no message, just ask again later
    return;
  }
  if (newest !== seen || document.hidden) return; // rendered again meanwhile, or hidden: that decides
  // The photos shown are among them unless they were deleted. More than one answer's worth: the shown
  // ones (the oldest) are past its end, and every photo in it is new.
  const more = Boolean(page.next_cursor);
  showNewPhotos(page.items.filter((i) => !seen.ids.has(i.id)).length, more);
  scheduleNewCheck();
}

function showNewPhotos(count, more = false) {
  const slot = document.getElementById("new-photos-slot");
  if (!slot) return;
  if (count <= 0) {
    slot.replaceChildren();
    return;
  }
  const text = more ? `${count}+ new photos — show` : `${plural(count, "new photo")} — show`;
  const button = slot.querySelector("#new-photos");
  if (button) {
    button.lastChild.textContent = text;
    return;
  }
  clear(slot, h("button", {
    type: "button", class: "new-photos", id: "new-photos", title: "Show the photos uploaded since this page was loaded",
    onclick: showNew,
  }, icon("refresh"), h("span", {}, text)));
}

// The first page of the same search: the filters stay, the new photos are on top.
async function showNew() {
  const state = readState();
  if (state.page !== 1) writeState({ ...state, page: 1 });
  await render();
  window.scrollTo({ top: 0 });
  // The focus was on the button, which is gone: put it on the newest photo, where the user goes next.
  document.querySelector("#gallery .card a.thumb")?.focus();
}

// ---- live events (issue 13, item 5): the page changes when the photos on it do ----------------------
const refreshShown = coalesce(() => (document.hidden ? (refreshWhenShown = true) : render({ quiet: true })));
const checkNewSoon = coalesce(checkNew, 1000);

function followLiveEvents() {
  onLiveEvents(["photo.queued", "photo.detected", "photo.done", "photo.failed", "face.named", "person.changed"],
    (event) => {
      if (event.kind === "photo.queued") checkNewSoon();
      else if (event.kind === "person.changed" || shown.ids.has(event.image_id)) refreshShown(); // a name on it
    },
    (why) => {
      // Subscribed after the page was read: a photo may have finished in between. Back after a break, or
      // told to resync: anything may have. Down: the polls above take over.
      if (why === "ready" && !shown.unfinished) return;
      refreshShown();
      if (why !== "ready") checkNew();
    });
}

async function start() {
  mountHeader("photos");
  followLiveEvents();
  try {
    people = await loadPeople();
  } catch (err) {
    showError(err);
  }
  peopleList("people-names", people);
  window.addEventListener("popstate", () => render());
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      clearTimeout(newTimer);
      newTimer = null;
    } else {
      if (refreshWhenShown) {
        refreshWhenShown = false;
        render({ quiet: true });
      }
      checkNew(); // back on the tab: say at once what came meanwhile
    }
  });
  await render();
}

start();
