// Asking whom to merge a person into: one dialog for the People page and a person's own page.
import { ask, h, plural, toast } from "./common.js";

// Resolves to the chosen person from `others`, or null when there is nobody or the dialog was cancelled.
export async function chooseMergeTarget(person, others, note) {
  if (!others.length) {
    toast("There is nobody else to merge with yet.");
    return null;
  }
  const select = h("select", { id: "merge-target", "aria-label": "Merge into", style: { width: "100%" } },
    others.map((p) => h("option", { value: p.id }, `${p.name} (${plural(p.face_count, "face")})`)));
  const ok = await ask({
    title: `Merge ${person.name} into…`,
    body: h("div", { class: "stack-sm" }, select,
      h("p", { class: "muted small flush" },
        `All ${plural(person.face_count, "face")} of ${person.name} move to the person you pick, and ${person.name} `
        + `is removed. ${note}`)),
    ok: "Merge",
  });
  return ok ? others.find((p) => p.id === select.value) || null : null;
}
