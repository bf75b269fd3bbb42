"""``facetag worker KIND``: one Celery worker process for one stage, solo pool (scale by replicas)."""

from __future__ import annotations

import importlib
import logging
import os
import socket

from services.core.queue import CLASSIFY_QUEUE, DETECT_QUEUE, TRAIN_QUEUE

log = logging.getLogger(__name__)

WORKERS = {
    "detector": ("services.detector.tasks", DETECT_QUEUE),
    "classifier": ("services.classifier.tasks", CLASSIFY_QUEUE),
    "trainer": ("services.trainer.tasks", TRAIN_QUEUE),
}


def run_worker(kind: str) -> int:
    from services.core import task_metrics
    from services.core.celery_app import app
    from services.core.settings import get_settings
    from services.core.worker_health import WorkerHealth, serve_health

    module_name, queue = WORKERS[kind]
    module = importlib.import_module(module_name)
    # Probes answer from the start: alive while models load, ready once Celery consumes.
    health = WorkerHealth(get_settings(), app, getattr(module, "ready_check", None))
    health.follow_celery()
    task_metrics.connect(queue)
    serve_health(health)
    # Load models before taking tasks: a missing model or an unavailable GPU fails here, at start.
    warm_up = getattr(module, "warm_up", None)
    if warm_up is not None:
        warm_up()

    name = f"{kind}-{os.getpid()}@{socket.gethostname()}"
    log.info("%s worker %s taking tasks from queue %r", kind, name, queue)
    code = 0
    try:
        app.worker_main(["worker", "--pool=solo", "-Q", queue, "-n", name, "--without-gossip", "--without-mingle",
                         "--without-heartbeat", "--loglevel", logging.getLevelName(logging.getLogger().level)])
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    log.info("%s worker %s stopped (exit code %d)", kind, name, code)
    logging.shutdown()
    # Exit now: store client threads (aiosqlite's, for one) would otherwise keep a stopped worker alive,
    # and a supervisor only restarts a worker that has exited.
    os._exit(code)


def run_beat() -> int:
    """``facetag beat``: Celery beat sending the retraining task on ``FACETAG_TRAIN_SCHEDULE``."""
    from celery.apps.beat import Beat

    from services.core.celery_app import app
    from services.core.errors import InvalidInput
    from services.core.settings import get_settings
    from services.trainer.schedule import beat_schedule, schedule_file

    settings = get_settings()
    try:
        schedule = beat_schedule(settings)
    except InvalidInput as exc:
        log.error("%s", exc)
        return 2
    if not schedule:
        log.error("FACETAG_TRAIN_SCHEDULE is empty: nothing to schedule. Set it to a cron expression, "
                  "e.g. '0 3 * * *' (03:00 UTC daily)")
        return 2
    app.conf.beat_schedule = schedule
    log.info("beat: retraining on %r (UTC)", settings.train_schedule)
    Beat(app=app, schedule=str(schedule_file(settings)), loglevel=logging.getLevelName(logging.getLogger().level),
         quiet=True).run()
    return 0
