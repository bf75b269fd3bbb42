"""Turning a model's distances into names for the faces of one photo, under the rules people set.

The rules: a person appears at most once in a photo, so the names of a photo's faces are assigned
jointly (the assignment with the least total distance, scipy's Hungarian solver); a face is never
named someone a person said it is not, nor someone a person already named on another face of the
same photo; and only people within the model's threshold are named at all.

Each decision also says how much a person's answer about the face would teach the model (its
review hint): a face near the threshold, one between two people, or a guess of someone the model
knows from few faces.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray
from scipy.optimize import linear_sum_assignment

from services.core.domain import ReviewHint, ReviewReason
from services.core.registry import confidence

# Cost of a pair that may not be made: far above any real distance, finite for the solver.
BARRED = 1e6
# Shares of the threshold: how near it a distance counts as borderline, how small a gap between the two
# nearest people is a close call, and how far past it a guess still deserves a question.
BORDER_WIDTH = 0.1
CLOSE_GAP = 0.15
ASK_BEYOND = 1.25
FEW_FACES = 5  # a person known from this many faces or fewer: every guess of them is worth confirming


@dataclass
class FaceToName:
    """One face of a photo, as the model sees it, and who it may not be."""

    distances: NDArray[np.float32]  # (P,): to each person the model knows
    excluded: set[str] = field(default_factory=set)


@dataclass
class NameDecision:
    person_id: str | None
    confidence: float  # of the decision taken: of the name, or of unknown
    review: ReviewHint | None


def review_hint(distances: list[tuple[float, str]], threshold: float, known_faces: dict[str, int]
                ) -> ReviewHint | None:
    """``distances``: (distance, person) to the people this face may be, nearest first."""
    if not distances:
        return None
    (best, person), runner_up = distances[0], distances[1] if len(distances) > 1 else None
    if best > threshold * ASK_BEYOND:
        return None  # a stranger, clearly: nothing to learn from asking
    scores = {ReviewReason.borderline: math.exp(-(((best - threshold) / (BORDER_WIDTH * threshold)) ** 2))}
    if runner_up is not None and runner_up[0] < threshold * ASK_BEYOND:
        scores[ReviewReason.close_call] = max(0.0, 1.0 - (runner_up[0] - best) / (CLOSE_GAP * threshold))
    faces = known_faces.get(person, 0)
    if 0 < faces <= FEW_FACES:
        scores[ReviewReason.few_examples] = 0.5 * (1.0 - (faces - 1) / FEW_FACES)
    reason = max(scores, key=lambda r: scores[r])
    return ReviewHint(score=round(min(1.0, scores[reason]), 4), reason=reason, nearest_id=person,
                      runner_up_id=runner_up[1] if runner_up is not None else None)


def name_photo(faces: list[FaceToName], label_ids: list[str], threshold: float,
               known_faces: dict[str, int] | None = None) -> list[NameDecision]:
    """A decision for each face of one photo, in order."""
    if not faces:
        return []
    cost = np.array([f.distances for f in faces], dtype=np.float64).reshape(len(faces), len(label_ids))
    cost = np.where(cost < threshold, cost, BARRED)
    for row, face in enumerate(faces):
        for col, person in enumerate(label_ids):
            if person in face.excluded:
                cost[row, col] = BARRED
    named: dict[int, int] = {}
    if cost.size:
        rows, cols = linear_sum_assignment(cost)
        named = {int(r): int(c) for r, c in zip(rows, cols, strict=True) if cost[r, c] < BARRED}
    decisions = []
    for row, face in enumerate(faces):
        allowed = sorted((float(d), p) for d, p in zip(face.distances.tolist(), label_ids, strict=True)
                         if p not in face.excluded)
        hint = review_hint(allowed, threshold, known_faces or {})
        if row in named:
            col = named[row]
            chance = confidence(float(face.distances[col]), threshold)
            decisions.append(NameDecision(label_ids[col], round(chance, 4), hint))
        else:
            rejection = 1.0 - confidence(allowed[0][0], threshold) if allowed else 1.0
            decisions.append(NameDecision(None, round(rejection, 4), hint))
    return decisions
