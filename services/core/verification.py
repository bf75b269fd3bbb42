"""Is this the same person? A face distance turned into a calibrated probability.

The calibration is Platt's: a logistic curve ``p = 1 / (1 + exp(-(intercept + slope * distance)))`` fitted
on distances known to be of one person and distances known to be of two. Both kinds are weighted equally,
so the probability is the one for even prior odds: "if it were as likely as not that this is the person,
how likely is it given this distance". Two curves, for two questions:

- ``pair`` (verification): the distance between two faces;
- ``nearest`` (search): the distance from a face to a person's *nearest* face. The nearest of many faces is
  nearer than a typical pair, for the person and for everyone else alike, so this is fitted on exactly
  that: each labelled face against the nearest other face of its own person and of each other person.

Both are fitted on the library's own person-labelled faces when there are enough of them, else taken from
the numbers below, measured once on the shared celeb5 photos. Pure numpy and scikit-learn: no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray

CalibrationSource = Literal["library", "celeb5"]
CalibrationKind = Literal["pair", "nearest"]
F64 = NDArray[np.float64]
MIN_PEOPLE = 2  # a library calibration needs different-person pairs from at least two people ...
MIN_FACES_EACH = 3  # ... each with this many labelled faces (three same-person pairs apiece)
MAX_PAIRS = 5000  # of each kind: enough for two parameters, and a fit in well under a second
MAX_QUERIES = 2000  # labelled faces taken as queries for the nearest-face curve (a sample when more)
CHUNK = 256  # queries at a time: a (256, faces) distance block
SEED = 12  # drawn the same way every time, so one label set gives one calibration

# Measured on celeb5 `train` (the largest face of each of its 93 photos, 5 people, found and cut as the detector
# worker does; `val` is kept for testing it), the two kinds weighted equally, fitted as above:
#   pair: every same-person pair (839) and every different-person pair (3439). On `val` (50 same and 250
#     different pairs) sface's curve puts every pair on the right side of 0.5, mean probability 0.997 for
#     same pairs and 0.021 for different ones.
#   nearest: each face against its own person's nearest other face (93) and each other person's nearest
#     face (372).
# Measure again with:  nice -n 10 .venv/bin/python bench/face_search.py --calibrate
# network label: {kind: (intercept, slope, distances fitted on)}; 0.5 falls at distance -intercept / slope
# (noted after each line: pair; nearest).
CELEB5: dict[str, dict[CalibrationKind, tuple[float, float, int]]] = {
    "sface-2021dec": {"pair": (51.8247, -42.0856, 4278), "nearest": (57.0748, -50.9490, 465)},  # 1.231; 1.120
    "sface-2021dec+flip": {"pair": (51.7587, -42.0678, 4278), "nearest": (56.4036, -50.5521, 465)},  # 1.230; 1.116
    "dlib-resnet_v1": {"pair": (28.2386, -41.0364, 4278), "nearest": (35.2180, -58.8075, 465)},  # 0.688; 0.599
    "mbf-w600k": {"pair": (72.4135, -55.2183, 4278), "nearest": (106.3099, -86.5328, 465)},  # 1.311; 1.229
}


@dataclass(frozen=True)
class Calibration:
    intercept: float
    slope: float  # negative: the further apart, the less likely one person
    source: CalibrationSource
    kind: CalibrationKind
    samples: int  # distances it was fitted on, both kinds together
    network: str  # descriptor network label whose distances it reads

    def probabilities(self, distances: NDArray[np.floating]) -> F64:
        z = self.intercept + self.slope * np.asarray(distances, dtype=np.float64)
        return 1.0 / (1.0 + np.exp(-np.clip(z, -500.0, 500.0)))

    def probability(self, distance: float) -> float:
        return float(self.probabilities(np.array([distance]))[0])

    @property
    def threshold(self) -> float:
        """The distance at which the probability is one half: nearer is 'same person'."""
        return -self.intercept / self.slope if self.slope else math.inf


@dataclass(frozen=True)
class Calibrations:
    pair: Calibration
    nearest: Calibration


def enough_labels(owners: NDArray[np.int64]) -> bool:
    """Whether a library's person-labelled faces (their owners' indexes) can calibrate on their own."""
    if len(owners) == 0:
        return False
    counts = np.bincount(owners)
    return int((counts >= MIN_FACES_EACH).sum()) >= MIN_PEOPLE


def _at_most(values: F64, limit: int, rng: np.random.Generator) -> F64:
    return np.sort(rng.choice(values, limit, replace=False)) if len(values) > limit else values


def pair_distances(vectors: NDArray[np.float32], owners: NDArray[np.int64], max_pairs: int = MAX_PAIRS,
                   seed: int = SEED) -> tuple[F64, F64]:
    """Distances of same-person pairs and of different-person pairs (at most ``max_pairs`` each, drawn at
    random with a fixed seed when there are more)."""
    rng = np.random.default_rng(seed)
    first, second = np.triu_indices(len(owners), k=1)
    same = owners[first] == owners[second]
    out = []
    for mask in (same, ~same):
        where = np.flatnonzero(mask)
        if len(where) > max_pairs:
            where = np.sort(rng.choice(where, max_pairs, replace=False))
        a = vectors[first[where]].astype(np.float64)
        b = vectors[second[where]].astype(np.float64)
        out.append(np.linalg.norm(a - b, axis=1))
    return out[0], out[1]


def nearest_distances(vectors: NDArray[np.float32], owners: NDArray[np.int64], max_pairs: int = MAX_PAIRS,
                      seed: int = SEED) -> tuple[F64, F64]:
    """For each labelled face (a sample of MAX_QUERIES when more): the distance to the nearest other face of
    its own person (people with one face have none), and to the nearest face of each other person."""
    rng = np.random.default_rng(seed)
    order = np.argsort(owners, kind="stable")
    matrix, owners = vectors[order].astype(np.float64), owners[order]
    starts = np.flatnonzero(np.r_[True, owners[1:] != owners[:-1]])
    person_of = np.cumsum(np.r_[False, owners[1:] != owners[:-1]])  # 0..people-1 in sorted order
    queries = np.arange(len(owners))
    if len(queries) > MAX_QUERIES:
        queries = np.sort(rng.choice(queries, MAX_QUERIES, replace=False))
    squares = (matrix**2).sum(axis=1)
    same: list[F64] = []
    different: list[F64] = []
    for begin in range(0, len(queries), CHUNK):
        rows = queries[begin : begin + CHUNK]
        block = np.sqrt(np.maximum(squares[rows, None] + squares[None, :] - 2.0 * matrix[rows] @ matrix.T, 0.0))
        block[np.arange(len(rows)), rows] = np.inf  # a face is not its own nearest
        per_person = np.minimum.reduceat(block, starts, axis=1)  # (rows, people)
        own = person_of[rows]
        mine = per_person[np.arange(len(rows)), own]
        same.append(mine[np.isfinite(mine)])
        others = np.ones_like(per_person, dtype=bool)
        others[np.arange(len(rows)), own] = False
        different.append(per_person[others])
    return (_at_most(np.concatenate(same), max_pairs, rng), _at_most(np.concatenate(different), max_pairs, rng))


def fit_platt(same: F64, different: F64) -> tuple[float, float]:
    """(intercept, slope) of the logistic curve from distance to 'same person', both kinds weighted equally.
    A large C: the fit is plain Platt scaling, not shrunk towards a flat 0.5 (measured on celeb5: shrinking
    it only made the probabilities on unseen pairs worse)."""
    # Imported here: scikit-learn takes seconds to import, and a gateway needs it only once labels change.
    from sklearn.linear_model import LogisticRegression

    if len(same) == 0 or len(different) == 0:
        raise ValueError("calibration needs same-person and different-person distances")
    x = np.concatenate([same, different])[:, None]
    y = np.concatenate([np.ones(len(same)), np.zeros(len(different))])
    model = LogisticRegression(C=1e4, class_weight="balanced", max_iter=1000)
    model.fit(x, y)
    return float(model.intercept_[0]), float(model.coef_[0, 0])


def _fitted(same: F64, different: F64, kind: CalibrationKind, network: str) -> Calibration | None:
    if len(same) == 0 or len(different) == 0:
        return None
    intercept, slope = fit_platt(same, different)
    if slope >= 0:  # labels that contradict the distances (nearer = less alike): not usable
        return None
    return Calibration(intercept, slope, "library", kind, len(same) + len(different), network)


def library_calibrations(vectors: NDArray[np.float32], owners: NDArray[np.int64], network: str
                         ) -> Calibrations | None:
    """Both curves fitted on a library's person-labelled faces, or None when there are too few of them."""
    if not enough_labels(owners):
        return None
    pair = _fitted(*pair_distances(vectors, owners), "pair", network)
    nearest = _fitted(*nearest_distances(vectors, owners), "nearest", network)
    return None if pair is None or nearest is None else Calibrations(pair, nearest)


def celeb5_calibrations(network: str) -> Calibrations:
    """The curves measured on celeb5 for this network (a flip variant not measured takes the plain one's)."""
    table = CELEB5.get(network) or CELEB5.get(network.split("+", 1)[0])
    if table is None:
        raise KeyError(f"no celeb5 calibration for the descriptor network {network!r}")
    made = {kind: Calibration(a, b, "celeb5", kind, n, network) for kind, (a, b, n) in table.items()}
    return Calibrations(pair=made["pair"], nearest=made["nearest"])
