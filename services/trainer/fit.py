"""Fitting the identity head: pure numpy, on descriptors of labelled faces.

The head is open-set nearest-exemplar: each person keeps up to ``max_exemplars`` of their training
descriptors; a face is the person with the nearest exemplar if that distance is below a threshold,
else unknown. The threshold is calibrated on data the gallery never saw:

- positives: the held-out faces of known people (a stable split by face id, so the same faces are
  held out for every version and two versions can be compared fairly);
- negatives: leave-people-out, each person's faces measured against everyone else's exemplars (as if
  that person were a stranger), plus faces a person marked unknown.

The threshold maximises (held-out accuracy + unknown rejection), taking the middle of the best range.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

F32 = NDArray[np.float32]
CHUNK = 1024
GRID_STEPS = 200


@dataclass
class FitParams:
    holdout_percent: int = 20
    max_exemplars: int = 128
    threshold: float | None = None  # given: used as is instead of calibrating
    # The descriptor network's distance scale: where to look for a threshold, and the fallback when
    # there is nothing to calibrate on (dlib's 0.6 rule by default).
    threshold_range: tuple[float, float] = (0.3, 0.8)
    default_threshold: float = 0.6
    # Share of leave-people-out strangers the threshold must turn away (None: best accuracy + rejection).
    target_rejection: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"holdout_percent": self.holdout_percent, "max_exemplars": self.max_exemplars,
                "threshold": self.threshold, "threshold_range": list(self.threshold_range),
                "default_threshold": self.default_threshold, "target_rejection": self.target_rejection}

    @property
    def grid(self) -> NDArray[np.float64]:
        low, high = self.threshold_range
        return np.round(np.linspace(low, high, GRID_STEPS + 1), 4)


@dataclass
class LabelledSet:
    """Descriptors of person-labelled faces. ``person`` indexes ``people``; -1 = a person said unknown."""

    face_ids: list[str]
    descriptors: F32  # (n, D)
    person: NDArray[np.int64]  # (n,)
    people: list[str]  # person ids
    # "Not X" answers: faces a person said are not people[rejected_person[i]] (negatives for that person).
    rejected: F32 = field(default_factory=lambda: np.zeros((0, 0), dtype=np.float32))  # (m, D)
    rejected_person: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # (m,)

    def __post_init__(self) -> None:
        if len(self.face_ids) != len(self.descriptors) or len(self.face_ids) != len(self.person):
            raise ValueError("face ids, descriptors and person indexes differ in length")
        if len(self.rejected) != len(self.rejected_person):
            raise ValueError("rejected descriptors and their people differ in length")


@dataclass
class FitResult:
    # The gallery of the training faces alone: what the threshold was calibrated and evaluated on.
    gallery: F32  # (P, K, D), padded
    gallery_mask: NDArray[np.bool_]  # (P, K): True where a real exemplar is
    # The gallery that is published: every known face, held-out ones too (more faces of each person,
    # so fewer of them go unnamed; the threshold already keeps strangers out).
    published_gallery: F32
    published_mask: NDArray[np.bool_]
    threshold: float
    metrics: dict[str, Any]
    held_out: NDArray[np.bool_]  # over the LabelledSet's rows
    calibrated: bool
    notes: list[str] = field(default_factory=list)


def held_out_split(face_ids: list[str], person: NDArray[np.int64], percent: int) -> NDArray[np.bool_]:
    """A stable split by face id: a face is held out in every version or in none.

    Faces a person marked unknown are never in the gallery anyway and count as held out. Every known
    person keeps at least one training face.
    """
    scores = np.array([int.from_bytes(hashlib.sha256(f.encode()).digest()[:4], "big") % 10_000
                       for f in face_ids], dtype=np.int64)
    held = scores < percent * 100
    held |= person < 0
    for p in np.unique(person[person >= 0]):
        rows = np.flatnonzero(person == p)
        if held[rows].all():
            held[rows[np.argmax(scores[rows])]] = False
    return held


def choose_exemplars(vectors: F32, limit: int) -> NDArray[np.int64]:
    """Up to ``limit`` rows that cover a person's faces: the most central one, then farthest-first."""
    n = len(vectors)
    if n <= limit:
        return np.arange(n)
    centre = vectors.mean(axis=0)
    chosen = [int(np.argmin(((vectors - centre) ** 2).sum(axis=1)))]
    nearest = ((vectors - vectors[chosen[0]]) ** 2).sum(axis=1)
    while len(chosen) < limit:
        pick = int(np.argmax(nearest))
        chosen.append(pick)
        nearest = np.minimum(nearest, ((vectors - vectors[pick]) ** 2).sum(axis=1))
    return np.array(sorted(chosen))


def build_gallery(descriptors: F32, person: NDArray[np.int64], n_people: int, limit: int
                  ) -> tuple[F32, NDArray[np.bool_]]:
    per_person = []
    for p in range(n_people):
        rows = np.flatnonzero(person == p)
        per_person.append(descriptors[rows[choose_exemplars(descriptors[rows], limit)]])
    width = max(1, max((len(v) for v in per_person), default=1))
    gallery = np.zeros((n_people, width, descriptors.shape[1]), dtype=np.float32)
    mask = np.zeros((n_people, width), dtype=bool)
    for p, vectors in enumerate(per_person):
        gallery[p, : len(vectors)] = vectors
        mask[p, : len(vectors)] = True
    return gallery, mask


def person_distances(queries: F32, gallery: F32, mask: NDArray[np.bool_]) -> F32:
    """(q, P): each query's distance to each person's nearest exemplar (numpy twin of the ONNX head)."""
    n_people, width, dim = gallery.shape
    flat = gallery.reshape(-1, dim).astype(np.float32)
    g2 = (flat**2).sum(axis=1)
    penalty = np.where(mask.reshape(-1), 0.0, 1e6).astype(np.float32)
    out = np.empty((len(queries), n_people), dtype=np.float32)
    for start in range(0, len(queries), CHUNK):
        q = queries[start : start + CHUNK].astype(np.float32)
        d2 = (q**2).sum(axis=1, keepdims=True) - 2.0 * (q @ flat.T) + g2[None, :] + penalty[None, :]
        out[start : start + CHUNK] = np.sqrt(np.maximum(d2, 0.0).reshape(len(q), n_people, width).min(axis=2))
    return out


def open_set_accuracy(predicted: list[str | None], truth: list[str | None]) -> float:
    if not truth:
        return 0.0
    return sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth)


def _pick_threshold(pos_ok: NDArray[np.bool_], pos_dist: F32, neg_dist: F32, grid: NDArray[np.float64],
                    target: float | None) -> float:
    """The middle of the widest range of thresholds with the best (accuracy on positives + rejection of
    negatives), among those that turn away at least ``target`` of the negatives (people left out of training:
    strangers to the model) when any does; where known and strangers overlap, that is the loosest threshold
    honesty allows."""
    accept = pos_ok[None, :] & (pos_dist[None, :] < grid[:, None])
    accuracy = accept.mean(axis=1) if len(pos_dist) else np.zeros(len(grid))
    rejection = (neg_dist[None, :] >= grid[:, None]).mean(axis=1) if len(neg_dist) else np.zeros(len(grid))
    score = accuracy + rejection
    if target is not None and len(neg_dist) and (rejection >= target).any():
        score = np.where(rejection >= target, score, -1.0)
    best = np.flatnonzero(score >= score.max() - 1e-9)
    # The best thresholds form one range or several; take the middle of the widest run.
    runs = np.split(best, np.flatnonzero(np.diff(best) > 1) + 1)
    run = max(runs, key=len)
    return float(grid[run[len(run) // 2]])


def fit(data: LabelledSet, params: FitParams) -> FitResult:
    n_people = len(data.people)
    if n_people == 0:
        raise ValueError("no person-labelled faces to learn from")
    held = held_out_split(data.face_ids, data.person, params.holdout_percent)
    train = ~held & (data.person >= 0)
    gallery, mask = build_gallery(data.descriptors[train], data.person[train], n_people, params.max_exemplars)

    all_dist = person_distances(data.descriptors, gallery, mask)
    known = data.person >= 0
    positives = held & known
    pos_pred = all_dist[positives].argmin(axis=1) if n_people else np.zeros(0, dtype=np.int64)
    pos_ok = pos_pred == data.person[positives]
    pos_dist = all_dist[positives].min(axis=1)

    # Leave-people-out: a person's faces against the others' exemplars; and faces marked unknown.
    if n_people > 1:
        others = all_dist[known].copy()
        others[np.arange(len(others)), data.person[known]] = np.inf
        lpo = others.min(axis=1)
    else:
        lpo = np.zeros(0, dtype=np.float32)
    marked_unknown = all_dist[~known].min(axis=1) if (~known).any() else np.zeros(0, dtype=np.float32)
    # A "not X" answer: that face measured against X alone; the threshold must keep it out of X.
    not_x = person_distances(data.rejected, gallery, mask)[np.arange(len(data.rejected)), data.rejected_person] \
        if len(data.rejected) else np.zeros(0, dtype=np.float32)
    negatives = np.concatenate([lpo, marked_unknown, not_x]).astype(np.float32)

    notes = []
    calibrated = False
    if params.threshold is not None:
        threshold = float(params.threshold)
        notes.append("threshold given by the request, not calibrated")
    elif len(pos_dist) and len(negatives):
        threshold = _pick_threshold(pos_ok, pos_dist, negatives, params.grid, params.target_rejection)
        calibrated = True
    elif len(pos_dist):
        default = params.default_threshold
        threshold = float(min(default, np.quantile(pos_dist[pos_ok], 0.95) + 0.02 * default / 0.6)) \
            if pos_ok.any() else default
        notes.append(f"no faces of other people to calibrate against: threshold from held-out faces, at most "
                     f"{default:g}")
    else:
        threshold = params.default_threshold
        notes.append(f"too few faces to hold any out: the network's default threshold {threshold:g}")

    metrics = evaluate_distances(all_dist[held], data.person[held], threshold, data.people)
    metrics["unknown_rejection"] = round(float((negatives >= threshold).mean()), 4) if len(negatives) else None
    metrics["unknown_rejection_faces"] = len(negatives)
    metrics["not_x_answers"] = len(not_x)
    metrics["not_x_kept_out"] = round(float((not_x >= threshold).mean()), 4) if len(not_x) else None
    metrics["train_faces"] = int(train.sum())
    metrics["exemplars"] = int(mask.sum())
    metrics["people"] = n_people
    published, published_mask = build_gallery(data.descriptors[known], data.person[known], n_people,
                                              params.max_exemplars)
    metrics["published_exemplars"] = int(published_mask.sum())
    return FitResult(gallery=gallery, gallery_mask=mask, published_gallery=published, published_mask=published_mask,
                     threshold=round(threshold, 4), metrics=metrics, held_out=held, calibrated=calibrated, notes=notes)


def evaluate_distances(dist: F32, person: NDArray[np.int64], threshold: float, people: list[str]
                       ) -> dict[str, Any]:
    """Held-out metrics: open-set accuracy, per-person precision and recall."""
    truth: list[str | None] = [people[p] if p >= 0 else None for p in person.tolist()]
    if len(dist):
        best = dist.argmin(axis=1)
        best_d = dist.min(axis=1)
        predicted: list[str | None] = [people[b] if d < threshold else None
                                       for b, d in zip(best.tolist(), best_d.tolist(), strict=True)]
    else:
        predicted = []
    return evaluate_predictions(predicted, truth, people)


def evaluate_predictions(predicted: list[str | None], truth: list[str | None], people: list[str]
                         ) -> dict[str, Any]:
    per_person: dict[str, dict[str, Any]] = {}
    for pid in people:
        tp = sum(p == pid and t == pid for p, t in zip(predicted, truth, strict=True))
        said = sum(p == pid for p in predicted)
        real = sum(t == pid for t in truth)
        per_person[pid] = {"precision": round(tp / said, 4) if said else None,
                           "recall": round(tp / real, 4) if real else None, "held_out": real}
    known = [(p, t) for p, t in zip(predicted, truth, strict=True) if t is not None]
    return {
        "held_out_faces": len(truth),
        "accuracy": round(open_set_accuracy(predicted, truth), 4) if truth else None,
        "known_accuracy": round(sum(p == t for p, t in known) / len(known), 4) if known else None,
        "per_person": per_person,
    }
