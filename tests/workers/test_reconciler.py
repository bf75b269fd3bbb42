"""The reconciler on the embedded stores and broker: a photo whose task was lost is queued again, but
not while its queue still holds tasks (one of them is most likely its own)."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from services.core.domain import ImageRecord, ImageStatus, new_id, utcnow
from services.core.event_bus import EventBus
from services.core.event_hub import EventHub
from services.core.events import EventKind
from services.core.queue import DETECT_IMAGE, DETECT_QUEUE, make_celery, send, waiting_tasks
from services.core.settings import Settings
from services.core.stores import Stores
from services.gateway.reconciler import reconcile_once


async def test_a_stalled_photo_waits_while_its_queue_is_busy_and_is_queued_again_once_it_is_empty(
        tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, stalled_after=60)
    celery = make_celery(settings)
    stores = await Stores.open(settings)
    try:
        long_ago = utcnow() - timedelta(minutes=5)
        for _ in range(2):
            await stores.catalog.add_image(ImageRecord(id=new_id(), sha256=new_id(), filename="x.jpg",
                                                       content_type="image/jpeg", updated_at=long_ago))
        await asyncio.to_thread(send, celery, DETECT_IMAGE, "another-photo")

        assert await reconcile_once(stores, celery, settings) == 0
        assert await asyncio.to_thread(waiting_tasks, celery, DETECT_QUEUE) == 1

        with celery.connection_for_read() as conn:  # a detector takes the waiting task
            conn.SimpleQueue(DETECT_QUEUE).get(timeout=5).ack()
        assert await reconcile_once(stores, celery, settings) == 2
        assert await asyncio.to_thread(waiting_tasks, celery, DETECT_QUEUE) == 2
        assert await reconcile_once(stores, celery, settings) == 0  # not again while their tasks wait
    finally:
        await stores.close()


async def test_a_photo_given_up_on_is_failed_and_said_so_on_the_event_bus(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, stalled_after=60, task_max_retries=2)
    celery = make_celery(settings)
    stores = await Stores.open(settings)
    bus = EventBus.for_settings(settings)
    hub = EventHub(bus.transport)
    listening = asyncio.create_task(hub.run())
    try:
        await asyncio.wait_for(hub.listening.wait(), 10)
        image, _ = await stores.catalog.add_image(ImageRecord(
            id=new_id(), sha256=new_id(), filename="x.jpg", content_type="image/jpeg", attempts=3,
            updated_at=utcnow() - timedelta(minutes=5)))
        with hub.subscribe({EventKind.photo_failed}) as events:
            assert await reconcile_once(stores, celery, settings, bus) == 0
            event = await asyncio.wait_for(anext(events), 10)
        assert event.image_id == image.id and "3 attempts" in event.data["reason"]
        stored = await stores.catalog.get_image(image.id)
        assert stored is not None and stored.status is ImageStatus.failed
    finally:
        listening.cancel()
        bus.close()
        await stores.close()
