"""Descriptor networks on the shared photos: face-pair accuracy, celeb5 naming, stranger rejection, speed;
the spread of face quality scores, and what the quality gate changes for the best licence-free option.

Run: nice -n 10 .venv/bin/python bench/identify.py   (about 4 minutes on two busy cores)

Faces come from centerface + recheck (the default FaceFinder, max_detect_side 1600): the largest face of
every celeb5 photo, and every face found in the group photos (groups/wider_val, dlib_voc, no_gt), who
are none of the five celebrities. For each option:

- pairs: every same-person pair of celeb5 faces (train and val) and as many different-person pairs,
  drawn at random with a fixed seed; accuracy of "same when the distance is under t", with t chosen
  on 9 folds of 10 and tested on the 10th (mean and standard deviation over the folds, and the mean t);
- val: services/trainer/fit.py's fit() on the celeb5 train faces (as the trainer runs it: 20% of them
  held out to calibrate the threshold, the rest the gallery), then each val face named by its nearest
  person if nearer than the threshold, else unknown; right out of 25 (no face found counts as wrong);
- strangers: the group faces against that same model: the share that comes out unknown;
- ms/face: descriptors of 64 real chips in batches of 16, with 1 and with 2 ONNX Runtime threads.

mbf's weights are for non-commercial research only: its licence is accepted here for measuring only.
Figures are printed, never asserted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from common import bench_settings, facedata, load_rgb, median_ms, spread
from numpy.typing import NDArray

from services.core.faces.analyzer import Descriptors, FaceFinder, FoundFace
from services.core.faces.networks import NETWORKS
from services.core.settings import Settings
from services.trainer.fit import FitParams, FitResult, LabelledSet, fit, person_distances

F32 = NDArray[np.float32]
SEED = 20240601
FOLDS = 10
TIMED_CHIPS = 64
GATES = (0.0, 0.1, 0.2, 0.35, 0.5)


@dataclass(frozen=True)
class Option:
    label: str
    network: str
    flip: bool
    licence: str = ""  # accepted for this measurement only


OPTIONS = (Option("sface", "sface", False), Option("sface+flip", "sface", True), Option("dlib", "dlib", False),
           Option("dlib+flip", "dlib", True), Option("mbf (non-commercial)", "mbf", False, licence="mbf"))


@dataclass
class Face:
    group: str  # "train", "val" or "strangers"
    person: str | None  # celeb5 person; None for strangers
    name: str  # where from
    quality: float
    chips: dict[str, NDArray[np.uint8]]  # by alignment


@dataclass
class Faces:
    train: list[Face]
    val: list[Face]
    strangers: list[Face]
    missing: list[str]  # celeb5 photos where no face was found
    people: list[str]


def collect() -> Faces:
    """Detect once (template chips and quality); dlib's chips for the same boxes."""
    template = FaceFinder.from_settings(bench_settings(descriptor="sface"))
    dlib = FaceFinder.from_settings(bench_settings(descriptor="dlib"))

    def faces_of(path: Path, largest: bool) -> list[tuple[FoundFace, NDArray[np.uint8]]]:
        rgb = load_rgb(path)
        found = template.find(rgb)
        if largest and found:
            found = [max(found, key=lambda f: f.box.width * f.box.height)]
        dlib_chips = [f.chip for f in dlib.at_boxes(rgb, [f.box for f in found], [f.score for f in found])]
        return list(zip(found, dlib_chips, strict=True))

    root = facedata()
    people = sorted(p.name for p in (root / "celeb5" / "train").iterdir() if p.is_dir())
    split: dict[str, list[Face]] = {"train": [], "val": []}
    missing = []
    for group in ("train", "val"):
        for person in people:
            for path in sorted((root / "celeb5" / group / person).iterdir()):
                found = faces_of(path, largest=True)
                if not found:
                    missing.append(f"{group}/{person}/{path.name}")
                for f, dlib_chip in found:
                    split[group].append(Face(group, person, f"{person}/{path.name}", f.quality.score,
                                             {"template112": f.chip, "dlib150": dlib_chip}))
    groups = root / "groups"
    stranger_photos = sorted([*(groups / "wider_val").rglob("*.jpg"), *(groups / "dlib_voc").glob("*.jpg"),
                              *(groups / "no_gt").glob("*.jpg")])
    strangers = [Face("strangers", None, f"{path.name}#{i}", f.quality.score,
                      {"template112": f.chip, "dlib150": dlib_chip})
                 for path in stranger_photos for i, (f, dlib_chip) in enumerate(faces_of(path, largest=False))]
    return Faces(split["train"], split["val"], strangers, missing, people)


def make_pairs(owners: list[str]) -> NDArray[np.int64]:
    """(n, 3): face i, face j, 1 if same person. All same-person pairs, as many different-person ones."""
    n = len(owners)
    i, j = np.triu_indices(n, k=1)
    same = np.array([owners[a] == owners[b] for a, b in zip(i.tolist(), j.tolist(), strict=True)])
    rng = np.random.default_rng(SEED)
    different = rng.choice(np.flatnonzero(~same), size=int(same.sum()), replace=False)
    rows = np.concatenate([np.flatnonzero(same), np.sort(different)])
    return np.stack([i[rows], j[rows], same[rows].astype(np.int64)], axis=1)


def best_threshold(dist: NDArray[np.float64], same: NDArray[np.bool_]) -> float:
    """The threshold (between two neighbouring distances) with the most pairs right."""
    order = np.argsort(dist, kind="stable")
    d, s = dist[order], same[order]
    # Threshold just above the k-th smallest distance: pairs 0..k are called same.
    right = np.cumsum(s) + (np.count_nonzero(~s) - np.cumsum(~s))
    k = int(np.argmax(right))
    return float((d[k] + d[k + 1]) / 2) if k + 1 < len(d) else float(d[k] + 1e-6)


def pair_accuracy(descriptors: F32, pairs: NDArray[np.int64]) -> tuple[float, float, float]:
    """10-fold cross-validated accuracy: mean, standard deviation, mean threshold."""
    dist = np.linalg.norm(descriptors[pairs[:, 0]].astype(np.float64) - descriptors[pairs[:, 1]], axis=1)
    same = pairs[:, 2] == 1
    folds = np.array_split(np.random.default_rng(SEED + 1).permutation(len(pairs)), FOLDS)
    accuracies, thresholds = [], []
    for k, test in enumerate(folds):
        train = np.concatenate([f for m, f in enumerate(folds) if m != k])
        t = best_threshold(dist[train], same[train])
        thresholds.append(t)
        accuracies.append(float(((dist[test] < t) == same[test]).mean()))
    return float(np.mean(accuracies)), float(np.std(accuracies)), float(np.mean(thresholds))


def fit_params(option: Option) -> FitParams:
    """As the trainer asks: default split and exemplars, the network's threshold range and fallback."""
    net = NETWORKS[option.network]
    return FitParams(threshold_range=net.threshold_range, default_threshold=net.default_threshold,
                     target_rejection=Settings().unknown_rejection)


def fit_train(option: Option, train: list[Face], vectors: F32, people: list[str]) -> FitResult:
    person = np.array([people.index(f.person or "") for f in train], dtype=np.int64)
    return fit(LabelledSet([f.name for f in train], vectors, person, people), fit_params(option))


def named(result: FitResult, vectors: F32, people: list[str]) -> list[str | None]:
    if not len(vectors):
        return []
    dist = person_distances(vectors, result.published_gallery, result.published_mask)  # what the trainer publishes
    best, best_d = dist.argmin(axis=1), dist.min(axis=1)
    return [people[b] if d < result.threshold else None for b, d in zip(best.tolist(), best_d.tolist(), strict=True)]


@dataclass
class Outcome:
    option: Option
    pairs: tuple[float, float, float]
    threshold: float
    val_right: int
    rejection: float
    wrongly_named_quality: list[float]
    ms: tuple[float, float]
    vectors: dict[str, F32]


def evaluate(option: Option, faces: Faces, pairs: NDArray[np.int64]) -> Outcome:
    net = NETWORKS[option.network]
    settings: dict[str, Any] = {"descriptor": option.network, "descriptor_flip": option.flip,
                                "accept_model_licence": option.licence}
    descriptors = Descriptors(bench_settings(**settings))
    vectors = {group: descriptors.compute(np.stack([f.chips[net.alignment] for f in fs]))
               for group, fs in (("train", faces.train), ("val", faces.val), ("strangers", faces.strangers))}
    celeb = np.concatenate([vectors["train"], vectors["val"]])
    result = fit_train(option, faces.train, vectors["train"], faces.people)
    val_right = sum(n == f.person for n, f in zip(named(result, vectors["val"], faces.people), faces.val,
                                                   strict=True))
    stranger_names = named(result, vectors["strangers"], faces.people)
    rejection = sum(n is None for n in stranger_names) / len(stranger_names)
    wrong_q = [f.quality for n, f in zip(stranger_names, faces.strangers, strict=True) if n is not None]

    chips = np.stack([f.chips[net.alignment] for f in (faces.train + faces.val)[:TIMED_CHIPS]])
    two = Descriptors(bench_settings(**settings, onnx_threads=2))
    ms = (median_ms(lambda: descriptors.compute(chips), 3) / len(chips),
          median_ms(lambda: two.compute(chips), 3) / len(chips))
    return Outcome(option, pair_accuracy(celeb, pairs), result.threshold, val_right, rejection, wrong_q, ms,
                   vectors)


def gate_table(best: Outcome, faces: Faces, n_val: int, why: str) -> None:
    """An option again, with faces under a quality gate never named nor trained on."""
    default_gate = bench_settings().min_face_quality
    print(f"\nQuality gate on {best.option.label} ({why}): faces under the gate are never named (so count as "
          f"unknown) nor used for training; the settings' default gate is {default_gate}")
    print(f"{'gate':>5}  {'train faces':>11}  {'threshold':>9}  {'val right':>9}  {'strangers unknown':>17}")
    for gate in GATES:
        keep = np.array([f.quality >= gate for f in faces.train])
        train = [f for f, k in zip(faces.train, keep, strict=True) if k]
        result = fit_train(best.option, train, best.vectors["train"][keep], faces.people)
        val = [n if f.quality >= gate else None
               for n, f in zip(named(result, best.vectors["val"], faces.people), faces.val, strict=True)]
        right = sum(n == f.person for n, f in zip(val, faces.val, strict=True))
        strangers = [n if f.quality >= gate else None
                     for n, f in zip(named(result, best.vectors["strangers"], faces.people), faces.strangers,
                                     strict=True)]
        rejection = sum(n is None for n in strangers) / len(strangers)
        mark = " (default)" if gate == default_gate else ""
        print(f"{gate:5.2f}  {len(train):>11}  {result.threshold:9.3f}  {right:>6}/{n_val:<2}  {rejection:17.1%}{mark}",
              flush=True)


def n_missing_val(faces: Faces) -> int:
    return sum(m.startswith("val/") for m in faces.missing)


def main() -> None:
    cv2.setNumThreads(1)
    start = time.perf_counter()
    faces = collect()
    collected_s = time.perf_counter() - start
    owners = [f.person or "" for f in faces.train + faces.val]
    pairs = make_pairs(owners)
    n_val = len(faces.val) + n_missing_val(faces)
    n_same = int(pairs[:, 2].sum())
    print(f"Faces (centerface + recheck, {collected_s:.0f} s): celeb5 {len(faces.train)} train + {len(faces.val)} "
          f"val (largest face per photo; photos without a face found: {', '.join(faces.missing) or 'none'}); "
          f"{len(faces.strangers)} stranger faces in the group photos")
    print(f"columns: pair acc = {FOLDS}-fold cross-validated accuracy on {n_same} same-person + {n_same} "
          f"different-person celeb5 pairs (mean +- sd over folds), pair t = mean chosen distance threshold; "
          f"fit t = threshold fit() calibrated on the train faces; val = val faces named right by that model; "
          f"strangers = group faces it calls unknown; ms/face = descriptors, batch 16, 1 / 2 ONNX threads")
    print(f"{'option':21} {'pair acc':>14} {'pair t':>7} {'fit t':>7} {'val':>6} {'strangers':>15} "
          f"{'ms/face 1t':>10} {'2t':>6}")
    outcomes = []
    for option in OPTIONS:
        o = evaluate(option, faces, pairs)
        outcomes.append(o)
        acc, sd, t = o.pairs
        edge = "*" if o.threshold in fit_params(option).threshold_range else " "
        unknown = round(o.rejection * len(faces.strangers))
        print(f"{option.label:21} {acc:7.1%} +-{sd:4.1%} {t:7.3f} {o.threshold:6.3f}{edge} {o.val_right:>3}/{n_val:<2} "
              f"{o.rejection:6.1%} {unknown:>3}/{len(faces.strangers):<4} {o.ms[0]:10.1f} {o.ms[1]:6.1f}", flush=True)
    ranges = ", ".join(f"{n} {net.threshold_range[0]}-{net.threshold_range[1]}" for n, net in NETWORKS.items())
    print(f"*: at the edge of the range fit() searches (the network's: {ranges})")

    print("\nFace quality scores, min / 10th percentile / median")
    print(f"{'celeb5 faces (train + val)':52} {spread([f.quality for f in faces.train + faces.val])}")
    print(f"{'group faces (strangers)':52} {spread([f.quality for f in faces.strangers])}")
    for o in outcomes:
        label = f"strangers wrongly named, {o.option.label} ({len(o.wrongly_named_quality)})"
        print(f"{label:52} {spread(o.wrongly_named_quality)}")

    free = [o for o in outcomes if not o.option.licence]
    best = max(free, key=lambda o: (o.val_right / n_val + o.rejection, o.pairs[0]))
    gate_table(best, faces, n_val, "the best licence-free option by val accuracy + stranger rejection")
    default = next(o for o in outcomes if o.option.network == bench_settings().descriptor and not o.option.flip)
    if default is not best:
        gate_table(default, faces, n_val, "the default setting")
    print(f"\n[{time.perf_counter() - start:.0f} s]")


if __name__ == "__main__":
    main()
