"""Celery tasks of the classifier worker (queue ``classify``)."""

from __future__ import annotations

from functools import cache

from celery import Task

from services.classifier.identity import DescriptorOnly, IdentityModel
from services.classifier.pipeline import Classifier
from services.core.celery_app import app
from services.core.faces.analyzer import Descriptors
from services.core.queue import CLASSIFY_IMAGE
from services.core.worker_runtime import run_image_task, worker_context


@cache
def _descriptor_only() -> IdentityModel:
    return DescriptorOnly(Descriptors(worker_context().settings))


@cache
def classifier() -> Classifier:
    return Classifier(worker_context(), _descriptor_only)


def warm_up() -> None:
    _descriptor_only()


@app.task(name=CLASSIFY_IMAGE, bind=True)
def classify_image(self: Task, image_id: str, face_ids: list[str] | None = None) -> None:
    run_image_task(self, image_id, classifier().classify(image_id, face_ids), fail_image=face_ids is None)
