"""Waiting for a photo to finish without asking the catalog over and over: the gateway hears photo.done and
photo.failed from the event bus, so a client that would poll can ask once and be answered when it happens."""

from __future__ import annotations

import asyncio
import time

from services.core.catalog import Catalog
from services.core.domain import ImageRecord, ImageStatus
from services.core.errors import NotFound
from services.core.event_hub import EventHub
from services.core.events import EventKind

FINISHED = (ImageStatus.done, ImageStatus.failed)
MAX_WAIT_SECONDS = 60.0  # within common proxy read timeouts; a client waiting longer asks again


async def stored_image(catalog: Catalog, image_id: str) -> ImageRecord:
    image = await catalog.get_image(image_id)
    if image is None:
        raise NotFound(f"No image with id {image_id!r}.")
    return image


async def image_when_finished(hub: EventHub, catalog: Catalog, image_id: str, seconds: float) -> ImageRecord:
    """The photo once it is done or failed, or as it is after ``seconds``. The catalog is read when asked, on
    this photo's event, and when events may have been missed (the hub's transport was down): never in a loop."""
    # Subscribed before the first read, so a photo that finishes between the two is not missed.
    with hub.subscribe([EventKind.photo_done, EventKind.photo_failed]) as finished:
        image = await stored_image(catalog, image_id)
        deadline = time.monotonic() + seconds
        while image.status not in FINISHED:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            try:
                event = await asyncio.wait_for(finished.next_or_gap(), left)
            except TimeoutError:
                break
            if event is None or event.image_id == image_id or finished.take_dropped():
                image = await stored_image(catalog, image_id)
        return image
