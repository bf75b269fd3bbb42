"""Classifier stage: chips -> current identity model -> descriptors and model labels -> image done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import numpy as np

from services.classifier.identity import IdentityModel
from services.classifier.photo_naming import name_faces
from services.core import metrics
from services.core.catalog import FaceQuery
from services.core.domain import ImageStatus, utcnow
from services.core.events import Event, EventKind
from services.core.image_codec import decode_png
from services.core.queue import CLASSIFY_QUEUE
from services.core.registry import version_number
from services.core.worker_runtime import WorkerContext

log = logging.getLogger(__name__)


class Classifier:
    def __init__(self, ctx: WorkerContext, current_model: Callable[[], IdentityModel]) -> None:
        self.ctx = ctx
        self.current_model = current_model

    async def classify(self, image_id: str, face_ids: list[str] | None = None) -> None:
        """Classify every face of an image (then mark it done), or only ``face_ids`` (status untouched)."""
        catalog, blobs = self.ctx.stores.catalog, self.ctx.stores.blobs
        image = await catalog.get_image(image_id)
        if image is None:
            log.info("image %s was deleted before classification", image_id)
            return
        if face_ids is None and image.status != ImageStatus.classifying:
            log.info("image %s is %s; classification skipped", image_id, image.status.value)
            return
        all_faces = await catalog.list_faces(FaceQuery(image_id=image_id))
        faces = [f for f in all_faces if f.chip_key and (face_ids is None or f.id in face_ids)]
        model = self.current_model()
        chips, usable = [], []
        for face in faces:
            assert face.chip_key is not None
            chip = decode_png(await asyncio.to_thread(blobs.get, face.chip_key))
            if chip.shape[0] != model.chip_size:
                # Cut for another network (the library is switching): the switch job describes it again.
                log.info("face %s: its chip is for another descriptor network; left for the switch job", face.id)
                continue
            chips.append(chip)
            usable.append(face)
        if usable:
            # One photo's chips per run, none held back for company: on the CPU a batch of 8 is 1.0-1.25x a face
            # faster (bench/embedding.py), less than what waiting for other photos would cost their latency.
            prediction = model.predict(np.stack(chips))
            for i, face in enumerate(usable):
                assert face.chip_key is not None
                await catalog.set_face_analysis(face.id, prediction.descriptors[i].tolist(), face.chip_key,
                                                model.descriptor_label)
            if prediction.distances is not None and model.version:
                named = name_faces(all_faces, usable, prediction.distances, prediction.label_ids,
                                   prediction.threshold, self.ctx.settings.min_face_quality, prediction.known_faces)
                for name in named:
                    applied = await catalog.set_model_label(name.face.id, name.person_id, model.version,
                                                            name.confidence, name.review)
                    if applied and name.person_id is not None and name.person_id != name.face.person_id:
                        self.ctx.events.publish(Event(
                            kind=EventKind.face_named, image_id=image_id, face_id=name.face.id,
                            person_id=name.person_id, model_version=version_number(model.version),
                            data={"by": "model", "confidence": round(name.confidence, 4)}))
        metrics.FACES_PROCESSED.labels(CLASSIFY_QUEUE).inc(len(usable))
        if face_ids is None:
            await catalog.set_image_status(image_id, ImageStatus.done)
            metrics.PHOTOS_PROCESSED.labels(CLASSIFY_QUEUE).inc()
            metrics.UPLOAD_TO_DONE.observe((utcnow() - image.uploaded_at).total_seconds())
            await self._announce_done(image_id)
        log.info("image %s: %d face(s) classified", image_id, len(faces))

    async def _announce_done(self, image_id: str) -> None:
        """photo.done, with the faces and the names on the photo now (people's and the model's). The photo is
        done already: a store failing here costs the event its names, never the task a retry."""
        catalog = self.ctx.stores.catalog
        try:
            faces = await catalog.list_faces(FaceQuery(image_id=image_id))
            people = [await catalog.get_person(pid) for pid in {f.person_id for f in faces if f.person_id}]
        except Exception as exc:
            log.warning("image %s: photo.done is sent without its faces: %s", image_id, exc)
            self.ctx.events.publish(Event(kind=EventKind.photo_done, image_id=image_id))
            return
        names = sorted(person.name for person in people if person is not None)
        self.ctx.events.publish(Event(kind=EventKind.photo_done, image_id=image_id,
                                      data={"faces": len(faces), "names": names}))
