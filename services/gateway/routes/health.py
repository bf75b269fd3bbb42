"""Liveness and readiness for operators and load balancers."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response

from services import __version__
from services.core.readiness import OK, store_checks, without_reasons
from services.core.registry import read_beats
from services.core.stores import Stores
from services.gateway.deps import CeleryDep, SettingsDep, StoresDep
from services.gateway.schemas import Health, Readiness, WorkerHealth
from services.gateway.security.policy import Policy, allow, principal_of

log = logging.getLogger(__name__)
router = APIRouter(tags=["health"], dependencies=[allow(Policy.public)])


def _scheme(url: str) -> str:
    return url.split(":", 1)[0]


async def _workers(stores: Stores) -> list[WorkerHealth]:
    try:
        beats = await asyncio.wait_for(asyncio.to_thread(read_beats, stores.blobs), timeout=3)
    except Exception as exc:  # liveness must not depend on the blob store: report, do not fail
        log.warning("could not read worker heartbeats: %s", exc)
        return []
    return [WorkerHealth(name=b.name, model_version=b.model_version, provider=b.provider,
                         model_error=b.model_error, seen_at=b.updated_at) for b in beats if b.kind == "classifier"]


@router.get("/healthz", response_model=Health,
            summary="The gateway process is alive, and the model each classifier worker serves")
async def healthz(request: Request, settings: SettingsDep, stores: StoresDep) -> Health:
    signed_in = principal_of(request) is not None  # worker names and errors are for those let in
    return Health(status="ok", version=__version__, catalog=_scheme(settings.catalog_url),
                  blobs=_scheme(settings.blob_url),
                  broker="embedded" if settings.embedded_broker else _scheme(settings.broker_url),
                  workers=await _workers(stores) if signed_in else [])


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness}},
            summary="Every store and the broker answer")
async def readyz(request: Request, response: Response, stores: StoresDep, celery: CeleryDep) -> Readiness:
    checks = await store_checks(stores.catalog, stores.blobs, celery)
    ready = all(v == OK for v in checks.values())
    if principal_of(request) is None:  # the reasons name servers: only for those let in
        checks = without_reasons(checks)
    if not ready:
        response.status_code = 503
    return Readiness(ready=ready, checks=checks)
