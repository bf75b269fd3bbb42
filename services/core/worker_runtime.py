"""What every worker process holds: its settings, stores, one event loop, and the task failure policy."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from functools import cache
from typing import Any, TypeVar

from celery import Task
from celery.exceptions import Reject

from services.core import metrics
from services.core.domain import ImageStatus
from services.core.errors import InvalidInput, NotFound
from services.core.event_bus import EventBus
from services.core.events import Event, EventKind
from services.core.settings import Settings, get_settings
from services.core.stores import Stores
from services.core.task_metrics import note_failed, stage_and_name

log = logging.getLogger(__name__)
T = TypeVar("T")


class WorkerContext:
    """Per-process state. Celery's solo pool runs tasks on this thread, so one loop serves them all."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self._stores: Stores | None = None
        self.events = EventBus.for_settings(settings)  # connects on its first event

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run a task's coroutine on this process's loop, with the stores open: they are opened here, before
        it starts, because code inside the loop (or in its threads) cannot run the loop to open them."""
        try:
            _ = self.stores
        except BaseException:
            coro.close()  # never started
            raise
        return self.loop.run_until_complete(coro)

    @property
    def stores(self) -> Stores:
        if self._stores is None:
            self._stores = self.loop.run_until_complete(Stores.open(self.settings))
        return self._stores

    async def update_job(self, job_id: str, **changes: Any) -> None:
        """``catalog.update_job``, and a job.changed event saying so (state, progress, message)."""
        await self.stores.catalog.update_job(job_id, **changes)
        told = {k: v for k, v in changes.items() if k in ("state", "progress", "message")}
        self.events.publish(Event(kind=EventKind.job_changed, data={"job_id": job_id, **told}))


@cache
def worker_context() -> WorkerContext:
    return WorkerContext(get_settings())


def run_image_task(
    ctx: WorkerContext, task: Task, image_id: str, work: Coroutine[Any, Any, None], *, fail_image: bool = True
) -> None:
    """Run one stage for one image with the service's retry policy.

    A bad image fails at once with its reason; anything else (a store outage, a crash in a library)
    is retried with exponential backoff, and after the last retry the image is marked failed
    (``fail_image``; tasks on a single face only log it, the photo itself is fine).
    """
    settings = ctx.settings
    try:
        ctx.run(work)
    except (InvalidInput, NotFound) as exc:
        log.warning("image %s failed: %s", image_id, exc)
        _give_up(ctx, task, image_id, str(exc), fail_image)
    except Exception as exc:
        retries = task.request.retries
        if retries >= settings.task_max_retries:
            log.exception("image %s failed after %d retries", image_id, retries)
            _give_up(ctx, task, image_id, f"{type(exc).__name__}: {exc} (after {retries + 1} attempts)", fail_image)
            return
        delay = settings.task_retry_backoff * 2**retries
        log.warning("image %s: %s: %s; retry %d of %d in %.0fs", image_id, type(exc).__name__, exc,
                    retries + 1, settings.task_max_retries, delay)
        raise retry_later(task, exc, delay) from exc


def retry_later(task: Task, exc: Exception, countdown: float, **options: Any) -> Exception:
    """The exception that retries ``task`` in ``countdown`` seconds (raise it from the failing task).

    Celery sends the retry as a new message; if the broker refuses it (it is down: often the very reason
    the task failed, e.g. when the hand-off to the next stage could not be sent), Celery rejects the
    message it holds *without* requeueing it, and the photo would wait for the reconciler. Here the
    message goes back to the queue instead (or, while the broker is still down, its lease runs out).
    """
    try:
        return task.retry(exc=exc, countdown=countdown, **options)
    except Reject as refused:
        log.warning("could not queue the retry (%s); handing the message back to the queue", refused.reason)
        return Reject(refused.reason, requeue=True)


def _give_up(ctx: WorkerContext, task: Task, image_id: str, reason: str, fail_image: bool) -> None:
    """The task ends without raising, its work undone: it counts as failed, and so does its photo (unless
    the task was about one face of it, see run_image_task)."""
    note_failed(task)
    if fail_image:
        metrics.PHOTOS_FAILED.labels(stage_and_name(task.name)[0]).inc()
        _mark_failed(ctx, image_id, reason)


def _mark_failed(ctx: WorkerContext, image_id: str, reason: str) -> None:
    try:
        ctx.run(ctx.stores.catalog.set_image_status(image_id, ImageStatus.failed, reason))
        ctx.events.publish(Event(kind=EventKind.photo_failed, image_id=image_id, data={"reason": reason}))
    except NotFound:
        log.info("image %s was deleted meanwhile", image_id)
    except Exception:  # the store is down: the reconciler will find the image and try again
        log.exception("could not mark image %s failed", image_id)
