"""Celery tasks of the detector worker (queue ``detect``)."""

from __future__ import annotations

from functools import cache

from celery import Task

from services.core.celery_app import app
from services.core.queue import DETECT_IMAGE, PREPARE_FACE
from services.core.worker_runtime import run_image_task, worker_context
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
