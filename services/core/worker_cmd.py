"""``facetag worker KIND``: one Celery worker process for one stage, solo pool (scale by replicas)."""

from __future__ import annotations

import importlib
import logging
import os
import socket

from services.core.queue import CLASSIFY_QUEUE, DETECT_QUEUE

log = logging.getLogger(__name__)

WORKERS = {
    "detector": ("services.detector.tasks", DETECT_QUEUE),
    "classifier": ("services.classifier.tasks", CLASSIFY_QUEUE),
}


def run_worker(kind: str) -> int:
    module_name, queue = WORKERS[kind]
    module = importlib.import_module(module_name)
    # Load models before taking tasks: a missing model or an unavailable GPU fails here, at start.
    warm_up = getattr(module, "warm_up", None)
    if warm_up is not None:
        warm_up()
    from services.core.celery_app import app

    name = f"{kind}-{os.getpid()}@{socket.gethostname()}"
    log.info("%s worker %s taking tasks from queue %r", kind, name, queue)
    app.worker_main(["worker", "--pool=solo", "-Q", queue, "-n", name, "--without-gossip", "--without-mingle",
                     "--without-heartbeat", "--loglevel", logging.getLevelName(logging.getLogger().level)])
    return 0

