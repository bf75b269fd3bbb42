"""Celery tasks of the detector worker (queue ``detect``)."""

from __future__ import annotations

from functools import cache

from celery import Task

from services.core.celery_app import app
from services.core.queue import DETECT_IMAGE, PREPARE_FACE, REDETECT_LIBRARY, REDETECT_WATCH
from services.core.worker_runtime import retry_later, run_image_task, worker_context
from services.detector import redetect
from services.detector.pipeline import Detector


@cache
def detector() -> Detector:
    return Detector(worker_context(), app)


def warm_up() -> None:
    _ = detector().finder


@app.task(name=DETECT_IMAGE, bind=True)
def detect_image(self: Task, image_id: str) -> None:
    run_image_task(worker_context(), self, image_id, detector().detect(image_id))


@app.task(name=PREPARE_FACE, bind=True)
def prepare_face(self: Task, face_id: str, image_id: str) -> None:
    run_image_task(worker_context(), self, image_id, detector().prepare_face(face_id), fail_image=False)


@app.task(name=REDETECT_LIBRARY, bind=True, max_retries=None)
def redetect_library(self: Task, job_id: str, params: dict[str, object] | None = None) -> None:
    """Queue every finished photo for detection again (after the detector changed)."""
    ctx = worker_context()
    try:
        ctx.run(redetect.plan(ctx, app, job_id))
    except Exception as exc:  # a store outage: try again, the plan resumes
        raise retry_later(self, exc, ctx.settings.task_retry_backoff) from exc


@app.task(name=REDETECT_WATCH, bind=True, max_retries=None)
def redetect_watch(self: Task, job_id: str) -> None:
    ctx = worker_context()
    try:
        going = ctx.run(redetect.watch(ctx, job_id))
    except Exception as exc:
        raise retry_later(self, exc, ctx.settings.task_retry_backoff) from exc
    if going:
        app.send_task(REDETECT_WATCH, args=[job_id], countdown=redetect.WATCH_SECONDS)
