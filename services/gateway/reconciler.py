"""Requeue photos whose task was lost (a gateway that died before sending it, a broker that lost its
data), and sweep the blobs of photos and faces deleted while they were being processed.

Tasks are idempotent, so queueing an image twice costs time but never corrupts it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import timedelta

from celery import Celery

from services.core.domain import ImageStatus, utcnow
from services.core.event_bus import EventBus
from services.core.events import Event, EventKind
from services.core.orphans import OrphanSweep
from services.core.queue import CLASSIFY_IMAGE, CLASSIFY_QUEUE, DETECT_IMAGE, DETECT_QUEUE, send, waiting_tasks
from services.core.settings import Settings
from services.core.stores import Stores

log = logging.getLogger(__name__)


async def reconcile_once(stores: Stores, celery: Celery, settings: Settings, events: EventBus | None = None) -> int:
    stalled = await stores.catalog.stalled_images(utcnow() - timedelta(seconds=settings.stalled_after))
    if not stalled:
        return 0
    # A photo behind others in a long queue is not stalled: its task (or one a dead worker held, put back
    # at the end) is most likely among them; a 10,000-photo import would otherwise queue thousands twice.
    # Once its stage's queue is empty, it is.
    behind = {queue: await asyncio.to_thread(waiting_tasks, celery, queue) for queue in (DETECT_QUEUE, CLASSIFY_QUEUE)}
    requeued = 0
    for image in stalled:
        if image.attempts > settings.task_max_retries:
            reason = f"gave up after {image.attempts} attempts that did not finish"
            await stores.catalog.set_image_status(image.id, ImageStatus.failed, reason)
            if events is not None:
                events.publish(Event(kind=EventKind.photo_failed, image_id=image.id, data={"reason": reason}))
            log.error("image %s failed: %d attempts did not finish", image.id, image.attempts)
            continue
        classify = image.status == ImageStatus.classifying
        if behind[CLASSIFY_QUEUE if classify else DETECT_QUEUE]:
            continue
        task = CLASSIFY_IMAGE if classify else DETECT_IMAGE
        await asyncio.to_thread(send, celery, task, image.id)
        # Touch it, so it is not queued again before the new task had its chance.
        await stores.catalog.set_image_status(image.id, image.status, image.error)
        log.warning("image %s was %s for over %ss; queued %s again", image.id, image.status.value,
                    settings.stalled_after, task)
        requeued += 1
    return requeued


async def run_reconciler(stores: Stores, celery: Celery, settings: Settings, events: EventBus) -> None:
    interval = max(1.0, min(30.0, settings.stalled_after / 2))
    orphans = OrphanSweep()
    swept_at = -float("inf")  # the first sweep runs at start
    while True:
        now = time.monotonic()
        if now - swept_at >= settings.orphan_sweep_minutes * 60:
            swept_at = now
            try:
                await orphans.sweep(stores)
            except Exception as exc:  # a store outage: try again next time
                log.warning("orphan sweep failed: %s", exc)
        await asyncio.sleep(interval)
        try:
            await reconcile_once(stores, celery, settings, events)
        except Exception as exc:  # a store outage: try again next round
            log.warning("reconciler round failed: %s", exc)
