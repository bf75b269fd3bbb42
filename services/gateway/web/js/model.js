// Model: the current model and its metrics, every version (with rollback), training with live progress,
// and which version each classifier worker serves. Admins only: the server checks the session's role.
import {
  api, ApiError, ask, clear, coalesce, formatDate, h, hasRole, icon, liveEventsUp, mountHeader, onLiveEvents, plural,
  refreshModelStatus, roleNotice, showError, toast,
} from "./common.js";

const JOB_STORE = "facetag.trainJob";
const JOB_POLL_MS = 700; // the job and preview polls run only without live events (job.changed says when)
const WORKERS_POLL_MS = 4000;

const app = document.getElementById("app");
const state = {
  models: null, // GET /v1/admin/models
  workers: null, // GET /v1/admin/workers -> items
  job: null, // the training job shown in the Train panel
  loadError: null, // why the page could not load
};
let jobTimer = null;
let jobCheck = null; // asks for the followed job once (what a job.changed event about it triggers)
let workersTimer = null;
let previewTimer = null;
const MODELS_PAGE = 200;
const PREVIEW_POLL_MS = 1500;
const PREVIEW_SAMPLES = 6;
const previews = new Map(); // candidate version -> GET /v1/admin/models/{version}/preview, or {error}

// ---- formatting -----------------------------------------------------------------------------------

function pct(value, digits = 1) {
  if (value === null || value === undefined || Number.isNaN(Number(value))) return "—";
  return `${(Number(value) * 100).toFixed(digits).replace(/\.0$/, "")}%`;
}

function ago(iso) {
  const seconds = Math.max(0, Math.round((Date.now() - new Date(iso).getTime()) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  const minutes = Math.round(seconds / 60);
  return minutes < 60 ? `${minutes} min ago` : formatDate(iso);
}

function currentManifest() {
  return state.models?.items.find((m) => m.current) || null;
}

// ---- panels ---------------------------------------------------------------------------------------

function pageHead() {
  return h("div", { class: "page-head" },
    h("h1", {}, "Model"),
    h("span", { class: "muted" }, "What Facetag learned from the names people gave"),
  );
}

function stat(label, value, detail) {
  return h("div", { class: "stat" },
    h("div", { class: "stat-value" }, value),
    h("div", { class: "stat-label" }, label),
    detail ? h("div", { class: "stat-detail" }, detail) : null);
}

function perPersonTable(perPerson) {
  const rows = Object.entries(perPerson || {}).sort((a, b) => a[0].localeCompare(b[0]));
  if (!rows.length) return null;
  return h("div", { class: "table-wrap" },
    h("table", { class: "metrics-table", id: "per-person" },
      h("caption", { class: "sr-only" }, "Per person, on held-out faces"),
      h("thead", {}, h("tr", {},
        h("th", { scope: "col" }, "Person"),
        h("th", { scope: "col", title: "Of the faces the model named this person, the share that were them" }, "Precision"),
        h("th", { scope: "col", title: "Of this person's held-out faces, the share the model found" }, "Recall"),
        h("th", { scope: "col", title: "Faces of this person kept out of training to test on" }, "Tested"))),
      h("tbody", {}, rows.map(([name, m]) => h("tr", {},
        h("th", { scope: "row", title: name }, name),
        h("td", {}, pct(m.precision, 0)),
        h("td", {}, pct(m.recall, 0)),
        h("td", {}, String(m.held_out ?? "—")))))));
}

function currentPanel() {
  const m = currentManifest();
  const panel = h("section", { class: "panel", id: "current", "aria-labelledby": "current-title" });
  if (!m) {
    return clear(panel,
      h("h2", { id: "current-title" }, "Current model"),
      h("p", { class: "none-yet" }, h("strong", {}, "No model yet."),
        " Name a few faces of at least two people (on a photo or on the People page), then press “Train now”."));
  }
  const metrics = m.metrics || {};
  const data = m.dataset || {};
  const heldOut = metrics.held_out_faces ?? data.held_out_faces;
  const notes = Array.isArray(metrics.notes) ? metrics.notes : [];
  return clear(panel,
    h("div", { class: "current-head" },
      h("h2", { id: "current-title" }, "Current model"),
      h("span", { class: "version-badge", id: "current-version" }, m.version),
      h("span", { class: "muted small" }, formatDate(m.created_at))),
    switchNotice(),
    h("p", { class: "muted small", style: { margin: "0 0 .7rem" } },
      `Learned from ${plural(data.known_faces ?? 0, "named face")} of ${plural(data.people ?? m.labels.length, "person", "people")}`,
      m.descriptor ? ` · ${m.descriptor} descriptors` : "",
      m.parent_version ? ` · follows ${m.parent_version}` : "",
      state.models.current?.reason ? ` · ${state.models.current.reason}` : ""),
    h("div", { class: "stat-row" },
      stat("Accuracy", pct(metrics.accuracy),
        heldOut === 0 ? "no faces held out to test" : heldOut !== undefined ? `on ${plural(heldOut, "held-out face")}` : null),
      stat("Unknown rejection", pct(metrics.unknown_rejection),
        metrics.unknown_rejection_faces !== undefined ? `of ${plural(metrics.unknown_rejection_faces, "stranger face")}` : null),
      stat("Known faces", pct(metrics.known_accuracy), "named right")),
    h("p", { class: "muted small explain" },
      "Accuracy: held-out faces named right (strangers counted right when called unknown). ",
      "Unknown rejection: faces of people the model should not know that it calls unknown."),
    perPersonTable(metrics.per_person),
    notes.length ? h("ul", { class: "notes muted small" }, notes.map((n) => h("li", {}, String(n)))) : null,
  );
}

// The settings ask for another descriptor network than the current model's: offer the switch job.
function switchNotice() {
  if (!state.models?.switch_needed) return null;
  const running = state.job && (state.job.state === "queued" || state.job.state === "running");
  return h("div", { class: "banner", id: "switch-network" },
    h("span", {}, `The library runs on ${state.models.library_network}; the settings ask for ${state.models.configured_network}. `,
      "Switching describes every face again and trains a model on the new network; the current model names new photos until it is ready. Names people gave are kept."),
    h("button", {
      type: "button", disabled: running,
      onclick: (event) => { event.currentTarget.disabled = true; startJob("/v1/admin/switch-network"); },
    }, `Switch to ${state.models.configured_network}`));
}

function trainPanel() {
  const running = state.job && (state.job.state === "queued" || state.job.state === "running");
  const force = h("input", { type: "checkbox", id: "train-force", disabled: running });
  const review = h("input", { type: "checkbox", id: "train-review", disabled: running });
  const button = h("button", {
    type: "button", class: "primary", id: "train-now", disabled: running,
    onclick: (event) => {
      event.currentTarget.disabled = true; // one job per press, even on a double click
      train(force.checked, review.checked);
    },
  }, running ? h("span", { class: "spinner" }) : icon("refresh"), running ? "Training…" : "Train now");
  return h("section", { class: "panel", id: "train", "aria-labelledby": "train-title" },
    h("h2", { id: "train-title" }, "Teach the model"),
    h("p", { class: "small", style: { marginTop: 0 } },
      "Training learns from every face a person named. The new version becomes current only if it does at least as well as the current one on the same held-out faces."),
    h("div", { class: "train-row" },
      button,
      h("label", { class: "check", for: "train-force" }, force,
        h("span", {}, h("strong", {}, "Force"),
          " — publish it even if it scores worse, or train although no names changed.")),
      h("label", { class: "check", for: "train-review" }, review,
        h("span", {}, h("strong", {}, "Review first"),
          " — keep the new version back and show what it would change before it goes live."))),
    jobView(state.job),
  );
}

function jobView(job) {
  const box = h("div", { id: "job", "aria-live": "polite" });
  if (!job) return box;
  if (job.state === "queued" || job.state === "running") {
    const fraction = Math.max(0, Math.min(1, Number(job.progress) || 0));
    return clear(box,
      h("div", { class: "job-line" },
        h("span", { class: "spinner" }),
        h("span", { class: "job-message" }, job.message || (job.state === "queued" ? "waiting for the trainer…" : "starting…")),
        h("span", { class: "muted" }, `${Math.round(fraction * 100)}%`)),
      h("div", { class: "job-bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(fraction * 100)), "aria-label": "Training progress" },
        h("div", { style: { width: `${fraction * 100}%` } })));
  }
  box.append(outcome(job));
  return box;
}

function outcome(job) {
  const r = job.result || {};
  if (job.kind === "switch_network" || job.kind === "redetect") {
    const ok = job.state === "done" && r.switched !== false;
    return h("div", { class: `banner ${ok ? "ok" : "error"} outcome`, "data-outcome": job.kind },
      h("div", {}, job.message || job.state));
  }
  if (job.state === "failed") {
    return h("div", { class: "banner error outcome", "data-outcome": "failed" },
      h("div", {}, h("strong", {}, "Training did not finish. "), job.message || "The trainer gave no reason."));
  }
  if (!r.version) {
    return h("div", { class: "banner info outcome", "data-outcome": "nothing" },
      h("div", {}, h("strong", {}, "Nothing new to learn. "),
        r.current_version
          ? `The named faces and settings are the same as when ${r.current_version} was trained, so ${r.current_version} stays current.`
          : (r.message || job.message || ""),
        h("div", { class: "small" }, "Name or correct more faces first, or tick “Force” to train anyway.")));
  }
  const ev = r.evaluation || {};
  const numbers = [];
  if (ev.candidate_accuracy !== undefined && ev.candidate_accuracy !== null) {
    numbers.push(`${r.version}: ${pct(ev.candidate_accuracy)}`);
  }
  if (ev.current_version) numbers.push(`${ev.current_version}: ${ev.current_accuracy === null || ev.current_accuracy === undefined ? "could not be scored" : pct(ev.current_accuracy)}`);
  const on = ev.held_out_faces !== undefined ? ` on the same ${plural(ev.held_out_faces, "held-out face")}` : "";
  const scores = numbers.length ? h("div", { class: "scores" }, `Accuracy ${numbers.join(" vs ")}${numbers.length > 1 ? on : ""}.`) : null;
  const seconds = r.seconds !== undefined ? h("div", { class: "small" }, `Took ${r.seconds} s.`) : null;
  if (r.evaluation?.held_for_review) {
    return h("div", { class: "banner info outcome", "data-outcome": "review" },
      h("div", {}, h("strong", {}, `${r.version} waits for your review. `),
        "See what it would change under “Waiting for review”, then publish or discard it.", scores, seconds));
  }
  if (r.promoted) {
    let why = "It is the first model.";
    if (String(r.reason || "").startsWith("forced")) why = "Published because “Force” was ticked, although it did worse.";
    else if (ev.current_version && (ev.current_accuracy === null || ev.current_accuracy === undefined)) {
      why = `${ev.current_version} could not be scored, so the new model replaces it.`;
    } else if (ev.current_version) why = `It did at least as well as ${ev.current_version}.`;
    return h("div", { class: "banner ok outcome", "data-outcome": "promoted" },
      h("div", {}, h("strong", {}, `${r.version} is now the current model. `), why, scores, seconds));
  }
  return h("div", { class: "banner warn outcome", "data-outcome": "kept" },
    h("div", {},
      h("strong", {}, `${r.version} was kept out: ${r.current_version || "the current model"} stays current, because the new one did worse. `),
      scores,
      h("div", { class: "small" }, `To use ${r.version} anyway, press “Make current” on it below, or train again with “Force”.`)));
}

function versionsPanel() {
  const items = state.models?.items || [];
  const panel = h("section", { class: "panel", id: "versions", "aria-labelledby": "versions-title" },
    h("h2", { id: "versions-title" }, "Versions", items.length ? h("span", { class: "h-count" }, String(items.length)) : null));
  if (!items.length) {
    panel.append(h("p", { class: "muted small" }, "Every model trained is kept here, so you can go back to an earlier one."));
    return panel;
  }
  panel.append(h("ul", { class: "versions" }, items.map((m) => {
    const kept = m.evaluation && m.evaluation.promoted === false;
    return h("li", { class: `version${m.current ? " is-current" : ""}`, "data-version": m.version },
      h("div", { class: "v-main" },
        h("strong", { class: "v-name" }, m.version),
        m.current ? h("span", { class: "chip confirmed" }, "Current")
          : m.evaluation?.held_for_review ? h("span", { class: "chip guess", title: "Held back so you can see what it would change first" }, "For review")
          : kept ? h("span", { class: "chip guess", title: "It did worse than the model current then, so it was not published" }, "Kept out") : null,
        h("span", { class: "muted small" }, formatDate(m.created_at))),
      h("div", { class: "v-facts small muted" },
        `parent ${m.parent_version || "none"}`,
        ` · accuracy ${pct(m.metrics?.accuracy)}`,
        m.dataset?.known_faces !== undefined ? ` · ${plural(m.dataset.known_faces, "face")}` : "",
        m.labels ? ` · ${plural(m.labels.length, "person", "people")}` : ""),
      m.evaluation?.reason ? h("div", { class: "v-reason small muted" }, m.evaluation.reason) : null,
      m.current ? null : h("button", {
        type: "button", class: "v-action", onclick: () => makeCurrent(m),
        "aria-label": `Make ${m.version} current`, title: `Serve ${m.version} again (rollback)`,
      }, "Make current"));
  })));
  return panel;
}

// ---- candidates: what a held-back version would change; publish or discard it (issue 12, item 9) -----

const versionNumber = (version) => Number(String(version).replace(/^v/, ""));

// Versions newer than the current one that were never published: held for review, or kept out.
function candidates() {
  const current = state.models?.current?.version;
  return (state.models?.items || []).filter((m) => !m.current && m.evaluation?.promoted === false
    && (!current || versionNumber(m.version) > versionNumber(current)));
}

const PREVIEW_GROUPS = [
  ["changed", "Would change name", "Faces no one named whose name changes"],
  ["unknown", "Would become unknown", "Faces with a name now that would lose it"],
  ["named", "Would get a name", "Faces unknown now that would be named"],
  ["wrong", "Named by people, answered otherwise", "Faces people named that the new version gets wrong"],
];

function personName(person) {
  return person ? person.name : "unknown";
}

function previewGroup([key, title, explain], preview) {
  const group = preview[key];
  if (!group || !group.count) return null;
  return h("div", { class: "preview-group", "data-group": key },
    h("h3", { style: { fontSize: ".95rem", margin: ".8rem 0 .3rem" }, title: explain }, title,
      h("span", { class: "h-count" }, String(group.count))),
    h("ul", { class: "preview-pairs", style: { listStyle: "none", margin: 0, padding: 0 } }, group.pairs.map((pair) =>
      h("li", { class: "preview-pair", style: { margin: ".35rem 0" } },
        h("div", { class: "small" },
          h("strong", {}, personName(pair.from_person)), " → ", h("strong", {}, personName(pair.to_person)),
          h("span", { class: "muted" }, ` · ${plural(pair.count, "face")}`)),
        h("div", { class: "preview-samples", style: { display: "flex", flexWrap: "wrap", gap: ".3rem", marginTop: ".2rem" } },
          pair.samples.map((face) => h("img", {
            src: face.chip_url, alt: `Face now ${personName(pair.from_person)}, then ${personName(pair.to_person)}`,
            width: "48", height: "48", loading: "lazy", "data-face": face.face_id,
            style: { borderRadius: "6px", objectFit: "cover", background: "var(--surface-2)" },
          })))))));
}

function previewView(version) {
  const preview = previews.get(version);
  const box = h("div", { class: "preview", "data-state": preview ? (preview.state || "error") : "loading" });
  if (!preview || preview.state === "computing") {
    return clear(box, h("div", { class: "job-line" }, h("span", { class: "spinner" }),
      h("span", { class: "small" }, preview ? `Comparing with ${preview.against || "no model"}… ${preview.message || ""}`
        : "Comparing with the current model…")));
  }
  if (preview.error || preview.state === "failed") {
    return clear(box, h("div", { class: "banner error" }, h("span", {}, preview.error || preview.message),
      h("button", { type: "button", onclick: () => recomputePreview(version) }, "Compare again")));
  }
  const groups = PREVIEW_GROUPS.map((g) => previewGroup(g, preview)).filter(Boolean);
  return clear(box,
    h("p", { class: "small muted", style: { margin: ".2rem 0" } },
      `Against ${preview.against || "no model"}, on ${plural(preview.faces, "face")}`,
      preview.human_faces ? ` · named faces it answers as people did: ${preview.human_right} of ${preview.human_faces}` : "",
      preview.computed_at ? ` · compared ${formatDate(preview.computed_at)}` : ""),
    groups.length ? groups : h("p", { class: "small preview-none" }, "No face would change."),
    h("button", { type: "button", class: "small", onclick: () => recomputePreview(version) }, "Compare again"));
}

function candidatesPanel() {
  const list = candidates();
  const panel = h("section", { class: "panel", id: "candidates", "aria-labelledby": "candidates-title", hidden: !list.length },
    h("h2", { id: "candidates-title" }, "Waiting for review", h("span", { class: "h-count" }, String(list.length))));
  for (const m of list) {
    panel.append(h("article", { class: "candidate", "data-version": m.version },
      h("div", { class: "v-main" }, h("strong", { class: "v-name" }, m.version),
        h("span", { class: "muted small" }, formatDate(m.created_at))),
      m.evaluation?.reason ? h("div", { class: "small muted" }, m.evaluation.reason) : null,
      previewView(m.version),
      h("div", { class: "train-row", style: { marginTop: ".6rem" } },
        h("button", { type: "button", class: "primary", onclick: () => publishCandidate(m.version) }, `Publish ${m.version}`),
        h("button", { type: "button", class: "danger", onclick: () => discardCandidate(m.version) }, `Discard ${m.version}`))));
  }
  return panel;
}

async function loadPreviews() {
  clearTimeout(previewTimer);
  const list = candidates();
  for (const key of [...previews.keys()]) if (!list.some((m) => m.version === key)) previews.delete(key);
  for (const m of list) {
    try {
      previews.set(m.version, await api(`/v1/admin/models/${encodeURIComponent(m.version)}/preview`,
        { params: { samples: PREVIEW_SAMPLES } }));
    } catch (err) {
      if (err instanceof ApiError && err.signedOut) return;
      previews.set(m.version, { error: err.message });
    }
  }
  renderPanel("candidates", candidatesPanel);
  if (previewsComputing() && !liveEventsUp()) previewTimer = setTimeout(loadPreviews, PREVIEW_POLL_MS);
}

function previewsComputing() {
  return [...previews.values()].some((p) => p.state === "computing");
}

async function recomputePreview(version) {
  try {
    previews.set(version, await api(`/v1/admin/models/${encodeURIComponent(version)}/preview`, { method: "POST" }));
    renderPanel("candidates", candidatesPanel);
    clearTimeout(previewTimer);
    if (!liveEventsUp()) previewTimer = setTimeout(loadPreviews, PREVIEW_POLL_MS);
  } catch (err) {
    showError(err);
  }
}

async function publishCandidate(version) {
  const current = state.models?.current?.version;
  const ok = await ask({
    title: `Publish ${version}?`,
    text: `Classifier workers switch from ${current || "no model"} to ${version} within seconds, and faces no one named `
      + "are tagged again with it, as the preview shows. Names people gave stay as they are.",
    ok: `Publish ${version}`,
  });
  if (!ok) return;
  try {
    await api(`/v1/admin/models/${encodeURIComponent(version)}/publish`, { method: "POST" });
    toast(`${version} is now the current model.`);
    state.job = null;
    await refresh();
  } catch (err) {
    showError(err);
  }
}

async function discardCandidate(version) {
  const ok = await ask({
    title: `Discard ${version}?`,
    text: `${version} is deleted for good; the current model stays. Its version number is not used again.`,
    ok: `Discard ${version}`, danger: true,
  });
  if (!ok) return;
  try {
    const out = await api(`/v1/admin/models/${encodeURIComponent(version)}/discard`, { method: "POST" });
    toast(out.message);
    state.job = null;
    await refresh();
  } catch (err) {
    showError(err);
  }
}

function workersPanel() {
  const panel = h("section", { class: "panel", id: "workers", "aria-labelledby": "workers-title" },
    h("h2", { id: "workers-title" }, "Classifier workers"));
  const items = (state.workers || []).filter((w) => w.kind === "classifier" || !w.kind);
  if (state.workers === null) {
    panel.append(h("p", { class: "muted small" }, "Asking…"));
    return panel;
  }
  if (!items.length) {
    panel.append(h("p", { class: "muted small" }, "No classifier worker has reported in the last 10 minutes. New photos are not recognised until one runs."));
    return panel;
  }
  const current = state.models?.current?.version || null;
  panel.append(h("ul", { class: "workers" }, items.map((w) => {
    let chip;
    if (!w.model_version) chip = h("span", { class: "chip unknown" }, "no model");
    else if (current && w.model_version !== current) chip = h("span", { class: "chip guess", title: `Switching to ${current} soon` }, `serves ${w.model_version}`);
    else chip = h("span", { class: "chip confirmed" }, `serves ${w.model_version}`);
    return h("li", { class: "worker", "data-worker": w.name },
      h("div", { class: "w-main" }, h("span", { class: "w-name", title: w.name }, w.name), chip),
      h("div", { class: "small muted" }, `heard ${ago(w.updated_at)}`, w.provider ? ` · ${w.provider.replace(/ExecutionProvider$/, "")}` : "",
        current && w.model_version !== current ? ` · switching to ${current}…` : ""),
      w.model_error ? h("div", { class: "small w-error" }, w.model_error) : null);
  })));
  panel.append(h("p", { class: "muted small", style: { margin: ".6rem 0 0" } },
    "Workers check for a new current model every few seconds."));
  return panel;
}

function render() {
  if (state.loadError) {
    clear(app, pageHead(),
      h("div", { class: "banner error" }, h("span", {}, state.loadError),
        h("button", { type: "button", onclick: start }, "Try again")));
    return;
  }
  clear(app, pageHead(),
    h("div", { class: "model-layout" },
      h("div", { class: "model-col" }, candidatesPanel(), currentPanel(), trainPanel()),
      h("div", { class: "model-col" }, versionsPanel(), workersPanel())));
}

function renderPanel(id, build) {
  const old = document.getElementById(id);
  if (old) old.replaceWith(build());
}

// ---- actions --------------------------------------------------------------------------------------

async function train(force, review = false) {
  await startJob("/v1/admin/train", review ? { force, publish: "review" } : { force });
}

async function startJob(path, body = undefined) {
  try {
    const job = await api(path, { method: "POST", body });
    state.job = job;
    try {
      sessionStorage.setItem(JOB_STORE, job.id);
    } catch (err) {
      // not kept across reloads then
    }
    renderPanel("train", trainPanel);
    followJob(job.id);
  } catch (err) {
    renderPanel("train", trainPanel);
    showError(err);
  }
}

function followJob(id) {
  clearTimeout(jobTimer);
  const poll = async () => {
    let job;
    try {
      job = await api(`/v1/jobs/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof ApiError && err.status === 404) {
        try { sessionStorage.removeItem(JOB_STORE); } catch (e) { /* ignore */ }
        state.job = null;
        renderPanel("train", trainPanel);
        return;
      }
      jobTimer = setTimeout(poll, JOB_POLL_MS * 3); // the service is busy or restarting: keep trying
      return;
    }
    state.job = job;
    if (job.state === "done" || job.state === "failed") {
      try { sessionStorage.removeItem(JOB_STORE); } catch (e) { /* ignore */ }
      await refresh();
      return;
    }
    renderPanel("train", trainPanel);
    if (!liveEventsUp()) jobTimer = setTimeout(poll, JOB_POLL_MS);
  };
  jobCheck = { id, poll: coalesce(poll, 250) };
  poll();
}

async function makeCurrent(manifest) {
  const current = currentManifest();
  const ok = await ask({
    title: `Make ${manifest.version} current?`,
    text: `Classifier workers switch from ${current ? current.version : "no model"} to ${manifest.version} within seconds, `
      + "and faces the model labelled are tagged again with it. Names people gave stay as they are.",
    ok: `Make ${manifest.version} current`,
  });
  if (!ok) return;
  try {
    await api("/v1/admin/models/current", {
      method: "PUT", body: { version: manifest.version, reason: "chosen on the Model page" },
    });
    toast(`${manifest.version} is now the current model.`);
    if (state.job && (state.job.state === "done" || state.job.state === "failed")) state.job = null; // its outcome is history now
    await refresh();
  } catch (err) {
    showError(err);
  }
}

async function loadWorkers() {
  try {
    state.workers = (await api("/v1/admin/workers")).items;
    renderPanel("workers", workersPanel);
  } catch (err) {
    if (err instanceof ApiError && (err.status === 401 || err.status === 403)) {
      showError(err); // signed out, or no longer an admin: stop asking
      return false;
    }
    // A passing failure: keep showing what we had.
  }
  return true;
}

function stopTimers() {
  clearTimeout(jobTimer);
  clearTimeout(workersTimer);
  clearTimeout(previewTimer);
}

function scheduleWorkers() {
  clearTimeout(workersTimer);
  workersTimer = setTimeout(async () => {
    if (document.visibilityState === "visible" && !(await loadWorkers())) return;
    scheduleWorkers();
  }, WORKERS_POLL_MS);
}

// Every version, page by page: the current one and the candidates may be on any page, and the panel counts
// them all. The first page's other fields (current, networks) stand for the list.
async function loadModels() {
  const models = await api("/v1/admin/models", { params: { limit: MODELS_PAGE } });
  for (let cursor = models.next_cursor; cursor;) {
    const page = await api("/v1/admin/models", { params: { cursor, limit: MODELS_PAGE } });
    models.items.push(...page.items);
    cursor = page.next_cursor;
  }
  return models;
}

// Everything again: the models, then the workers.
async function refresh() {
  try {
    state.models = await loadModels();
    state.workers = (await api("/v1/admin/workers")).items;
    state.loadError = null;
  } catch (err) {
    if (err instanceof ApiError && err.signedOut) return false;
    state.loadError = err.message;
  }
  render();
  if (!state.loadError) {
    scheduleWorkers();
    loadPreviews();
    refreshModelStatus();
  }
  return !state.loadError;
}

async function start() {
  stopTimers();
  if (!(await refresh())) return;
  let running = null;
  try {
    running = sessionStorage.getItem(JOB_STORE);
  } catch (err) {
    running = null;
  }
  if (running && !state.job) followJob(running);
}

// Live events (issue 13, item 5): the followed job, the previews being computed and the list of models
// are asked for again when an event says they changed; without the stream, the polls above.
function followLiveEvents() {
  const previewsSoon = coalesce(loadPreviews, 500);
  const refreshSoon = coalesce(refresh, 500);
  onLiveEvents(["job.changed", "model.published"], (event) => {
    if (event.kind === "model.published") refreshSoon();
    else if (jobCheck && event.data.job_id === jobCheck.id) jobCheck.poll();
    else if (previewsComputing()) previewsSoon();
  }, (why) => {
    if (why === "ready") return;
    if (jobCheck && state.job && state.job.state !== "done" && state.job.state !== "failed") jobCheck.poll();
    if (previewsComputing()) previewsSoon();
  });
}

async function main() {
  const user = await mountHeader("model");
  if (!user) return;
  if (!hasRole(user, "admin")) {
    clear(app, pageHead(), roleNotice("Only admins can manage models"));
    return;
  }
  followLiveEvents();
  await start();
}

main();
