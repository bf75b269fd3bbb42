"""The orphan sweep: blobs whose photo or face is gone (deleted while a worker was still writing them).

An upload writes the original before its catalog record, so a blob without a record may be an upload
in flight: a blob is only removed when two sweeps, some minutes apart, both found it orphaned.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from services.core import blob_layout
from services.core.stores import Stores

log = logging.getLogger(__name__)
IMAGES_PREFIX = "images/"


@dataclass
class OrphanSweep:
    """Keeps what the last sweep found, so the next one can remove what is still orphaned."""

    suspects: set[str] = field(default_factory=set)

    async def sweep(self, stores: Stores) -> list[str]:
        """One sweep; the blob keys it removed."""
        orphaned = set(await self._orphaned(stores))
        confirmed = sorted(orphaned & self.suspects)
        self.suspects = orphaned - set(confirmed)
        for key in confirmed:
            await asyncio.to_thread(stores.blobs.delete, key)
        if confirmed:
            log.warning("orphan sweep removed %d blob(s) of deleted photos or faces: %s", len(confirmed),
                        ", ".join(confirmed[:20]) + (" ..." if len(confirmed) > 20 else ""))
        return confirmed

    @staticmethod
    async def _orphaned(stores: Stores) -> list[str]:
        keys = await asyncio.to_thread(stores.blobs.list, IMAGES_PREFIX)
        found = []
        images: dict[str, bool] = {}
        for key in keys:
            parts = key.split("/")
            if len(parts) < 3:
                continue
            image_id = parts[1]
            if image_id not in images:
                images[image_id] = await stores.catalog.get_image(image_id) is not None
            if not images[image_id]:
                found.append(key)
            elif len(parts) == 4 and parts[2] == "faces" and key == blob_layout.chip(image_id, parts[3][:-4]):
                face = await stores.catalog.get_face(parts[3][:-4])
                if face is None or face.chip_key != key:
                    found.append(key)
        return found
