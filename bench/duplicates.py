"""Near-duplicate people by face (services/core/duplicates.py) on celeb5: are one person's photos split into two
people found, and are different people left alone?

Run: nice -n 10 .venv/bin/python bench/duplicates.py   (about a minute on two busy cores)

The largest face of every celeb5 photo (train and val), described by the configured network (sface by default,
as a fresh library runs). For each of the five people, their faces are split into two "people" in a few ways
(half and half, and a few faces against the rest, at random with a fixed seed): found when the two mean
descriptors are nearer than the network's threshold. Then every pair of the five different people, whole and
split in halves: a false offer when nearer. Figures are printed, never asserted.
"""

from __future__ import annotations

import numpy as np
from common import bench_settings, facedata, load_rgb
from numpy.typing import NDArray

from services.core.duplicates import person_centres, similar_faces
from services.core.faces.analyzer import Descriptors, FaceFinder

SEED = 20261130
SPLITS = ((0.5, "half and half"), (3, "3 faces against the rest"), (1, "1 face against the rest"))
REPEATS = 20


def main() -> None:
    settings = bench_settings()
    finder = FaceFinder.from_settings(settings)
    describe = Descriptors(settings)
    label = describe.label
    root = facedata() / "celeb5"
    people = sorted(p.name for p in (root / "train").iterdir() if p.is_dir())
    faces: dict[str, list[list[float]]] = {person: [] for person in people}
    for person in people:
        chips = []
        for path in sorted([*(root / "train" / person).iterdir(), *(root / "val" / person).iterdir()]):
            detected = finder.find(load_rgb(path))
            if detected:
                chips.append(max(detected, key=lambda f: f.box.width * f.box.height).chip)
        vectors: NDArray[np.float32] = describe.compute(np.stack(chips))
        faces[person] = [[float(v) for v in row] for row in vectors]
    rng = np.random.default_rng(SEED)
    print(f"network {label}; faces per person: " + ", ".join(f"{p} {len(faces[p])}" for p in people))

    def offered(groups: dict[str, list[list[float]]]) -> dict[tuple[str, str], tuple[float, float]]:
        return similar_faces(person_centres([(pid, label, d) for pid, ds in groups.items() for d in ds]))

    for size, what in SPLITS:
        found, distances = 0, []
        for person in people:
            for _ in range(REPEATS):
                order = rng.permutation(len(faces[person]))
                k = int(len(order) * size) if isinstance(size, float) else size
                a = [faces[person][i] for i in order[:k]]
                b = [faces[person][i] for i in order[k:]]
                pairs = offered({"a": a, "b": b})
                found += bool(pairs)
                centres = person_centres([("a", label, d) for d in a] + [("b", label, d) for d in b])[label]
                distances.append(float(np.linalg.norm(centres["a"] - centres["b"])))
        total = len(people) * REPEATS
        print(f"same person split, {what}: found {found}/{total} ({100 * found / total:.0f}%); "
              f"distance median {np.median(distances):.3f}, max {max(distances):.3f}")

    whole = offered(faces)
    halves: dict[str, list[list[float]]] = {}
    for person in people:
        order = rng.permutation(len(faces[person]))
        half = len(order) // 2
        halves[f"{person}/1"] = [faces[person][i] for i in order[:half]]
        halves[f"{person}/2"] = [faces[person][i] for i in order[half:]]
    split = offered(halves)
    false_split = {pair: v for pair, v in split.items() if pair[0].split("/")[0] != pair[1].split("/")[0]}
    centres = person_centres([(p, label, d) for p, ds in faces.items() for d in ds])[label]
    between = [float(np.linalg.norm(centres[a] - centres[b])) for i, a in enumerate(people) for b in people[i + 1:]]
    threshold = next(iter(split.values()))[1] if split else float("nan")
    print(f"different people, whole: {len(whole)} of {len(between)} pairs offered; centre distances "
          f"min {min(between):.3f}, median {np.median(between):.3f} (threshold {threshold})")
    print(f"different people, in halves: {len(false_split)} of {len(halves) * (len(halves) - 2) // 2} "
          f"different-person pairs offered")
    same_person_split = len(split) - len(false_split)
    print(f"halves of the same person offered: {same_person_split} of {len(people)}")
    # The hardest case: people named on one face each (a mean of one is that face, noise and all).
    singles = {f"{p}#{i}": [d] for p, ds in faces.items() for i, d in enumerate(ds)}
    pairs = offered(singles)
    n = len(singles)
    same_total = sum(len(ds) * (len(ds) - 1) // 2 for ds in faces.values())
    same_found = sum(1 for a, b in pairs if a.split("#")[0] == b.split("#")[0])
    print(f"one face each: same-person pairs offered {same_found}/{same_total} "
          f"({100 * same_found / same_total:.0f}%), different-person pairs offered {len(pairs) - same_found}/"
          f"{n * (n - 1) // 2 - same_total} ({100 * (len(pairs) - same_found) / (n * (n - 1) // 2 - same_total):.2f}%)")


if __name__ == "__main__":
    main()
