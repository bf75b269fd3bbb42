"""The gateway's face index kept in step with the catalog: built from it on start, then changed by events and
healed by a cheap catch-up. Each gateway replica holds its own.

- Start: every face with a descriptor is read (keyset pages) and put in a fresh index, off the event loop;
  until it is done, search walks the catalog as before (``rank`` answers None).
- Events: photo.done and face.named re-read their photo's faces; person.changed (merged, deleted, never_tag,
  erased) re-reads the photos that person's faces are on. Events coming close together are read in one query.
  Face and photo deletes on this replica are applied by the routes (``forget``).
- Catch-up, every ``CATCH_UP_SECONDS``: faces labelled since the last look (each classified face is labelled,
  by a model or as unknown; re-tags too) re-read their photos, so a missed event heals within seconds without
  reading the library. What no label touches, a delete on another replica, is healed when a search meets it:
  the faces a search answers with are read from the catalog, and one that is gone or renamed is re-read
  and the search done again.
- A gap in the event stream (the transport was down), or events dropped because this fell behind: built again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Iterable
from datetime import datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from services.core.catalog import Catalog, FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.domain import FaceRecord, utcnow
from services.core.event_hub import EventHub, Subscription
from services.core.events import EventKind
from services.gateway.face_index import FaceIndex, Hit, Hits
from services.gateway.face_matching import Nearest, Ranking

log = logging.getLogger(__name__)

CATCH_UP_SECONDS = 2.0
# A catch-up that reads long waits longer, so that it takes at most this share of the time. It reads through the
# label-time index, but FerretDB 1.x evaluates a range itself and so reads every face.
CATCH_UP_SHARE = 0.1
CLOCK_MARGIN = timedelta(seconds=10)  # labels are timed by the workers' clocks: look this far back again
BUILD_BATCH = 20_000  # faces put in the graph at a time, off the event loop
BUILD_THREADS = 2
SYNC_BATCH = 200  # photos re-read in one query
GATHER_SECONDS = 0.05  # events this close together are handled together
SEARCH_TRIES = 3  # a search that meets stale faces re-reads them and searches again, this often at most
KINDS = frozenset({EventKind.photo_done, EventKind.face_named, EventKind.person_changed})


class LiveFaceIndex:
    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self.index: FaceIndex | None = None  # None until the first build is done
        self._pending: set[str] | None = None  # photos changed while a build runs
        self._lock = asyncio.Lock()  # one re-read at a time: an older read never lands after a newer one
        self._rebuild = asyncio.Event()
        self._since = utcnow()
        self._seen: dict[str, datetime] = {}  # face id -> label time already caught up

    async def run(self, hub: EventHub) -> None:
        """Build, then follow events and catch up until cancelled."""
        with hub.subscribe(KINDS) as events:
            follower = asyncio.create_task(self._follow(events))
            try:
                while True:
                    pause = CATCH_UP_SECONDS
                    if self.index is None or self._rebuild.is_set():
                        await self._build()
                    else:
                        started = time.monotonic()
                        with contextlib.suppress(Exception):  # a catalog outage: tried again next time
                            await self._catch_up()
                        pause = max(pause, (time.monotonic() - started) / CATCH_UP_SHARE)
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._rebuild.wait(), pause)
            finally:
                follower.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await follower

    async def _build(self) -> None:
        self._rebuild.clear()
        started, since = time.monotonic(), utcnow() - CLOCK_MARGIN
        self._pending = set()
        fresh = FaceIndex()
        batch: list[FaceRecord] = []
        try:
            async for face in iter_faces(self.catalog, FaceQuery(with_descriptor=True)):
                batch.append(face)
                if len(batch) == BUILD_BATCH:
                    await asyncio.to_thread(fresh.put, batch, BUILD_THREADS)
                    batch = []
            await asyncio.to_thread(fresh.put, batch, BUILD_THREADS)
        except Exception as exc:
            log.warning("the face index could not be built (searches read the catalog meanwhile): %s", exc)
            self._pending = None
            await asyncio.sleep(CATCH_UP_SECONDS)
            self._rebuild.set()
            return
        changed, self._pending = self._pending, None
        self.index, self._since, self._seen = fresh, since, {}
        await self.sync(changed)
        log.info("face index built: %d faces in %.1f s", len(fresh), time.monotonic() - started)

    async def _follow(self, events: Subscription) -> None:
        while True:
            batch = [await events.next_or_gap()]
            with contextlib.suppress(TimeoutError):  # what comes close behind is read in the same query
                while len(batch) < SYNC_BATCH:
                    batch.append(await asyncio.wait_for(events.next_or_gap(), GATHER_SECONDS))
            dropped = events.take_dropped()
            if None in batch or dropped:  # a photo described but never named is told of by its event only
                log.warning("face index: %s; building it again", f"{dropped} live events were dropped as it fell "
                            "behind" if dropped else "live events were lost while their transport was down")
                self._rebuild.set()
                continue
            changed = [e for e in batch if e is not None]
            images = {e.image_id for e in changed if e.image_id is not None}
            try:
                for person_id in {e.person_id for e in changed if e.kind == EventKind.person_changed}:
                    images |= await self._images_of_person(person_id)
                await self.sync(images)
            except Exception as exc:  # a catalog outage: the catch-up and the searches' own checks heal it
                log.warning("face index: could not follow a change (%s)", exc)

    async def _images_of_person(self, person_id: str | None) -> set[str]:
        """Photos with faces of this person, as held here (faces that left them) and as stored (that joined)."""
        if person_id is None:
            return set()
        held = self.index.images_of_person(person_id) if self.index is not None else set()
        stored = {f.image_id async for f in iter_faces(self.catalog, FaceQuery(person_id=person_id))}
        return held | stored

    async def _catch_up(self) -> None:
        started = utcnow()
        images: set[str] = set()
        async for face in iter_faces(self.catalog, FaceQuery(labelled_since=self._since)):
            if face.labelled_at is not None and self._seen.get(face.id) != face.labelled_at:
                self._seen[face.id] = face.labelled_at
                images.add(face.image_id)
        await self.sync(images)
        self._since = started - CLOCK_MARGIN
        self._seen = {k: at for k, at in self._seen.items() if at >= self._since}

    async def sync(self, image_ids: Iterable[str]) -> None:
        """Read these photos' faces again and hold exactly those (none: the photo is gone)."""
        ids = sorted(set(image_ids))
        if self._pending is not None:
            self._pending.update(ids)
        async with self._lock:
            for start in range(0, len(ids), SYNC_BATCH):
                chunk = ids[start:start + SYNC_BATCH]
                faces: dict[str, list[FaceRecord]] = {image_id: [] for image_id in chunk}
                async for face in iter_faces(self.catalog, FaceQuery(image_ids=chunk)):
                    faces[face.image_id].append(face)
                if self.index is not None:
                    for image_id, found in faces.items():
                        self.index.set_image(image_id, found)

    async def forget(self, image_id: str) -> None:
        """A face of this photo, or the photo, was deleted here."""
        await self.sync([image_id])

    async def rank(self, query: NDArray[np.float32], network: str, threshold: float, hidden: set[str],
                   limit: int) -> Ranking | None:
        """As face_matching.rank_library answers (only the ``limit`` nearest people and photos), or None while the
        index is being built."""
        for _ in range(SEARCH_TRIES):
            if self.index is None:
                return None
            hits = self.index.hits(query, network, threshold, hidden, limit)
            ranking, stale = await self._resolve(hits, limit)
            if not stale:
                return ranking
            await self.sync(stale)
        return None

    async def _resolve(self, hits: Hits, limit: int) -> tuple[Ranking, set[str]]:
        """The answer's faces as stored now; the photos of those that changed since they were indexed."""
        people = sorted(hits.people.items(), key=lambda item: (item[1].distance, item[0]))[:limit]
        photos = sorted(hits.photos.items(), key=lambda item: (item[1].distance, item[0]))[:limit]
        wanted = {hit.entry.face_id for _, hit in (*people, *photos)}
        stored = dict(zip(wanted, await asyncio.gather(*(self.catalog.get_face(f) for f in wanted)), strict=True))
        stale = {hit.entry.image_id for _, hit in (*people, *photos) if not _same(hit, stored[hit.entry.face_id])}
        ranking = Ranking(compared=hits.compared, skipped=hits.skipped)
        for key, hit in people:
            face = stored[hit.entry.face_id]
            if face is not None:
                ranking.people[key] = Nearest(hit.distance, face, hit.matched, hits.faces_of_people[key])
        for key, hit in photos:
            face = stored[hit.entry.face_id]
            if face is not None:
                ranking.photos[key] = Nearest(hit.distance, face)
        return ranking, stale


def _same(hit: Hit, face: FaceRecord | None) -> bool:
    return face is not None and face.person_id == hit.entry.person_id and face.descriptor is not None
