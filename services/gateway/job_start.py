"""Starting a background job: its record first, then its task on the queue."""

from __future__ import annotations

import asyncio

from celery import Celery

from services.core.domain import Job, new_id
from services.core.queue import send
from services.core.stores import Stores


async def start_job(stores: Stores, celery: Celery, kind: str, task: str, params: dict[str, object]) -> Job:
    job = await stores.catalog.create_job(Job(id=new_id(), kind=kind, params=params))
    try:
        await asyncio.to_thread(send, celery, task, job.id, params)
    except Exception as exc:
        await stores.catalog.update_job(job.id, message=f"could not be queued yet: {exc}")
        raise
    return job
