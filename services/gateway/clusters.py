"""Who is this? The gateway's clusters of unnamed faces, kept in memory per process.

The faces clustered are those nobody has named: no person on them, a descriptor from the library's
network, good quality (``services.core.quality_gate``), and not marked "unknown" by a person (someone
decided not to name it; asking again would nag). A full clustering (``services.core.clustering``) orders
the faces by (created_at, id) first, so any two gateways that see the same faces find the same clusters,
with the same ids: a cluster's id is the id of its oldest face, so it stays while the cluster grows.

Between full clusterings the index keeps up incrementally: faces that left (named, deleted) leave their
cluster at once; new faces join the cluster whose centre is nearest, if it is close enough in the
network's scale. A library of up to ``SYNC_LIMIT`` faces is clustered again whenever new faces arrive (well
under a second). A bigger one is clustered again in a background thread once enough faces changed;
meanwhile requests get the last clustering, kept up incrementally, marked stale. Reading a big library
takes long too (50,000 faces: about 40 s from SQLite on a busy two-core machine), so no request waits for
more than ``READ_WAIT`` seconds on it (see ``ClusterIndex``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from services.core import clustering
from services.core.catalog import Catalog, FaceQuery
from services.core.clustering import ClusterParams
from services.core.domain import FaceRecord, LabelSource, utcnow
from services.core.faces.networks import DescriptorNetwork
from services.core.library_network import LibraryNetwork, descriptor_of
from services.core.quality_gate import is_good
from services.core.registry import Registry
from services.core.settings import Settings
from services.core.stores import Stores

log = logging.getLogger(__name__)
F32 = NDArray[np.float32]
# Faces read from the catalog at a time; other requests are served between pages. Reading is slow: the
# SQLite catalog keeps descriptors as JSON text (decoding is most of the 40 s for 50,000 faces).
PAGE = 1000
SYNC_LIMIT = 3000  # faces a request may cluster itself (about 1 s); more: a background thread does it
RECLUSTER_MIN = 50  # a big library is clustered again once this many faces changed...
RECLUSTER_SHARE = 0.05  # ...and this share of its faces
# In units of the network's default naming threshold (SFace 1.13), measured on celeb5 (bench/clusters.py):
ASSIGN_FACTOR = 0.9  # a new face joins a cluster whose centre is this near (celeb5 val faces to their
# train faces' centre: at most 0.95, to others' at least 1.05 (strangers) and 1.22 (the other four))
SUGGEST_FACTOR = 0.9  # "Is this X?" when a cluster's centre is this near X's (same person: 99% under, others over)
READ_WAIT = 2.0  # seconds a request waits for the library to be read before it gets the last clusters
FAST_READ = 0.25  # a read of the library quicker than this is done for every request
REREAD_AFTER = 2.0  # else the next read starts this many times the last one's length after it


@dataclass(frozen=True)
class UnnamedFace:
    id: str
    image_id: str
    created_at: datetime
    not_people: frozenset[str]  # people a person said this face is not


@dataclass
class Cluster:
    id: str  # its oldest face's id when it was formed
    members: dict[str, float]  # face id -> distance to the centre
    centre: F32

    def ordered(self) -> list[str]:
        """Members, most central first (ties by id)."""
        return sorted(self.members, key=lambda f: (self.members[f], f))


@dataclass
class Snapshot:
    network: str
    clusters: dict[str, Cluster]
    seen: set[str]  # every face taken into account: clustered, assigned or left out
    base_size: int  # faces in the last full clustering
    changes: int = 0  # faces new or gone since then
    made_at: datetime = field(default_factory=utcnow)

    def cluster_of(self) -> dict[str, str]:
        return {face: c.id for c in self.clusters.values() for face in c.members}


@dataclass
class Suggestion:
    person_id: str
    distance: float


@dataclass
class ClusterView:
    clusters: list[Cluster]  # largest first, ties by id
    faces: dict[str, UnnamedFace]
    suggestions: dict[str, Suggestion]  # by cluster id
    unclustered: int
    stale: bool
    made_at: datetime | None


@dataclass
class _Library:
    """What one read of the catalog found."""

    network: str
    faces: dict[str, UnnamedFace]
    vectors: dict[str, F32]
    people: dict[str, F32]  # person id -> centre of their person-labelled faces


def full_clustering(faces: list[UnnamedFace], vectors: F32, params: ClusterParams, normalised: bool,
                    network: str) -> Snapshot:
    """Cluster from scratch: deterministic in the set of faces, whatever order they come in."""
    order = sorted(range(len(faces)), key=lambda i: (faces[i].created_at, faces[i].id))
    ordered = [faces[i] for i in order]
    matrix = vectors[order] if len(order) else vectors
    labels = clustering.cluster(matrix, params)
    clusters: dict[str, Cluster] = {}
    for label in range(int(labels.max(initial=-1)) + 1):
        rows = np.flatnonzero(labels == label)
        centre = clustering.centroid(matrix[rows], normalised)
        distances = np.linalg.norm(matrix[rows] - centre, axis=1)
        seed = ordered[rows[0]].id  # rows are in (created_at, id) order: the first is the oldest
        members = {ordered[r].id: round(float(d), 6) for r, d in zip(rows, distances, strict=True)}
        clusters[seed] = Cluster(seed, members, centre)
    return Snapshot(network=network, clusters=clusters, seen={f.id for f in faces}, base_size=len(faces))


def prune(snapshot: Snapshot, gone: set[str], min_size: int) -> None:
    """Faces that are no longer unnamed leave their clusters; clusters left too small dissolve."""
    if not gone:
        return
    for cid in list(snapshot.clusters):
        cluster = snapshot.clusters[cid]
        for face in gone & cluster.members.keys():
            del cluster.members[face]
        if len(cluster.members) < min_size:
            del snapshot.clusters[cid]
    snapshot.seen -= gone
    snapshot.changes += len(gone)


def assign(snapshot: Snapshot, new: list[str], vectors: dict[str, F32], max_distance: float) -> None:
    """New faces join the cluster with the nearest centre, if within ``max_distance``. Centres stay as the full
    clustering left them, so the outcome does not depend on the order faces arrive in."""
    fresh = [f for f in new if f not in snapshot.seen]
    if not fresh:
        return
    snapshot.seen.update(fresh)
    snapshot.changes += len(fresh)
    if not snapshot.clusters:
        return
    ids = sorted(snapshot.clusters)
    centres = np.stack([snapshot.clusters[c].centre for c in ids])
    matrix = np.stack([vectors[f] for f in fresh])
    distances = np.linalg.norm(matrix[:, None, :] - centres[None, :, :], axis=2)
    nearest = distances.argmin(axis=1)
    for row, face in enumerate(fresh):
        d = float(distances[row, nearest[row]])
        if d <= max_distance:
            snapshot.clusters[ids[nearest[row]]].members[face] = round(d, 6)


def suggest(clusters: list[Cluster], people: dict[str, F32], faces: dict[str, UnnamedFace],
            max_distance: float) -> dict[str, Suggestion]:
    """For each cluster, the person whose centre is nearest its own, if near enough and no face of the cluster
    was said not to be them."""
    if not people or not clusters:
        return {}
    ids = sorted(people)
    centres = np.stack([people[p] for p in ids])
    found: dict[str, Suggestion] = {}
    for cluster in clusters:
        distances = np.linalg.norm(centres - cluster.centre[None, :], axis=1)
        refused: set[str] = set()
        for face in cluster.members:
            if face in faces:
                refused |= faces[face].not_people
        for index in np.argsort(distances, kind="stable"):
            if distances[index] > max_distance:
                break
            if ids[index] not in refused:
                found[cluster.id] = Suggestion(ids[index], round(float(distances[index]), 4))
                break
    return found


class ClusterIndex:
    """The process's clusters (``app.state.clusters``).

    Reading the library and keeping the clusters up to date is one task at a time on the gateway's loop; a
    request waits for it (for a library of more than ``SYNC_LIMIT`` unnamed faces at most ``READ_WAIT``
    seconds) and otherwise gets the last clusters, marked stale. A
    read that took under ``FAST_READ`` is done again for every request; a slower one (a big library) at most
    every ``REREAD_AFTER`` times its own length, so the gateway is not kept reading. A clustering finished in
    the background makes the next request read at once, to install it; until then the clusters are stale.
    """

    def __init__(self, settings: Settings, params: ClusterParams | None = None) -> None:
        self.settings = settings
        self._params = params
        self._snapshot: Snapshot | None = None
        self._library: _Library | None = None  # installed together with the snapshot made from it
        self._task: asyncio.Task[None] | None = None
        self._read_done = 0.0
        self._read_seconds = 0.0
        self._dirty = True
        self._forgotten: dict[str, int] = {}  # faces named here -> generation, until a read has seen them go
        self._generation = 0
        self._job: threading.Thread | None = None
        self._job_result: Snapshot | None = None
        self._job_lock = threading.Lock()
        self._network_choice: LibraryNetwork | None = None

    def params(self, net: DescriptorNetwork) -> ClusterParams:
        return self._params or ClusterParams.for_network(net.default_threshold)

    def forget(self, face_ids: list[str]) -> None:
        """Faces just named here leave their clusters at once, whatever read is under way."""
        self._generation += 1
        for face in face_ids:
            self._forgotten[face] = self._generation
        self._prune_forgotten()
        self._dirty = True

    def _prune_forgotten(self) -> None:
        if self._snapshot is not None and self._forgotten:
            prune(self._snapshot, set(self._forgotten), self._min_size())

    def _min_size(self) -> int:
        return self._params.min_cluster_size if self._params else ClusterParams().min_cluster_size

    def _network(self, stores: Stores) -> tuple[DescriptorNetwork, str]:
        if self._network_choice is None:
            self._network_choice = LibraryNetwork(self.settings, Registry(stores.blobs))
        choice = self._network_choice.current()
        return choice.network, choice.label

    def _clustered_in_background(self) -> bool:
        """A background clustering finished and waits for a read to bring it up to date and install it."""
        with self._job_lock:
            return self._job_result is not None

    def _due(self) -> bool:
        if self._dirty or self._library is None or self._read_seconds < FAST_READ or self._clustered_in_background():
            return True
        return time.monotonic() - self._read_done >= REREAD_AFTER * self._read_seconds

    async def view(self, stores: Stores) -> ClusterView:
        if (self._task is None or self._task.done()) and self._due():
            self._task = asyncio.create_task(self._update(stores))
        task = self._task
        if task is not None and not task.done():
            # A small library is read and clustered in about a second: wait for it. A big one: not for long.
            await asyncio.wait({task}, timeout=None if await self._small(stores.catalog) else READ_WAIT)
        if task is not None and task.done():
            self._task = None
            error = None if task.cancelled() else task.exception()
            if error is not None:
                raise error  # e.g. the catalog does not answer: 503, and the next request reads again
        job_running = self._job is not None and self._job.is_alive()
        return self._view(stale=self._task is not None or job_running or self._clustered_in_background()
                          or self._snapshot is None)

    async def _small(self, catalog: Catalog) -> bool:
        if self._library is not None:
            return len(self._library.faces) <= SYNC_LIMIT
        # Only counting up to just past the limit: ids are enough, yet read in pages of the limit's size once.
        query = FaceQuery(unknown_only=True, with_descriptor=True, limit=SYNC_LIMIT)
        within = await catalog.list_faces(query)
        return len(within) < SYNC_LIMIT or not await catalog.list_faces(
            query.after_face(within[-1]).model_copy(update={"limit": 1}))

    def _view(self, stale: bool) -> ClusterView:
        snapshot, library = self._snapshot, self._library
        if snapshot is None or library is None:
            return ClusterView([], {}, {}, 0, stale, None)
        net = self._network_choice.current().network if self._network_choice else None
        clusters = sorted(snapshot.clusters.values(), key=lambda c: (-len(c.members), c.id))
        in_clusters = sum(len(c.members) for c in clusters)
        faces = {f: face for f, face in library.faces.items() if f not in self._forgotten}
        suggestions = suggest(clusters, library.people, faces, net.default_threshold * SUGGEST_FACTOR) if net else {}
        return ClusterView(clusters=clusters, faces=faces, suggestions=suggestions,
                           unclustered=max(0, len(faces) - in_clusters), stale=stale,
                           made_at=snapshot.made_at if snapshot.base_size or snapshot.clusters else None)

    async def _update(self, stores: Stores) -> None:
        """Read the library and bring the clusters up to date with it."""
        generation = self._generation
        self._dirty = False
        start = time.monotonic()
        net, label = await asyncio.to_thread(self._network, stores)
        faces, vectors = await unnamed_faces(stores.catalog, label, self.settings.min_face_quality)
        people = await _person_centres(stores.catalog, label, net.normalised)
        self._read_seconds = time.monotonic() - start
        self._read_done = time.monotonic()
        library = _Library(label, faces, vectors, people)
        await self._refresh(library, net, self.params(net))
        # The read saw every face named before it began: those need no forgetting any more.
        self._forgotten = {f: g for f, g in self._forgotten.items() if g > generation}
        self._prune_forgotten()

    def _install(self, snapshot: Snapshot, library: _Library) -> None:
        self._snapshot, self._library = snapshot, library
        self._prune_forgotten()

    async def _refresh(self, library: _Library, net: DescriptorNetwork, params: ClusterParams) -> None:
        """Bring the snapshot up to date with ``library``: prune, assign, or cluster again."""
        with self._job_lock:
            done, self._job_result = self._job_result, None
        # A finished background clustering replaces the snapshot once it is brought up to date below.
        snapshot = done if done is not None and done.network == library.network else self._snapshot
        current = set(library.faces)
        if snapshot is None or snapshot.network != library.network:
            if len(current) <= SYNC_LIMIT:
                self._install(await asyncio.to_thread(self._cluster_all, library, net, params), library)
                return
            self._install(Snapshot(network=library.network, clusters={}, seen=set(), base_size=0), library)
            self._start_job(library, net, params)
            return
        new = sorted(current - snapshot.seen)
        if new and len(current) <= SYNC_LIMIT:
            self._install(await asyncio.to_thread(self._cluster_all, library, net, params), library)
            return
        prune(snapshot, snapshot.seen - current, params.min_cluster_size)
        assign(snapshot, new, library.vectors, net.default_threshold * ASSIGN_FACTOR)
        self._install(snapshot, library)
        big = len(current) > SYNC_LIMIT  # (a small library is clustered again as soon as a face is new)
        if big and snapshot.changes >= max(RECLUSTER_MIN, RECLUSTER_SHARE * snapshot.base_size):
            self._start_job(library, net, params)

    @staticmethod
    def _cluster_all(library: _Library, net: DescriptorNetwork, params: ClusterParams) -> Snapshot:
        faces = list(library.faces.values())
        dim = net.dimension
        matrix = np.stack([library.vectors[f.id] for f in faces]) if faces else np.zeros((0, dim), np.float32)
        return full_clustering(faces, matrix, params, net.normalised, library.network)

    def _start_job(self, library: _Library, net: DescriptorNetwork, params: ClusterParams) -> None:
        if self._job is not None and self._job.is_alive():
            return
        frozen = _Library(library.network, dict(library.faces), dict(library.vectors), {})

        def run() -> None:
            start = time.monotonic()
            try:
                result = self._cluster_all(frozen, net, params)
            except Exception:  # a failed run leaves the last clustering in service; the next change retries
                log.exception("clustering %d faces failed", len(frozen.faces))
                return
            log.info("clustered %d unnamed faces into %d clusters in %.1f s", len(frozen.faces),
                     len(result.clusters), time.monotonic() - start)
            with self._job_lock:
                self._job_result = result

        self._job = threading.Thread(target=run, name="facetag-clusters", daemon=True)
        self._job.start()


async def unnamed_faces(catalog: Catalog, network: str, min_quality: float
                        ) -> tuple[dict[str, UnnamedFace], dict[str, F32]]:
    """The faces to cluster (see the module's docstring) and their descriptors, by face id."""
    faces: dict[str, UnnamedFace] = {}
    vectors: dict[str, F32] = {}
    for face in await _all_faces(catalog, FaceQuery(unknown_only=True, with_descriptor=True, limit=PAGE)):
        if face.person_id is not None or face.descriptor is None or face.label_source == LabelSource.person:
            continue
        if descriptor_of(face.descriptor_model) != network or not is_good(face.quality, min_quality):
            continue
        faces[face.id] = UnnamedFace(face.id, face.image_id, face.created_at, frozenset(face.not_person_ids))
        vectors[face.id] = np.asarray(face.descriptor, dtype=np.float32)
    return faces, vectors


async def _all_faces(catalog: Catalog, query: FaceQuery) -> list[FaceRecord]:
    found: list[FaceRecord] = []
    while True:
        page = await catalog.list_faces(query)
        found.extend(page)
        if len(page) < query.limit:
            return found
        query = query.after_face(page[-1])
        await asyncio.sleep(0)  # a big library takes many pages: let other requests in between


async def _person_centres(catalog: Catalog, network: str, normalised: bool) -> dict[str, F32]:
    """Each person's centre, from the faces a person named (of this network); never_tag people left out."""
    by_person: dict[str, list[list[float]]] = {}
    query = FaceQuery(label_source=LabelSource.person.value, with_descriptor=True, limit=PAGE)
    for face in await _all_faces(catalog, query):
        if face.person_id is not None and face.descriptor is not None and \
                descriptor_of(face.descriptor_model) == network:
            by_person.setdefault(face.person_id, []).append(face.descriptor)
    if not by_person:
        return {}
    opted_out = {p.id for p in await catalog.all_people() if p.never_tag}
    return {person: clustering.centroid(np.asarray(vectors, np.float32), normalised)
            for person, vectors in by_person.items() if person not in opted_out}
