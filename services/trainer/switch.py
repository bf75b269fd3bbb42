"""Moving a library to another descriptor network (``FACETAG_DESCRIPTOR``) as one job.

1. Every face whose descriptor is not from the target network is cut again from its original photo
   (landmarks found afresh, chip aligned the target's way) and described by the target network.
   Labels are never touched. The model in service keeps naming new photos meanwhile: it runs on the
   old network, and new photos are still cut for it.
2. A model is trained on the new descriptors and published; from then on detectors cut chips for
   the new network (they follow the current model) and classifiers serve it.
3. A last sweep catches the faces of photos that arrived during the switch, then everything a model
   named is tagged again by the new model.

A redelivered job starts over where it stopped: faces already on the target network are skipped.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import cached_property
from itertools import groupby
from typing import Any

import numpy as np

from services.core import blob_layout
from services.core.catalog import FaceQuery
from services.core.domain import FaceRecord
from services.core.errors import NotFound
from services.core.faces.analyzer import Descriptors, FaceFinder
from services.core.faces.decode import decode_image
from services.core.faces.detect import Detection
from services.core.image_codec import encode_png
from services.core.library_network import CHECK_SECONDS, NetworkChoice, configured, descriptor_of
from services.core.registry import Registry
from services.core.wording import count
from services.core.worker_runtime import WorkerContext
from services.trainer import dataset

log = logging.getLogger(__name__)
SWITCH_JOB = "switch_network"
Progress = Callable[[float, str], Awaitable[None]]


class NetworkSwitch:
    def __init__(self, ctx: WorkerContext, train: Callable[[NetworkChoice], Awaitable[dict[str, Any]]],
                 retag: Callable[[str], None]) -> None:
        self.ctx = ctx
        self.train = train
        self.retag = retag
        self.target = configured(ctx.settings)

    @cached_property
    def finder(self) -> FaceFinder:
        return FaceFinder.from_settings(self.ctx.settings, net=self.target.network)

    @cached_property
    def descriptors(self) -> Descriptors:
        return Descriptors(self.ctx.settings, self.target.network, self.target.flip)

    async def _stale_faces(self) -> list[FaceRecord]:
        label = self.target.label
        return [f async for f in dataset.iter_faces(self.ctx.stores.catalog, FaceQuery())
                if descriptor_of(f.descriptor_model) != label or f.descriptor is None]

    async def describe_again(self, faces: list[FaceRecord], progress: Progress, start: float, end: float) -> int:
        """Cut and describe ``faces`` (sorted by image) for the target network; the number done."""
        catalog, blobs = self.ctx.stores.catalog, self.ctx.stores.blobs
        done = 0
        for image_id, group in groupby(faces, key=lambda f: f.image_id):
            batch = list(group)
            try:
                data = await asyncio.to_thread(blobs.get, blob_layout.original(image_id))
            except NotFound:
                continue  # the photo was deleted meanwhile
            rgb = (await asyncio.to_thread(decode_image, data, self.ctx.settings.max_pixels)).rgb
            found = await asyncio.to_thread(self.finder.at_detections, rgb,
                                            [Detection(f.box, f.detection_score) for f in batch])
            vectors = await asyncio.to_thread(self.descriptors.compute, np.stack([f.chip for f in found]))
            for face, new, vector in zip(batch, found, vectors, strict=True):
                key = face.chip_key or blob_layout.chip(image_id, face.id)
                await asyncio.to_thread(blobs.put, key, encode_png(new.chip), "image/png")
                try:
                    await catalog.set_face_analysis(face.id, vector.tolist(), key, self.target.label,
                                                    quality=new.quality.score, landmarks=new.landmarks)
                except NotFound:
                    continue  # deleted meanwhile
            done += len(batch)
            await progress(start + (end - start) * done / max(1, len(faces)),
                           f"described {done} of {len(faces)} faces with {self.target.label}")
        return done

    async def run(self, progress: Progress) -> dict[str, Any]:
        target = self.target.label
        registry_manifest = await asyncio.to_thread(Registry(self.ctx.stores.blobs).current_manifest)
        serving = registry_manifest.descriptor if registry_manifest else None
        await progress(0.02, f"listing faces not yet described with {target}")
        stale = await self._stale_faces()
        if not stale and serving in (None, target):
            return {"message": f"the library already runs on {target}: nothing to do", "network": target,
                    "described": 0, "version": None}
        described = await self.describe_again(stale, progress, 0.05, 0.7)
        version = None
        if serving != target:
            await progress(0.72, f"training a model on the {target} descriptors")
            result = await self.train(self.target)
            version = result.get("version")
            if not result.get("promoted") and serving is not None:
                # Without a model on the new network the old one must keep serving (chips follow it).
                return {"message": f"still on {serving}: training on {target} gave no model to serve "
                                   f"({result.get('message') or 'see the training job'})", "network": serving,
                        "described": described, "version": None, "switched": False}
            # Detectors and classifiers follow the current model within seconds; wait for them, then sweep.
            await progress(0.85, f"waiting for the workers to serve {version or target}")
            await asyncio.sleep(2 * CHECK_SECONDS + self.ctx.settings.model_check_interval)
        await progress(0.9, "describing the faces of photos that arrived during the switch")
        late = await self._stale_faces()
        described += await self.describe_again(late, progress, 0.9, 0.98)
        if version:
            await asyncio.to_thread(self.retag, version)
        message = (f"the library runs on {target}: {count(described, 'face')} described again"
                   + (f", model {version} published" if version else ", no model to train yet"))
        return {"message": message, "network": target, "previous_network": serving, "described": described,
                "late_faces": len(late), "version": version, "switched": True}
