"""Background jobs (dataset collection, training): their progress and result."""

from __future__ import annotations

from fastapi import APIRouter

from services.core.domain import Job
from services.core.errors import NotFound
from services.gateway.deps import StoresDep
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[allow(Policy.admin)])


@router.get("/{job_id}", response_model=Job, summary="A job's state, progress (0..1), message and result")
async def get_job(job_id: str, stores: StoresDep) -> Job:
    job = await stores.catalog.get_job(job_id)
    if job is None:
        raise NotFound(f"No job with id {job_id!r}.")
    return job
