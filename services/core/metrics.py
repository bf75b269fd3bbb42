"""Prometheus metrics: every ``facetag_*`` metric is declared here, once, so every process counts alike.

Where they are served:

- the gateway: ``GET /metrics`` on its own port (8000), for an admin or ``Authorization: Bearer
  FACETAG_METRICS_TOKEN``. It adds what is read at scrape time: queue depth per queue (from the
  broker), images by status (indexed counts in the catalog) and the model and ONNX Runtime execution
  provider of each classifier (from the workers' heartbeats, so one scrape covers every classifier);
- each worker process (``facetag worker KIND``): a small HTTP server on ``FACETAG_METRICS_PORT`` (9100;
  0 = none) with ``/metrics`` (the same token), ``/livez`` and ``/readyz`` (see worker_health);
- ``facetag serve``: Prometheus multiprocess mode. serve points ``PROMETHEUS_MULTIPROC_DIR`` at a folder
  in the data folder (emptied at start) and its workers open no port: every child writes its counters
  there and the gateway's ``/metrics`` adds them up, so a laptop has one address to scrape. A cluster
  scrapes each pod instead: multiprocess mode only adds up processes that share a folder.

Worker processes hold counters and histograms only (no gauges), so a dead child's files add up right
in multiprocess mode with nothing to clean up.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, Metric, generate_latest
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from pydantic import BaseModel, SecretStr

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own switch, read when it is imported
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Photos take seconds to minutes; a training or a library plan, up to an hour.
TASK_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600)
LATENCY_BUCKETS = (0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600, 1200, 3600)
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)

STAGE_TASK = ("stage", "task")  # stage: the queue (detect, classify, train); task: e.g. detect_image

TASKS_STARTED = Counter("facetag_tasks_started", "Tasks a worker started.", STAGE_TASK)
TASKS_SUCCEEDED = Counter("facetag_tasks_succeeded", "Tasks that finished their work.", STAGE_TASK)
TASKS_FAILED = Counter("facetag_tasks_failed", "Tasks that gave up: a bad photo, or the last retry failed.",
                       STAGE_TASK)
TASKS_RETRIED = Counter("facetag_tasks_retried", "Tasks that failed and were queued to run again.", STAGE_TASK)
TASK_DURATION = Histogram("facetag_task_duration_seconds", "How long a task ran, whatever its outcome.",
                          STAGE_TASK, buckets=TASK_BUCKETS)

PHOTOS_PROCESSED = Counter("facetag_photos_processed", "Photos a stage finished (detect: faces found; "
                           "classify: the photo is done).", ("stage",))
PHOTOS_FAILED = Counter("facetag_photos_failed", "Photos marked failed, by the stage that gave up.", ("stage",))
FACES_PROCESSED = Counter("facetag_faces_processed", "Faces a stage handled (detect: found; classify: described "
                          "and named).", ("stage",))
UPLOAD_TO_DONE = Histogram("facetag_upload_to_done_seconds", "From a photo's upload to its being done.",
                           buckets=LATENCY_BUCKETS)

MODEL_RELOADS = Counter("facetag_model_reloads", "Times a classifier switched to another published model.")
MODELS_REFUSED = Counter("facetag_models_refused", "Published models a classifier refused to serve (damaged, "
                         "or ONNX Runtime cannot run them); it kept serving the one it had.")

HTTP_DURATION = Histogram("facetag_http_request_duration_seconds", "Gateway requests, by route template.",
                          ("handler", "method", "status"), buckets=HTTP_BUCKETS)


def multiprocess_dir() -> str | None:
    """The shared folder of ``facetag serve``'s processes, or None outside serve."""
    return os.environ.get(MULTIPROCESS_ENV) or None


def process_metrics() -> bytes:
    """This process's metrics in the text format; under serve, those of every process of the serve."""
    if multiprocess_dir() is None:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    return generate_latest(registry)


def is_metrics_token(given: str, token: SecretStr) -> bool:
    """``given`` is FACETAG_METRICS_TOKEN (compared in constant time; never true while it is empty)."""
    expected = token.get_secret_value()
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


# Read at scrape time by the gateway --------------------------------------------------------------------

METRICS_PATH = "/metrics"


class ClassifierModel(BaseModel):
    worker: str
    version: str  # "none": descriptors only, no published model yet
    provider: str  # the ONNX Runtime execution provider it runs on, e.g. CPUExecutionProvider


class Snapshot(BaseModel):
    """What the gateway reads from the stores and the broker for one scrape; None: it did not answer."""

    queue_depth: dict[str, int] | None
    images: dict[str, int] | None
    classifiers: list[ClassifierModel] | None


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        snap = self.snapshot
        up = GaugeMetricFamily("facetag_scrape_source_up", "1 if a source answered this scrape in time.",
                               labels=["source"])
        for source, value in (("broker", snap.queue_depth), ("catalog", snap.images),
                              ("heartbeats", snap.classifiers)):
            up.add_metric([source], 0 if value is None else 1)
        yield up
        depth = GaugeMetricFamily("facetag_queue_depth", "Tasks waiting in a queue (not those workers hold).",
                                  labels=["queue"])
        for queue, waiting in (snap.queue_depth or {}).items():
            depth.add_metric([queue], waiting)
        yield depth
        images = GaugeMetricFamily("facetag_images", "Photos in the library by status.", labels=["status"])
        for status, count in (snap.images or {}).items():
            images.add_metric([status], count)
        yield images
        info = InfoMetricFamily("facetag_classifier_model", "The model and execution provider each classifier "
                                "serves (from its heartbeat).", labels=["worker"])
        for beat in snap.classifiers or []:
            info.add_metric([beat.worker], {"version": beat.version, "provider": beat.provider})
        yield info


def snapshot_metrics(snapshot: Snapshot) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snapshot))
    return generate_latest(registry)
