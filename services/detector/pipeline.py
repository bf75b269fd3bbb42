"""Detector stage: original -> upright RGB -> faces, landmarks, chips, thumbnail -> stores -> classify queue."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from functools import cached_property

from celery import Celery

from services.core import blob_layout, metrics
from services.core.domain import Box, FaceRecord, ImageStatus, Point
from services.core.errors import NotFound
from services.core.events import Event, EventKind
from services.core.faces.analyzer import FaceFinder, FoundFace
from services.core.faces.decode import DETECT_DECODE_PIXELS, DecodedImage, decode_image
from services.core.image_codec import encode_png, encode_thumbnail
from services.core.library_network import LibraryNetwork
from services.core.queue import CLASSIFY_IMAGE, DETECT_QUEUE, send
from services.core.registry import Registry
from services.core.worker_runtime import WorkerContext

log = logging.getLogger(__name__)


def detected_face_id(image_id: str, index: int) -> str:
    # Deterministic, so a redelivered task overwrites its own earlier result instead of adding faces.
    return f"{image_id}-{index:03d}"


class Detector:
    def __init__(self, ctx: WorkerContext, celery: Celery) -> None:
        self.ctx = ctx
        self.celery = celery
        self._finders: dict[str, FaceFinder] = {}

    @cached_property
    def library(self) -> LibraryNetwork:
        return LibraryNetwork(self.ctx.settings, Registry(self.ctx.stores.blobs))

    @property
    def finder(self) -> FaceFinder:
        """A finder cutting chips for the network the library runs on now (it changes with a switch)."""
        choice = self.library.current()
        finder = self._finders.get(choice.network.name)
        if finder is None:
            base = next(iter(self._finders.values()), None)
            if base is None:
                finder = FaceFinder.from_settings(self.ctx.settings, net=choice.network)
            else:  # the same detector, chips for another network
                finder = FaceFinder(base.detector, base.max_side, choice.network, base.landmarker.centerface,
                                    recheck=base.recheck is not None)
            self._finders[choice.network.name] = finder
        return finder

    async def _load(self, image_id: str) -> DecodedImage:
        data = await asyncio.to_thread(self.ctx.stores.blobs.get, blob_layout.original(image_id))
        return await asyncio.to_thread(decode_image, data, self.ctx.settings.max_pixels, DETECT_DECODE_PIXELS)

    async def detect(self, image_id: str) -> None:
        catalog, blobs = self.ctx.stores.catalog, self.ctx.stores.blobs
        image = await catalog.get_image(image_id)
        if image is None:
            log.info("image %s was deleted before detection", image_id)
            return
        if image.status is ImageStatus.classifying:
            # Detected already; but the detector that did it may have died before queuing the classification
            # (a redelivered task). Classifying is idempotent: queue it again rather than leave the photo waiting.
            await asyncio.to_thread(send, self.celery, CLASSIFY_IMAGE, image_id)
            log.info("image %s is already detected; its classification is queued again", image_id)
            return
        if image.status not in (ImageStatus.queued, ImageStatus.detecting):
            log.info("image %s is already %s; detection skipped", image_id, image.status.value)
            return
        await catalog.set_image_status(image_id, ImageStatus.detecting, count_attempt=True)
        log.info("image %s: detecting (attempt %d)", image_id, image.attempts + 1)
        decoded = await self._load(image_id)
        finder = await asyncio.to_thread(lambda: self.finder)  # may read the registry
        found = await asyncio.to_thread(finder.find, decoded.rgb)
        records = []
        for index, face in enumerate(_in_photo_pixels(found, decoded.scale)):
            face_id = detected_face_id(image_id, index)
            key = blob_layout.chip(image_id, face_id)
            await asyncio.to_thread(blobs.put, key, encode_png(face.chip), "image/png")
            records.append(FaceRecord(id=face_id, image_id=image_id, box=face.box, landmarks=face.landmarks,
                                      detection_score=face.score, chip_key=key, quality=face.quality.score,
                                      detector=finder.detector_label))
        thumb = encode_thumbnail(decoded.rgb, self.ctx.settings.thumbnail_side)
        await asyncio.to_thread(blobs.put, blob_layout.thumbnail(image_id), thumb, "image/jpeg")
        try:
            await catalog.replace_detected_faces(image_id, records)
        except NotFound:  # deleted while we worked: take back what we wrote (the orphan sweep is the backstop)
            await asyncio.to_thread(blobs.delete_prefix, blob_layout.image_prefix(image_id))
            log.info("image %s was deleted during detection; its thumbnail and chips are removed", image_id)
            return
        await catalog.set_image_status(image_id, ImageStatus.classifying)
        await asyncio.to_thread(send, self.celery, CLASSIFY_IMAGE, image_id)
        self.ctx.events.publish(Event(kind=EventKind.photo_detected, image_id=image_id, data={"faces": len(records)}))
        metrics.PHOTOS_PROCESSED.labels(DETECT_QUEUE).inc()
        metrics.FACES_PROCESSED.labels(DETECT_QUEUE).inc(len(records))
        log.info("image %s: %d face(s) found", image_id, len(records))

    async def prepare_face(self, face_id: str) -> None:
        """Landmarks and chip for a box drawn by hand."""
        catalog = self.ctx.stores.catalog
        face = await catalog.get_face(face_id)
        if face is None:
            raise NotFound(f"face {face_id} was deleted before its chip was made")
        decoded = await self._load(face.image_id)
        box = _scaled_box(face.box, 1 / decoded.scale)
        (prepared,) = _in_photo_pixels(await asyncio.to_thread(self.finder.at_boxes, decoded.rgb, [box]), decoded.scale)
        key = blob_layout.chip(face.image_id, face.id)
        await asyncio.to_thread(self.ctx.stores.blobs.put, key, encode_png(prepared.chip), "image/png")
        current = await catalog.get_face(face_id)  # re-read: a person may have named it meanwhile
        if current is None:  # or removed it: add_face would bring it back
            await asyncio.to_thread(self.ctx.stores.blobs.delete, key)
            raise NotFound(f"face {face_id} was deleted while its chip was made")
        await catalog.add_face(current.model_copy(update={"landmarks": prepared.landmarks, "chip_key": key,
                                                          "quality": prepared.quality.score}))
        await asyncio.to_thread(send, self.celery, CLASSIFY_IMAGE, face.image_id, [face.id])


def _scaled_box(box: Box, scale: float) -> Box:
    if scale == 1.0:
        return box
    return Box(left=round(box.left * scale), top=round(box.top * scale), width=max(1, round(box.width * scale)),
               height=max(1, round(box.height * scale)))


def _in_photo_pixels(found: list[FoundFace], scale: float) -> list[FoundFace]:
    """Faces found on a photo decoded at a reduced size, with boxes and landmarks in the photo's pixels."""
    if scale == 1.0:
        return found
    return [replace(face, box=_scaled_box(face.box, scale),
                    landmarks=[Point(x=p.x * scale, y=p.y * scale) for p in face.landmarks]) for face in found]

