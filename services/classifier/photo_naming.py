"""Model names for the faces of one photo, decided together (see services.core.naming for the rules)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from services.core.domain import FaceRecord, ReviewHint
from services.core.naming import FaceToName, name_photo
from services.core.quality_gate import is_good


@dataclass
class ModelName:
    face: FaceRecord
    person_id: str | None
    confidence: float
    review: ReviewHint | None = None


def name_faces(photo_faces: list[FaceRecord], candidates: list[FaceRecord], distances: NDArray[np.float32],
               label_ids: list[str], threshold: float, min_quality: float,
               known_faces: dict[str, int] | None = None) -> list[ModelName]:
    """Names for ``candidates`` (faces of one photo, rows of ``distances``); a face a person labelled is not a
    candidate, and whoever is on the photo's other faces is taken. A poor face is never named and takes no one."""
    ids = {face.id for face in candidates}
    taken = {f.person_id for f in photo_faces if f.person_id is not None and f.id not in ids}
    good = [i for i, face in enumerate(candidates) if is_good(face.quality, min_quality) and not face.human_labelled]
    decided = name_photo([FaceToName(distances[i], set(candidates[i].not_person_ids) | taken) for i in good],
                         label_ids, threshold, known_faces)
    names = {i: ModelName(candidates[i], d.person_id, d.confidence, d.review)
             for i, d in zip(good, decided, strict=True)}
    return [names.get(i, ModelName(face, None, 1.0)) for i, face in enumerate(candidates)]
