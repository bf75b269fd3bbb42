"""Celery tasks of the trainer worker (queue ``train``): collect a dataset, train and publish a model."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from functools import cache
from typing import Any

from celery import Task
from celery.signals import worker_ready

from services.core.celery_app import app
from services.core.domain import Job, JobState, new_id
from services.core.learning import AUTO_TRAIN_CHECK, PREVIEW_KIND, PREVIEW_MODEL
from services.core.queue import COLLECT_DATASET, SWITCH_NETWORK, TRAIN_MODEL
from services.core.task_metrics import note_failed
from services.core.worker_runtime import retry_later, worker_context
from services.trainer import autotrain
from services.trainer.pipeline import DATASET_JOB, SWITCH_JOB, TRAIN_JOB, Trainer

log = logging.getLogger(__name__)


@cache
def trainer() -> Trainer:
    return Trainer(worker_context(), app)


def warm_up() -> None:
    from services.core.faces.prepare import prepare_models

    prepare_models(worker_context().settings, fetch=False)
    _ = trainer()


def run_job_task(task: Task, job_id: str, kind: str, params: dict[str, Any] | None,
                 work: Callable[[str], Coroutine[Any, Any, dict[str, Any]]]) -> None:
    """Run a job with the service's retry policy; after the last retry the job is failed with the reason."""
    ctx = worker_context()
    settings = ctx.settings
    try:
        _ = ctx.stores
        if ctx.run(ctx.stores.catalog.get_job(job_id)) is None:
            ctx.run(ctx.stores.catalog.create_job(Job(id=job_id, kind=kind, params=params or {})))
        ctx.run(work(job_id))
    except Exception as exc:
        retries = task.request.retries
        if retries >= settings.task_max_retries:
            log.exception("%s job %s failed after %d retries", kind, job_id, retries)
            note_failed(task)
            try:
                ctx.run(ctx.update_job(job_id, state=JobState.failed, progress=1.0,
                                       message=f"{type(exc).__name__}: {exc}"[:500]))
            except Exception:
                log.exception("could not mark job %s failed", job_id)
            return
        delay = settings.task_retry_backoff * 2**retries
        log.warning("%s job %s: %s: %s; retry %d of %d in %.0fs", kind, job_id, type(exc).__name__, exc,
                    retries + 1, settings.task_max_retries, delay)
        raise retry_later(task, exc, delay, args=[job_id, params]) from exc


@app.task(name=TRAIN_MODEL, bind=True)
def train_model(self: Task, job_id: str | None = None, params: dict[str, Any] | None = None) -> None:
    """Train on every person-labelled face and publish if not worse. Without a job id (the beat schedule)
    a job is made for the run."""
    job_id = job_id or f"train-{new_id()}"
    run_job_task(self, job_id, TRAIN_JOB, params, lambda jid: trainer().train(jid, params))


@app.task(name=SWITCH_NETWORK, bind=True)
def switch_network(self: Task, job_id: str, params: dict[str, Any] | None = None) -> None:
    """Move the library to the configured descriptor network (FACETAG_DESCRIPTOR)."""
    run_job_task(self, job_id, SWITCH_JOB, params, lambda jid: trainer().switch_network(jid, params))


@app.task(name=COLLECT_DATASET, bind=True)
def collect_dataset(self: Task, job_id: str, params: dict[str, Any] | None = None) -> None:
    run_job_task(self, job_id, DATASET_JOB, params, lambda jid: trainer().collect(jid, params))


@app.task(name=PREVIEW_MODEL, bind=True)
def preview_model(self: Task, job_id: str, params: dict[str, Any] | None = None) -> None:
    """Compare a stored candidate with the current model (GET /v1/admin/models/{version}/preview)."""
    run_job_task(self, job_id, PREVIEW_KIND, params, lambda jid: trainer().preview(jid, params))


@app.task(name=AUTO_TRAIN_CHECK)
def auto_train_check() -> None:
    """Start a training if enough new names came in, or none for a while (services/trainer/autotrain.py).
    A failed check is only logged: the next one comes within seconds and reads the same facts."""
    ctx = worker_context()
    try:
        ctx.run(autotrain.check(ctx.stores, app, ctx.settings))
    except Exception as exc:
        log.warning("auto-training check failed: %s: %s", type(exc).__name__, exc)


@worker_ready.connect
def _start_auto_training(**_: Any) -> None:
    """Only a running trainer worker checks (this module is imported by trainer workers alone)."""
    settings = worker_context().settings
    if settings.auto_train:
        autotrain.Ticker(app, settings.auto_train_check_seconds).start()
        log.info("auto-training: after %d new names or %.0fs without new ones (checked every %.0fs)",
                 settings.auto_train_labels, settings.auto_train_quiet_seconds, settings.auto_train_check_seconds)
