"""People who may be one person entered twice: similar names, or similar faces.

Names: rapidfuzz's token-sort ratio of the normalised names (``name_key``), so word order, case, underscores and
accents do not count and "Ben Afflek" / "Ben Affleck" score 95. Faces: the mean descriptor of each person's
person-labelled faces (named by someone, so a model's mistakes cannot make two people look alike), compared per
descriptor network with that network's threshold: nearer than the distance at which a face is taken for a
person. Pairs someone said are not the same person are left out by the caller.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from rapidfuzz import fuzz, process

from services.core.catalog import Catalog, FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.catalog.rules import name_key
from services.core.errors import FacetagError
from services.core.library_network import descriptor_of, parse_label

NAME_SCORE_AT_LEAST = 85.0  # token-sort ratio, 0-100: "Ben Afflek" / "Ben Affleck" 95, "Ann" / "Bob" 0
FACE_PAGE = 20_000  # faces read at a time
Pair = tuple[str, str]
Centres = dict[str, dict[str, NDArray[np.float64]]]  # descriptor label -> person id -> mean descriptor


@dataclass(frozen=True)
class Reason:
    kind: Literal["name", "face"]
    score: float  # name: ratio 0-100, higher is closer; face: distance, lower is closer
    threshold: float  # name: the least ratio offered; face: the largest distance offered


@dataclass
class Candidate:
    pair: Pair  # smaller id first
    reasons: list[Reason] = field(default_factory=list)

    def order(self) -> tuple[int, float]:
        """Most certain first: both reasons before one, then by how far inside its threshold each reason is."""
        margin = 0.0
        for reason in self.reasons:
            if reason.kind == "name":
                margin += (reason.score - reason.threshold) / (100.0 - reason.threshold + 1e-9)
            else:
                margin += (reason.threshold - reason.score) / reason.threshold
        return (-len(self.reasons), -margin)


def _pair(a: str, b: str) -> Pair:
    return (a, b) if a < b else (b, a)


def similar_names(people: list[tuple[str, str]], at_least: float = NAME_SCORE_AT_LEAST) -> dict[Pair, float]:
    """Pairs of ``(id, name)`` whose normalised names score at least ``at_least``, with the score."""
    if len(people) < 2:
        return {}
    keys = [name_key(name) for _, name in people]
    scores = process.cdist(keys, keys, scorer=fuzz.token_sort_ratio, score_cutoff=at_least, dtype=np.float32)
    found: dict[Pair, float] = {}
    for i, j in zip(*np.nonzero(scores), strict=True):
        if i < j:
            found[_pair(people[i][0], people[j][0])] = round(float(scores[i, j]), 1)
    return found


def person_centres(faces: list[tuple[str, str, list[float]]]) -> Centres:
    """Per descriptor label, each person's mean descriptor, from ``(person id, label, descriptor)`` triples;
    unit length again for networks whose descriptors are (so distances keep the threshold's scale)."""
    grouped: dict[str, dict[str, list[list[float]]]] = defaultdict(lambda: defaultdict(list))
    for person_id, label, descriptor in faces:
        grouped[label][person_id].append(descriptor)
    centres: Centres = {}
    for label, people in grouped.items():
        normalised = parse_label(label).network.normalised
        centres[label] = {}
        for person_id, descriptors in people.items():
            mean = np.asarray(descriptors, dtype=np.float64).mean(axis=0)
            norm = float(np.linalg.norm(mean))
            centres[label][person_id] = mean / norm if normalised and norm > 0 else mean
    return centres


def similar_faces(centres: Centres) -> dict[Pair, tuple[float, float]]:
    """Pairs whose mean descriptors are nearer than their network's threshold: (distance, threshold); the
    nearest if the pair is compared on several networks."""
    found: dict[Pair, tuple[float, float]] = {}
    for label, people in centres.items():
        if len(people) < 2:
            continue
        threshold = parse_label(label).network.default_threshold
        ids = list(people)
        matrix = np.stack([people[i] for i in ids])
        squared = (matrix * matrix).sum(axis=1)
        distances = np.sqrt(np.maximum(squared[:, None] + squared[None, :] - 2 * matrix @ matrix.T, 0.0))
        for i, j in zip(*np.nonzero(distances < threshold), strict=True):
            if i >= j:
                continue
            pair, distance = _pair(ids[i], ids[j]), round(float(distances[i, j]), 4)
            if pair not in found or distance < found[pair][0]:
                found[pair] = (distance, threshold)
    return found


async def labelled_descriptors(catalog: Catalog) -> list[tuple[str, str, list[float]]]:
    """``(person id, descriptor label, descriptor)`` of every face a person named that has a descriptor of a
    network this version knows."""
    found: list[tuple[str, str, list[float]]] = []
    query = FaceQuery(label_source="person", with_descriptor=True)
    async for face in iter_faces(catalog, query, FACE_PAGE):
        if face.person_id is None or face.descriptor is None:
            continue
        label = descriptor_of(face.descriptor_model)
        try:
            dimension = parse_label(label).network.dimension
        except FacetagError:
            continue  # a network this version does not know: nothing to compare it with
        if len(face.descriptor) == dimension:  # anything else is not that network's descriptor
            found.append((face.person_id, label, face.descriptor))
    return found


async def face_centres(catalog: Catalog) -> Centres:
    """Every person's mean descriptor per network, from the faces people named (reads them all: cache it)."""
    return person_centres(await labelled_descriptors(catalog))


def find_duplicates(people: list[tuple[str, str]], not_same: set[Pair], centres: Centres) -> list[Candidate]:
    """Pairs of ``people`` (id, name) who may be one person, most certain first, leaving out ``not_same``; faces
    compared by ``centres`` (``face_centres``), of which only these people's count."""
    known = {person_id for person_id, _ in people}
    candidates: dict[Pair, Candidate] = {}
    for pair, score in similar_names(people).items():
        candidates.setdefault(pair, Candidate(pair)).reasons.append(Reason("name", score, NAME_SCORE_AT_LEAST))
    present = {label: {pid: c for pid, c in by_person.items() if pid in known} for label, by_person in centres.items()}
    for pair, (distance, threshold) in similar_faces(present).items():
        candidates.setdefault(pair, Candidate(pair)).reasons.append(Reason("face", distance, threshold))
    kept = [c for pair, c in candidates.items() if pair not in not_same]
    return sorted(kept, key=lambda c: (*c.order(), c.pair))
