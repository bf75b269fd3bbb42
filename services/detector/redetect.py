"""Re-detecting the whole library after the detector changed, as one job.

Every finished photo goes through the detector again (queued like a new upload, so the detector
replicas share the work). The catalog's re-detection rule keeps what people did: faces a person named
or drew stay, with their name and its provenance, and a new detection overlapping one of them is that
face again; only faces nobody touched are replaced. A watcher task follows the photos and keeps the
job's progress until none is left.
"""

from __future__ import annotations

import asyncio
import logging

from celery import Celery

from services.core.catalog.paging import iter_images
from services.core.domain import ImageQuery, ImageStatus, JobState
from services.core.queue import DETECT_IMAGE, REDETECT_WATCH, send
from services.core.wording import count
from services.core.worker_runtime import WorkerContext

log = logging.getLogger(__name__)
REDETECT_JOB = "redetect"
PAGE = 200
WATCH_SECONDS = 2.0
IN_FLIGHT = (ImageStatus.queued, ImageStatus.detecting, ImageStatus.classifying)


async def _in_flight(ctx: WorkerContext) -> int:
    counts = await ctx.stores.catalog.image_counts()
    return sum(counts[status] for status in IN_FLIGHT)


async def plan(ctx: WorkerContext, celery: Celery, job_id: str) -> None:
    """Queue every finished photo for detection; the job's result records how many."""
    catalog = ctx.stores.catalog
    job = await catalog.get_job(job_id)
    if job is None or job.state in (JobState.done, JobState.failed) or job.result.get("queued") is not None:
        return  # redelivered after planning: the watcher carries on
    ids: list[str] = []
    for status in (ImageStatus.done, ImageStatus.failed):
        ids.extend([image.id async for image in iter_images(catalog, ImageQuery(status=status, limit=PAGE))])
    for index, image_id in enumerate(ids):
        await catalog.set_image_status(image_id, ImageStatus.queued)
        await asyncio.to_thread(send, celery, DETECT_IMAGE, image_id)
        if index % 50 == 0:
            await catalog.update_job(job_id, state=JobState.running, progress=0.05 * index / len(ids),
                                     message=f"queued {index} of {len(ids)} photos for detection")
    await catalog.update_job(job_id, state=JobState.running, progress=0.05, result={"queued": len(ids)},
                             message=f"{count(len(ids), 'photo')} queued for detection")
    log.info("re-detect job %s: %d photo(s) queued", job_id, len(ids))
    await asyncio.to_thread(celery.send_task, REDETECT_WATCH, args=[job_id], countdown=WATCH_SECONDS)


async def watch(ctx: WorkerContext, job_id: str) -> bool:
    """Update the job's progress; True while photos are still being processed."""
    catalog = ctx.stores.catalog
    job = await catalog.get_job(job_id)
    if job is None or job.state in (JobState.done, JobState.failed):
        return False
    queued = int(job.result.get("queued") or 0)
    left = await _in_flight(ctx)
    if left == 0:
        await catalog.update_job(job_id, state=JobState.done, progress=1.0,
                                 message=f"{count(queued, 'photo')} detected again with {ctx.settings.detector}; "
                                         "faces people named or drew were kept",
                                 result={**job.result, "detector": ctx.settings.detector})
        log.info("re-detect job %s: done (%d photos)", job_id, queued)
        return False
    done = max(0, queued - left)
    await catalog.update_job(job_id, state=JobState.running, progress=round(0.05 + 0.95 * done / max(1, queued), 3),
                             message=f"{done} of {count(queued, 'photo')} detected again")
    return True
