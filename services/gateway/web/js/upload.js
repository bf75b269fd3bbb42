// Upload: several photos at once, progress per file, then live status until each one is done.
import {
  STATUS_TEXT, api, clear, csrfHeaders, faceLabel, goSignIn, h, hasRole, icon, liveEventsUp, mountHeader, onLiveEvents,
  plural, roleNotice, toast,
} from "./common.js";

const PARALLEL = 2; // uploads at a time; the rest wait their turn
const POLL_MS = 1200; // without live events: how often the photos being read are asked for
const app = document.getElementById("app");
const items = []; // {file, row, state: waiting|uploading|processing|done|failed|duplicate, image}
let active = 0;
let pollTimer = null;
let refusedShown = false; // the server's "not allowed" message is shown once, not once per photo
const movedEarly = new Set(); // photos an event was about before their upload's answer arrived

function row(item) {
  const preview = item.file.type.startsWith("image/") && item.file.size < 40 * 1024 * 1024
    ? h("img", { src: URL.createObjectURL(item.file), alt: "", loading: "lazy" })
    : h("div", { class: "noface" }, icon("image"));
  item.stateEl = h("span", { class: "state" }, "Waiting");
  item.whoEl = h("span", { class: "who", hidden: true });
  item.linkEl = h("span");
  item.bar = h("div");
  item.barBox = h("div", { class: "bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-label": `${item.file.name} progress` }, item.bar);
  return h("li", { class: "upload", "data-file": item.file.name },
    preview,
    h("div", { style: { minWidth: "0" } },
      h("div", { class: "fname", title: item.file.name }, item.file.name),
      item.stateEl,
      item.whoEl),
    item.linkEl,
    item.barBox,
  );
}

function show(item, text, { progress = null, kind = "", spinner = false } = {}) {
  clear(item.stateEl, spinner ? h("span", { class: "spinner" }) : null, text);
  item.stateEl.className = `state ${kind}`;
  item.barBox.className = `bar ${kind}`;
  if (progress !== null) {
    item.bar.style.width = `${Math.round(progress * 100)}%`;
    item.barBox.setAttribute("aria-valuenow", String(Math.round(progress * 100)));
  }
  if (item.image && !item.linkEl.firstChild) {
    item.linkEl.append(h("a", { class: "button", href: `/photo.html?id=${encodeURIComponent(item.image.id)}` }, "Open"));
  }
  summary();
}

// Upload pipeline progress: bytes sent is the first 60%, then each pipeline stage moves it on.
const STAGE_PROGRESS = { queued: 0.7, detecting: 0.8, classifying: 0.92, done: 1, failed: 1 };

// Who is in a finished photo, as the uploader wants to hear it: "Ben Affleck, Madonna, 1 unknown".
// A model's guess is named like a person's word (its title says how sure); the rest are counted.
function showWho(item) {
  const names = new Map(); // person id -> {name, title}, in the order of the faces
  let unknown = 0;
  for (const face of item.image.faces || []) {
    const label = faceLabel(face);
    if (label.kind === "unknown" || !face.person) unknown += 1;
    else if (!names.has(face.person.id)) names.set(face.person.id, { name: face.person.name, title: label.title });
  }
  const parts = [...names.values()].map((p) => h("span", { class: "name", title: p.title }, p.name));
  if (unknown) parts.push(h("span", { class: "unknown-count" }, `${unknown} unknown`));
  clear(item.whoEl, parts.flatMap((part, n) => (n ? [", ", part] : [part])));
  item.whoEl.hidden = !parts.length;
}

function showImage(item) {
  const image = item.image;
  if (image.status === "done") {
    item.state = "done";
    const found = image.face_count ? `${plural(image.face_count, "face")} found` : "no faces found";
    show(item, `${item.duplicate ? "Already uploaded" : "Done"} · ${found}`, { progress: 1, kind: "done" });
    showWho(item);
  } else if (image.status === "failed") {
    item.state = "failed";
    show(item, `Failed: ${image.error || "unknown error"}`, { progress: 1, kind: "failed" });
  } else {
    item.state = "processing";
    show(item, `${STATUS_TEXT[image.status]}…`, { progress: STAGE_PROGRESS[image.status], spinner: true });
  }
}

function send(item) {
  active += 1;
  item.state = "uploading";
  show(item, "Uploading 0%", { progress: 0, spinner: true });
  const form = new FormData();
  form.append("file", item.file, item.file.name);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", "/v1/images");
  xhr.setRequestHeader("Accept", "application/json");
  for (const [name, value] of Object.entries(csrfHeaders("POST"))) xhr.setRequestHeader(name, value);
  xhr.upload.addEventListener("progress", (event) => {
    if (!event.lengthComputable) return;
    const part = event.loaded / event.total;
    show(item, `Uploading ${Math.round(part * 100)}%`, { progress: part * 0.6, spinner: true });
  });
  xhr.addEventListener("load", () => {
    active -= 1;
    let body = null;
    try {
      body = JSON.parse(xhr.responseText);
    } catch (err) {
      body = null;
    }
    if (xhr.status === 200 || xhr.status === 202) {
      item.image = body;
      item.duplicate = xhr.status === 200;
      showImage(item);
      if (movedEarly.delete(body.id) && item.state === "processing") refreshItem(item);
    } else if (xhr.status === 401) {
      item.state = "failed";
      show(item, "Not uploaded: you are signed out", { progress: 1, kind: "failed" });
      goSignIn();
    } else {
      if (xhr.status === 403 && !refusedShown) {
        refusedShown = true;
        toast(body?.message || "You may not upload photos.", "error", 6000);
      }
      item.state = "failed";
      show(item, body?.message || `Upload failed (${xhr.status})`, { progress: 1, kind: "failed" });
    }
    next();
  });
  xhr.addEventListener("error", () => {
    active -= 1;
    item.state = "failed";
    show(item, "Upload failed: Facetag did not answer", { progress: 1, kind: "failed" });
    next();
  });
  xhr.send(form);
}

function next() {
  while (active < PARALLEL) {
    const item = items.find((i) => i.state === "waiting");
    if (!item) break;
    send(item);
  }
  schedulePoll();
}

async function refreshItem(item) {
  try {
    item.image = await api(`/v1/images/${encodeURIComponent(item.image.id)}`);
    showImage(item);
  } catch (err) {
    if (err.status === 404) {
      item.state = "failed";
      show(item, "The photo was deleted", { kind: "failed" });
    }
  }
}

const processing = () => items.filter((i) => i.state === "processing");

function schedulePoll() {
  if (pollTimer || liveEventsUp() || !processing().length) return;
  pollTimer = setTimeout(async () => {
    pollTimer = null;
    if (liveEventsUp()) return;
    await Promise.all(processing().map(refreshItem));
    schedulePoll();
  }, POLL_MS);
}

// Live events (issue 13, item 5): a photo's line changes when it does. Without the stream, the poll above.
onLiveEvents(["photo.detected", "photo.done", "photo.failed"], (event) => {
  const item = items.find((i) => i.image?.id === event.image_id);
  if (item) {
    if (item.state === "processing") refreshItem(item);
  } else if (items.some((i) => i.state === "uploading")) {
    movedEarly.add(event.image_id);
  }
}, (why) => {
  if (why === "down") schedulePoll();
  else processing().forEach(refreshItem); // subscribed late, back after a break, or resync: something may have moved
});

function summary() {
  const el = document.getElementById("upload-summary");
  if (!el || !items.length) return;
  const done = items.filter((i) => i.state === "done").length;
  const failed = items.filter((i) => i.state === "failed").length;
  const faces = items.reduce((n, i) => n + (i.state === "done" ? i.image.face_count : 0), 0);
  const finished = done + failed === items.length;
  clear(el,
    finished ? icon("check") : h("span", { class: "spinner" }),
    h("span", {}, `${done} of ${plural(items.length, "photo")} done`,
      failed ? `, ${failed} failed` : "", faces ? ` · ${plural(faces, "face")} found` : ""),
    h("span", { style: { flex: "1" } }),
    finished && done ? h("a", { class: "button primary", href: "/" }, icon("photos"), "See them in Photos") : null,
  );
}

function add(files) {
  const list = document.getElementById("uploads");
  for (const file of files) {
    const item = { file, state: "waiting", image: null, duplicate: false };
    items.push(item);
    list.append(row(item));
  }
  summary();
  next();
}

function render() {
  const input = h("input", {
    type: "file", id: "file-input", multiple: true, accept: "image/*,.heic,.tif,.tiff", class: "sr-only",
    "aria-label": "Choose photos to upload",
  });
  input.addEventListener("change", () => {
    add(Array.from(input.files || []));
    input.value = "";
  });
  const zone = h("label", { class: "dropzone", for: "file-input", tabindex: "0" },
    icon("upload"),
    matchMedia("(pointer: coarse)").matches
      ? h("strong", {}, "Tap to choose photos")
      : h("strong", {}, "Drop photos here"),
    h("span", {}, matchMedia("(pointer: coarse)").matches ? "Pick several at once. " : "or click to choose several. ",
      "JPEG, PNG, WebP, BMP, TIFF or GIF; faces are found right after."),
  );
  zone.addEventListener("keydown", (event) => {
    if (event.key === "Enter" || event.key === " ") {
      event.preventDefault();
      input.click();
    }
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  for (const type of ["dragleave", "drop"]) zone.addEventListener(type, () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    add(Array.from(event.dataTransfer?.files || []).filter((f) => f.type.startsWith("image/") || !f.type));
  });
  clear(app,
    h("div", { class: "page-head" }, h("h1", {}, "Upload photos")),
    input,
    zone,
    h("div", { class: "upload-summary", id: "upload-summary", "aria-live": "polite" }),
    h("ul", { class: "uploads", id: "uploads", "aria-label": "Uploads" }),
  );
}

window.addEventListener("beforeunload", (event) => {
  if (items.some((i) => i.state === "uploading" || i.state === "waiting")) event.preventDefault();
});

async function main() {
  const user = await mountHeader("upload");
  if (user && !hasRole(user, "editor")) {
    clear(app, h("div", { class: "page-head" }, h("h1", {}, "Upload photos")),
      roleNotice("Only editors and admins can upload photos"));
    return;
  }
  render();
}

main();
