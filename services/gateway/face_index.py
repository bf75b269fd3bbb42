"""Every face descriptor of the library in memory, for 1:N search that does not walk the catalog.

One usearch graph (HNSW) per descriptor network, next to what a search answers with: each face's image and
person. The nearest faces come from the graph (in a library of up to ``EXACT_UP_TO`` faces, or when most of it
is asked for, from a full comparison: as quick there, and exact); their distances are computed again from the
stored descriptors exactly as a full walk would, so the answers are the full walk's (see ``hits``).
bench/vector_index.py measured the choice: at 300k faces usearch answers 100 candidates in about 2.4 ms where
exact numpy over the same matrix takes 8 and the walk before it 63; it removes faces in place (faiss's HNSW
cannot) and ships wheels.

The structure itself does no I/O: face_index_live.py fills it from the catalog and keeps it in step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from usearch.index import Index

from services.core.domain import FaceRecord
from services.core.library_network import descriptor_of

EXACT_UP_TO = 20_000  # faces of one network: a full comparison takes about a millisecond here
CONNECTIVITY, EXPANSION_ADD = 16, 128
# The graph walks this many times the faces asked for: an answer's last places are as sure as its first (at
# 64 candidates for 20 answers, about one search in 25 missed 3 of the 20 nearest among random descriptors).
SEARCH_BREADTH = 4
FIRST_ASK = 64  # nearest faces asked first; four times more each round until the answer is complete
PEOPLE_DIRECTLY_AFTER = 4096  # nearest faces asked before people are ranked over their own faces instead


@dataclass(frozen=True, slots=True)
class Entry:
    face_id: str
    image_id: str
    person_id: str | None


@dataclass
class Hit:
    """The nearest face of a person or a photo, and (for people) how many of their faces matched."""

    distance: float
    entry: Entry
    matched: int = 0


@dataclass
class Hits:
    people: dict[str, Hit]
    photos: dict[str, Hit]
    faces_of_people: dict[str, int]  # every face of each person in ``people``, compared or not
    compared: int
    skipped: int


class NetworkIndex:
    """The faces described by one network."""

    def __init__(self, dimension: int) -> None:
        self.dimension = dimension
        self.graph = Index(ndim=dimension, metric="l2sq", dtype="f32", connectivity=CONNECTIVITY,
                           expansion_add=EXPANSION_ADD)
        self.entries: dict[int, Entry] = {}
        self.key_of: dict[str, int] = {}  # face id -> graph key
        self.keys_of_person: dict[str, set[int]] = {}
        self._next_key = 0

    def __len__(self) -> int:
        return len(self.entries)

    def put(self, faces: Sequence[FaceRecord], threads: int = 1) -> None:
        """Add or update faces (each with a descriptor of this network's dimension)."""
        fresh: list[FaceRecord] = []
        for face in faces:
            key = self.key_of.get(face.id)
            if key is not None and np.array_equal(self._vectors([key])[0], np.asarray(face.descriptor, np.float32)):
                self._set_entry(key, Entry(face.id, face.image_id, face.person_id))  # a new name, same face
                continue
            self.drop(face.id)
            fresh.append(face)
        if not fresh:
            return
        keys = np.arange(self._next_key, self._next_key + len(fresh), dtype=np.uint64)
        self._next_key += len(fresh)
        self.graph.add(keys, np.asarray([f.descriptor for f in fresh], dtype=np.float32), threads=threads)
        for key, face in zip(keys.tolist(), fresh, strict=True):
            self.key_of[face.id] = key
            self._set_entry(key, Entry(face.id, face.image_id, face.person_id))

    def drop(self, face_id: str) -> None:
        key = self.key_of.pop(face_id, None)
        if key is None:
            return
        self._forget_person(key)
        del self.entries[key]
        self.graph.remove(key)

    def _set_entry(self, key: int, entry: Entry) -> None:
        self._forget_person(key)
        self.entries[key] = entry
        if entry.person_id is not None:
            self.keys_of_person.setdefault(entry.person_id, set()).add(key)

    def _forget_person(self, key: int) -> None:
        old = self.entries.get(key)
        if old is not None and old.person_id is not None:
            keys = self.keys_of_person[old.person_id]
            keys.discard(key)
            if not keys:
                del self.keys_of_person[old.person_id]

    def _vectors(self, keys: Sequence[int] | NDArray[np.uint64]) -> NDArray[np.float32]:
        """The stored descriptors of these faces, one row each."""
        stored: Any = self.graph.get(np.asarray(keys, dtype=np.uint64), dtype="f32")
        return np.asarray(stored, dtype=np.float32).reshape(len(keys), self.dimension)

    def nearest(self, query: NDArray[np.float32], count: int) -> tuple[list[int], NDArray[np.float32]]:
        """The ``count`` nearest faces, nearest first: graph keys and distances."""
        count = min(count, len(self))
        if count == 0:
            return [], np.zeros(0, dtype=np.float32)
        exact = len(self) <= EXACT_UP_TO or count * 4 >= len(self)
        self.graph.expansion_search = SEARCH_BREADTH * count  # type: ignore[misc]  # has a setter; mypy misreads it
        keys = self.graph.search(query, count, exact=exact, threads=1).keys
        # The stored descriptors, compared as a full walk compares them: the same distances to the last bit.
        vectors = self._vectors(keys)
        distances = np.linalg.norm(vectors - query[None, :], axis=1)
        order = np.lexsort((keys, distances))
        return keys[order].tolist(), distances[order]

    def hits(self, query: NDArray[np.float32], threshold: float, hidden: set[str], limit: int) -> Hits:
        """The nearest face of the ``limit`` nearest people (not ``hidden``) and photos, and how many of each such
        person's faces are within ``threshold``: asks for more faces until no face further away could change that.
        Where that takes many (few people named in a big library), people are ranked over their own faces."""
        eligible = self.keys_of_person.keys() - hidden
        count = FIRST_ASK
        exact = False  # people measured over all of their faces
        while True:
            keys, distances = self.nearest(query, count)
            people: dict[str, Hit] = {}
            photos: dict[str, Hit] = {}
            for key, distance in zip(keys, distances.tolist(), strict=True):
                entry = self.entries[key]
                photos.setdefault(entry.image_id, Hit(distance, entry))
                if entry.person_id in eligible:
                    hit = people.setdefault(entry.person_id, Hit(distance, entry))
                    hit.matched += distance <= threshold
            everything = len(keys) == len(self)
            beyond = everything or float(distances[-1]) > threshold  # every face within it was seen
            if everything or (beyond and len(photos) >= limit and len(people) >= min(limit, len(eligible))):
                break
            if count >= PEOPLE_DIRECTLY_AFTER and len(photos) >= limit:
                people, exact = self._people(query, threshold, eligible), True
                break
            count *= 4
        if not (everything or exact):
            # The graph may have missed a person's nearest face (it is approximate): each person answered is
            # measured again over all of their faces, so their distance and best face are the walk's.
            people = self._people(query, threshold, set(people))
        return Hits(people, photos, {p: len(self.keys_of_person[p]) for p in people}, len(self), 0)

    def nearest_of(self, query: NDArray[np.float32], keys: Sequence[int]) -> Hit:
        """The nearest of these faces (one photo's), measured as a full walk measures it."""
        ordered = sorted(keys)
        distances = np.linalg.norm(self._vectors(ordered) - query[None, :], axis=1)
        nearest = int(np.argmin(distances))
        return Hit(float(distances[nearest]), self.entries[ordered[nearest]])

    def _people(self, query: NDArray[np.float32], threshold: float, eligible: set[str]) -> dict[str, Hit]:
        """Every eligible person's nearest face and faces within ``threshold``, from all of their faces."""
        people: dict[str, Hit] = {}
        for person_id in eligible:
            keys = sorted(self.keys_of_person[person_id])
            distances = np.linalg.norm(self._vectors(keys) - query[None, :], axis=1)
            nearest = int(np.argmin(distances))
            people[person_id] = Hit(float(distances[nearest]), self.entries[keys[nearest]],
                                    int((distances <= threshold).sum()))
        return people


class FaceIndex:
    """One NetworkIndex per descriptor network, and which faces each image has in them."""

    def __init__(self) -> None:
        self.networks: dict[str, NetworkIndex] = {}
        self.faces_of_image: dict[str, dict[str, str]] = {}  # image id -> face id -> network

    def __len__(self) -> int:
        return sum(len(n) for n in self.networks.values())

    def put(self, faces: Iterable[FaceRecord], threads: int = 1) -> None:
        """Add or update faces; those without a descriptor are left out (and dropped if held)."""
        by_network: dict[str, list[FaceRecord]] = {}
        for face in faces:
            network = descriptor_of(face.descriptor_model)
            held = self.faces_of_image.get(face.image_id, {}).get(face.id)
            if held is not None and (held != network or face.descriptor is None):
                self._drop(face.image_id, face.id)
            if face.descriptor is not None:
                by_network.setdefault(network, []).append(face)
        for network, faces_of_network in by_network.items():
            index = self.networks.get(network)
            if index is None:
                index = self.networks[network] = NetworkIndex(len(faces_of_network[0].descriptor or ()))
            fitting = [f for f in faces_of_network if len(f.descriptor or ()) == index.dimension]
            index.put(fitting, threads)
            for face in fitting:
                self.faces_of_image.setdefault(face.image_id, {})[face.id] = network

    def set_image(self, image_id: str, faces: Sequence[FaceRecord]) -> None:
        """The image's faces are now exactly ``faces`` (none: the image is gone)."""
        present = {f.id for f in faces}
        for face_id in [f for f in self.faces_of_image.get(image_id, {}) if f not in present]:
            self._drop(image_id, face_id)
        self.put(faces)

    def images_of_person(self, person_id: str) -> set[str]:
        return {index.entries[key].image_id for index in self.networks.values()
                for key in index.keys_of_person.get(person_id, ())}

    def _drop(self, image_id: str, face_id: str) -> None:
        faces = self.faces_of_image.get(image_id, {})
        network = faces.pop(face_id, None)
        if not faces:
            self.faces_of_image.pop(image_id, None)
        if network is not None:
            self.networks[network].drop(face_id)

    def hits(self, query: NDArray[np.float32], network: str, threshold: float, hidden: set[str],
             limit: int) -> Hits:
        others = sum(len(n) for name, n in self.networks.items() if name != network)
        index = self.networks.get(network)
        if index is None or len(index) == 0:
            return Hits({}, {}, {}, 0, others)
        found = index.hits(query, threshold, hidden, limit)
        found.skipped = others
        # The graph may have missed a photo's nearest face: each photo answered is measured over all its faces.
        found.photos = {image_id: index.nearest_of(query, self._keys_of_image(image_id, network))
                        for image_id in found.photos}
        return found

    def _keys_of_image(self, image_id: str, network: str) -> list[int]:
        keys = self.networks[network].key_of
        return [keys[face_id] for face_id, held in self.faces_of_image[image_id].items() if held == network]
