"""Celery tasks of the classifier worker (queue ``classify``)."""

from __future__ import annotations

import asyncio
import logging
from functools import cache

import numpy as np
from celery import Task

from services.classifier.identity import DescriptorOnly, IdentityModel
from services.classifier.model_holder import ModelHolder, PublishedModel
from services.classifier.photo_naming import ModelName, name_faces
from services.classifier.pipeline import Classifier
from services.core.blobs import open_blobs
from services.core.catalog import FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.celery_app import app
from services.core.domain import FaceRecord
from services.core.errors import NotFound
from services.core.faces.analyzer import Descriptors
from services.core.library_network import descriptor_of
from services.core.queue import CLASSIFY_IMAGE, CLASSIFY_QUEUE, RETAG_FACES, send
from services.core.worker_runtime import retry_later, run_image_task, worker_context

log = logging.getLogger(__name__)
RETAG_CHUNK = 100
RETAG_CONCURRENCY = 8
RETAG_PAGE = 2000


@cache
def _descriptor_only() -> IdentityModel:
    return DescriptorOnly(Descriptors(worker_context().settings))


@cache
def model_holder() -> ModelHolder:
    settings = worker_context().settings
    return ModelHolder(settings, open_blobs(settings.blob_url), _descriptor_only)


def serving_model() -> IdentityModel:
    return model_holder().fresh()


@cache
def classifier() -> Classifier:
    return Classifier(worker_context(), serving_model)


def warm_up() -> None:
    holder = model_holder()
    holder.check()  # the current published model, or descriptors only; fails here if neither loads
    holder.start()


def ready_check() -> str | None:
    """Why this classifier is not ready (worker_health), or None."""
    return None if model_holder().loaded else "no model loaded"


@app.task(name=CLASSIFY_IMAGE, bind=True)
def classify_image(self: Task, image_id: str, face_ids: list[str] | None = None) -> None:
    run_image_task(worker_context(), self, image_id, classifier().classify(image_id, face_ids),
                   fail_image=face_ids is None)


async def _plan_retag(version: str) -> int:
    """Queue, in chunks, every face whose label no person set and that the served model did not label."""
    ctx = worker_context()
    queued, chunk = 0, []
    async for face in iter_faces(ctx.stores.catalog, FaceQuery(with_descriptor=True), RETAG_PAGE):
        if not face.human_labelled and face.model_version != version:
            chunk.append(face.id)
        if len(chunk) >= RETAG_CHUNK:
            await asyncio.to_thread(send, app, RETAG_FACES, version, chunk)
            queued, chunk = queued + len(chunk), []
    if chunk:
        await asyncio.to_thread(send, app, RETAG_FACES, version, chunk)
        queued += len(chunk)
    return queued


async def _retag(face_ids: list[str]) -> tuple[str | None, int]:
    ctx = worker_context()
    catalog = ctx.stores.catalog
    model = model_holder().current()
    if not isinstance(model, PublishedModel) or model.version is None:
        return None, 0
    version = model.version
    limit = asyncio.Semaphore(RETAG_CONCURRENCY)

    async def get(face_id: str) -> FaceRecord | None:
        async with limit:
            return await catalog.get_face(face_id)

    found = await asyncio.gather(*(get(fid) for fid in face_ids))
    # Faces a person labelled meanwhile, or already tagged by this version (a second sweep), are left alone.
    faces = [f for f in found if f is not None and not f.human_labelled and f.descriptor is not None
             and f.model_version != version and descriptor_of(f.descriptor_model) == model.descriptor_label]
    if not faces:
        return version, 0
    # A photo's faces are named together (one person at most once per photo): each photo's faces are read whole.
    by_photo: dict[str, list[FaceRecord]] = {}
    for face in faces:
        by_photo.setdefault(face.image_id, []).append(face)

    async def photo(image_id: str) -> list[FaceRecord]:
        async with limit:
            return await catalog.list_faces(FaceQuery(image_id=image_id))

    photos = dict(zip(by_photo, await asyncio.gather(*(photo(i) for i in by_photo)), strict=True))
    distances = model.distances_to_people(np.array([f.descriptor for f in faces], dtype=np.float32))
    rows = {face.id: row for row, face in enumerate(faces)}
    names = [name for image_id, chosen in by_photo.items()
             for name in name_faces(photos[image_id], chosen, distances[[rows[f.id] for f in chosen]],
                                    model.label_ids, model.threshold, ctx.settings.min_face_quality,
                                    model.known_faces)]

    async def label(name: ModelName) -> bool:
        async with limit:
            try:
                await catalog.set_model_label(name.face.id, name.person_id, version, name.confidence, name.review)
            except NotFound:  # deleted meanwhile
                return False
            return name.person_id != name.face.person_id

    changed = await asyncio.gather(*(label(name) for name in names))
    return version, sum(changed)


@app.task(name=RETAG_FACES, bind=True)
def retag_faces(self: Task, version: str, face_ids: list[str] | None = None, sweep: int = 0) -> None:
    """Tag faces again with a newly current model; never a face a person labelled.

    Without face ids: plan the work (list the faces, queue chunks), then once more a little later:
    photos classified during the switch by a worker that had not yet loaded the new model are
    caught by that second sweep. The faces' stored descriptors are reused: only the model's head runs.
    """
    ctx = worker_context()
    try:
        _ = ctx.stores
        model_holder().ensure(version)
        if face_ids is None:
            served = model_holder().version
            if served is None:
                log.warning("cannot re-tag: this worker serves no published model (see its heartbeat)")
                return
            queued = ctx.run(_plan_retag(served))
            log.info("re-tagging %d face(s) with model %s (sweep %d)", queued, served, sweep + 1)
            if sweep == 0:
                delay = min(120.0, max(30.0, 3 * ctx.settings.model_check_interval + 5))
                app.send_task(RETAG_FACES, args=[served, None, 1], queue=CLASSIFY_QUEUE, countdown=delay)
            return
        served, changed = ctx.run(_retag(face_ids))
        if served is None:
            log.warning("cannot re-tag with %s: this worker serves no published model (see its heartbeat)", version)
            return
        if served != version:
            log.info("model %s was asked for, %s is current: re-tagged with %s", version, served, served)
        log.info("re-tagged %d face(s) with %s, %d changed", len(face_ids), served, changed)
    except Exception as exc:
        retries = self.request.retries
        if retries >= ctx.settings.task_max_retries:
            log.exception("re-tagging with %s gave up after %d retries", version, retries)
            return
        delay = ctx.settings.task_retry_backoff * 2**retries
        log.warning("re-tagging with %s: %s: %s; retry in %.0fs", version, type(exc).__name__, exc, delay)
        raise retry_later(self, exc, delay) from exc
