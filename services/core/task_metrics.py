"""Task counters and durations from Celery's signals, and the clock a worker's liveness reads.

Signals see every task of every stage (photos, faces, re-tagging, training, re-detection) without
each task saying so. A task that gives up without raising (run_image_task marks a bad photo failed and
returns) says so with ``note_failed``, or it would count as succeeded.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from celery import Task
from celery.signals import task_postrun, task_prerun

from services.core import metrics
from services.core.queue import CLASSIFY_QUEUE, DETECT_QUEUE, ROUTES

PREFIX = "facetag."
PHOTO_STAGES = (DETECT_QUEUE, CLASSIFY_QUEUE)
RETRIED_STATES = frozenset({"RETRY", "REJECTED"})  # REJECTED: handed back to the queue (retry_later)


@dataclass(frozen=True)
class Running:
    task: str
    stage: str
    since: float  # time.monotonic()


class TaskClock:
    """What this worker runs now and since when (Celery's solo pool runs one task at a time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[str, Running] = {}
        self._failed: set[str] = set()

    def running(self) -> list[Running]:
        with self._lock:
            return list(self._running.values())

    def started(self, task_id: str, task: str, stage: str) -> None:
        with self._lock:
            self._running[task_id] = Running(task, stage, time.monotonic())

    def finished(self, task_id: str) -> tuple[Running | None, bool]:
        """The task that ended and whether it noted a failure."""
        with self._lock:
            failed = task_id in self._failed
            self._failed.discard(task_id)
            return self._running.pop(task_id, None), failed

    def note_failed(self, task_id: str) -> None:
        with self._lock:
            self._failed.add(task_id)


CLOCK = TaskClock()


def stage_and_name(task_name: str) -> tuple[str, str]:
    return ROUTES.get(task_name, "other"), task_name.removeprefix(PREFIX)


def note_failed(task: Task) -> None:
    """The running task gave up (its photo is marked failed) without raising."""
    if task.request.id:
        CLOCK.note_failed(task.request.id)


def _prerun(task_id: str | None = None, task: Task | None = None, **_: Any) -> None:
    if task_id is None or task is None:
        return
    stage, name = stage_and_name(task.name)
    metrics.TASKS_STARTED.labels(stage, name).inc()
    CLOCK.started(task_id, name, stage)


def _postrun(task_id: str | None = None, state: str | None = None, **_: Any) -> None:
    if task_id is None:
        return
    running, failed = CLOCK.finished(task_id)
    if running is None:
        return
    labels = (running.stage, running.task)
    metrics.TASK_DURATION.labels(*labels).observe(time.monotonic() - running.since)
    if state in RETRIED_STATES:
        metrics.TASKS_RETRIED.labels(*labels).inc()
    elif state == "SUCCESS" and not failed:
        metrics.TASKS_SUCCEEDED.labels(*labels).inc()
    else:
        metrics.TASKS_FAILED.labels(*labels).inc()


def connect(queue: str) -> None:
    """Count this worker's tasks (call once, before the worker takes tasks from ``queue``).

    Its series start at 0, so a dashboard shows no failures as 0 rather than as no data, and rate()
    sees the first one."""
    task_prerun.connect(_prerun, weak=False)
    task_postrun.connect(_postrun, weak=False)
    for task_name, routed in ROUTES.items():
        if routed == queue:
            labels = stage_and_name(task_name)
            for counter in (metrics.TASKS_STARTED, metrics.TASKS_SUCCEEDED, metrics.TASKS_FAILED,
                            metrics.TASKS_RETRIED):
                counter.labels(*labels)
            metrics.TASK_DURATION.labels(*labels)
    if queue in PHOTO_STAGES:
        for per_stage in (metrics.PHOTOS_PROCESSED, metrics.PHOTOS_FAILED, metrics.FACES_PROCESSED):
            per_stage.labels(queue)
