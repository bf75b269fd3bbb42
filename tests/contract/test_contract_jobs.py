"""Catalog contract, jobs: create once, read, update. Every implementation."""

from __future__ import annotations

import pytest

from services.core.catalog import Catalog
from services.core.domain import Job, JobState, new_id
from services.core.errors import NotFound


async def test_create_and_get_a_job(catalog: Catalog) -> None:
    job = Job(id=new_id(), kind="train", params={"since": "2024-01-01", "force": True, "people": ["a", "b"]})
    assert await catalog.create_job(job) == job
    assert await catalog.get_job(job.id) == job
    assert await catalog.get_job("no-such-job") is None


async def test_creating_a_job_again_keeps_the_first(catalog: Catalog) -> None:
    job = Job(id=new_id(), kind="train")
    await catalog.create_job(job)
    await catalog.update_job(job.id, state=JobState.running)
    again = await catalog.create_job(Job(id=job.id, kind="train"))
    assert again.state == JobState.running


async def test_update_changes_only_the_given_fields(catalog: Catalog) -> None:
    job = await catalog.create_job(Job(id=new_id(), kind="dataset", message="waiting"))
    running = await catalog.update_job(job.id, state=JobState.running, progress=0.25)
    assert (running.state, running.progress, running.message) == (JobState.running, 0.25, "waiting")
    assert running.updated_at >= job.updated_at and running.created_at == job.created_at
    done = await catalog.update_job(
        job.id, state=JobState.done, progress=1.0, message="3 people, 120 faces", result={"key": "datasets/x.zip"}
    )
    assert done == await catalog.get_job(job.id)
    assert (done.state, done.progress, done.message) == (JobState.done, 1.0, "3 people, 120 faces")
    assert done.result == {"key": "datasets/x.zip"}
    with pytest.raises(NotFound):
        await catalog.update_job("no-such-job", state=JobState.failed)
