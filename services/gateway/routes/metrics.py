"""``GET /metrics`` for Prometheus: admins, or ``Authorization: Bearer FACETAG_METRICS_TOKEN``.

What the processes counted (under ``facetag serve``, every process of it; see services/core/metrics.py),
then what is read now: queue depths from the broker, images by status from the catalog (one indexed
count per status) and each classifier's model from its heartbeat. Each source has a few seconds; one
that does not answer is left out and reported in ``facetag_scrape_source_up``, the scrape still answers.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import TypeVar

from celery import Celery
from fastapi import APIRouter, Response
from prometheus_fastapi_instrumentator.metrics import Info

from services.core import metrics
from services.core.catalog import Catalog
from services.core.queue import CLASSIFY_QUEUE, DETECT_QUEUE, TRAIN_QUEUE, waiting_tasks
from services.core.registry import read_beats
from services.core.stores import Stores
from services.gateway.deps import CeleryDep, StoresDep
from services.gateway.security.policy import Policy, allow

log = logging.getLogger(__name__)
router = APIRouter(tags=["metrics"], dependencies=[allow(Policy.metrics)])
SOURCE_SECONDS = 3.0
QUEUES = (DETECT_QUEUE, CLASSIFY_QUEUE, TRAIN_QUEUE)
T = TypeVar("T")


def observe_request(info: Info) -> None:
    """The instrumentator's measurement, into the metric declared in core (route template, not raw path)."""
    metrics.HTTP_DURATION.labels(info.modified_handler, info.method, info.modified_status).observe(
        info.modified_duration)


async def _within(source: str, work: Awaitable[T]) -> T | None:
    try:
        return await asyncio.wait_for(work, SOURCE_SECONDS)
    except Exception as exc:
        log.warning("metrics: %s did not answer: %s: %s", source, type(exc).__name__, exc)
        return None


def _queue_depths(celery: Celery) -> dict[str, int]:
    return {queue: waiting_tasks(celery, queue) for queue in QUEUES}


async def _images(catalog: Catalog) -> dict[str, int]:
    return {status.value: count for status, count in (await catalog.image_counts()).items()}


def _classifiers(stores: Stores) -> list[metrics.ClassifierModel]:
    return [metrics.ClassifierModel(worker=b.name, version=b.model_version or "none", provider=b.provider or "unknown")
            for b in read_beats(stores.blobs) if b.kind == "classifier"]


@router.get(metrics.METRICS_PATH, include_in_schema=False)
async def metrics_page(stores: StoresDep, celery: CeleryDep) -> Response:
    depths, images, classifiers = await asyncio.gather(
        _within("the broker", asyncio.to_thread(_queue_depths, celery)),
        _within("the catalog", _images(stores.catalog)),
        _within("the heartbeats", asyncio.to_thread(_classifiers, stores)))
    snapshot = metrics.Snapshot(queue_depth=depths, images=images, classifiers=classifiers)
    counted = await asyncio.to_thread(metrics.process_metrics)
    return Response(counted + metrics.snapshot_metrics(snapshot), media_type=metrics.CONTENT_TYPE)
