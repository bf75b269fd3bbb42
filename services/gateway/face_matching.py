"""A query descriptor against the library: nearest people and photos, and the calibration that turns a
distance into a probability (fitted on the library's labels, kept until those labels change)."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from services.core.catalog import Catalog, FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.domain import FaceRecord, LabelSource
from services.core.library_network import descriptor_of
from services.core.verification import Calibrations, celeb5_calibrations, library_calibrations

log = logging.getLogger(__name__)

PAGE = 2000  # faces read from the catalog at a time: memory follows this, not the library
RECHECK_SECONDS = 5.0  # a burst of requests reads the labels once; a label changed since shows within this
# A re-read that takes long (every person-labelled face of a big library) waits longer, so that it takes at most
# this share of the time.
RECHECK_SHARE = 0.1


async def faces_of_network(catalog: Catalog, network: str,
                           query: FaceQuery) -> tuple[list[FaceRecord], int, FaceQuery | None]:
    """One page of faces with descriptors made by ``network``, how many others the page skipped, and the query
    for the next page (None after the last)."""
    page = await catalog.list_faces(query)
    kept = [f for f in page if descriptor_of(f.descriptor_model) == network]
    return kept, len(page) - len(kept), query.after_face(page[-1]) if len(page) == query.limit else None


class CalibrationCache:
    """The library calibrations of each network, fitted again only when the person labels change. The labels
    are read again in the background once the cached fit is older than ``RECHECK_SECONDS`` (longer for a big
    library); meanwhile requests get the fit in hand: only the first request of a network waits for a read."""

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._fitted: dict[str, tuple[str, Calibrations | None]] = {}
        self._checked: dict[str, float] = {}
        self._read_seconds: dict[str, float] = {}
        self._rechecks: dict[str, asyncio.Task[None]] = {}

    async def get(self, catalog: Catalog, network: str) -> Calibrations:
        cached = self._fitted.get(network)
        if cached is None:
            await self._refresh(catalog, network)
            cached = self._fitted[network]
        elif network not in self._rechecks and time.monotonic() - self._checked[network] >= max(
                RECHECK_SECONDS, self._read_seconds[network] / RECHECK_SHARE):
            task = asyncio.create_task(self._refresh(catalog, network))
            self._rechecks[network] = task
            task.add_done_callback(lambda _: self._rechecks.pop(network, None))
        return cached[1] or celeb5_calibrations(network)

    async def _refresh(self, catalog: Catalog, network: str) -> None:
        async with self._lock:
            if network in self._fitted and network not in self._rechecks:
                return  # another request's first read filled it while this one waited
            started = time.monotonic()
            try:
                vectors, owners, signature = await _labelled(catalog, network)
            except Exception as exc:
                if network not in self._fitted:
                    raise  # nothing in hand to answer with: the request fails as the catalog does
                log.warning("face search calibration: the labels could not be read again (%s); the last fit "
                            "stays in use", exc)
                self._checked[network] = time.monotonic()
                return
            cached = self._fitted.get(network)
            if cached is None or cached[0] != signature:
                fitted = await asyncio.to_thread(library_calibrations, vectors, owners, network)
                self._fitted[network] = (signature, fitted)
            self._checked[network] = time.monotonic()
            self._read_seconds[network] = self._checked[network] - started


async def _labelled(catalog: Catalog, network: str) -> tuple[NDArray[np.float32], NDArray[np.int64], str]:
    """The person-labelled faces of ``network``: descriptors, owners (0..n-1) and a digest of who is who."""
    digest = hashlib.sha256(network.encode())
    vectors: list[list[float]] = []
    people: dict[str, int] = {}
    owners: list[int] = []
    query = FaceQuery(label_source=LabelSource.person.value, with_descriptor=True)
    async for face in iter_faces(catalog, query, PAGE):
        if face.person_id is None or face.descriptor is None or descriptor_of(face.descriptor_model) != network:
            continue
        digest.update(f"{face.id}={face.person_id};".encode())
        vectors.append(face.descriptor)
        owners.append(people.setdefault(face.person_id, len(people)))
    matrix = np.asarray(vectors, dtype=np.float32) if vectors else np.zeros((0, 1), dtype=np.float32)
    return matrix, np.asarray(owners, dtype=np.int64), digest.hexdigest()


@dataclass
class Nearest:
    distance: float
    face: FaceRecord
    matched: int = 0
    compared: int = 0


@dataclass
class Ranking:
    people: dict[str, Nearest] = field(default_factory=dict)
    photos: dict[str, Nearest] = field(default_factory=dict)
    compared: int = 0
    skipped: int = 0


def _take(ranking: dict[str, Nearest], key: str, distance: float, face: FaceRecord, matched: bool) -> None:
    best = ranking.get(key)
    if best is None:
        best = ranking[key] = Nearest(distance, face)
    elif distance < best.distance:
        best.distance, best.face = distance, face
    best.compared += 1
    best.matched += int(matched)


async def rank_library(catalog: Catalog, query: NDArray[np.float32], network: str, threshold: float,
                       hidden_people: set[str]) -> Ranking:
    """Every face of ``network`` against ``query``: the nearest face of each person (people in
    ``hidden_people`` left out) and of each photo (every face counts, named or not)."""
    ranking = Ranking()
    walk: FaceQuery | None = FaceQuery(with_descriptor=True, limit=PAGE)
    while walk is not None:
        page, skipped, walk = await faces_of_network(catalog, network, walk)
        ranking.skipped += skipped
        if page:
            matrix = np.asarray([f.descriptor for f in page], dtype=np.float32)
            distances = np.linalg.norm(matrix - query[None, :], axis=1)  # a page takes well under 1 ms
            for face, d in zip(page, distances.tolist(), strict=True):
                near = d <= threshold
                _take(ranking.photos, face.image_id, d, face, near)
                if face.person_id is not None and face.person_id not in hidden_people:
                    _take(ranking.people, face.person_id, d, face, near)
            ranking.compared += len(page)
    return ranking
