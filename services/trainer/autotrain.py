"""Training by itself after people name faces (issue 12, item 4).

Every trainer worker runs a small ticker thread that, every ``FACETAG_AUTO_TRAIN_CHECK_SECONDS``, puts
one check task on the train queue unless a task already waits there; the check runs on the worker's own
thread like any task, reads where the learning loop stands (services/core/learning.py, all of it from the
catalog and the registry) and, when the rule says so, starts one training. This works the same on
``facetag serve`` and on a cluster, with or without Celery beat, and with several trainer workers:

- a training queued or running holds further ones back (decide);
- two checks deciding at once make the same job id (from the cut-off they both read), and only the one
  whose claim the catalog kept sends the task: the catalog's create_job keeps the first record;
- the job records the newest label it was decided for, so after it ends (published, nothing new, not
  better, failed) only labels given after that start another: no loop;
- a crash anywhere loses nothing: the next check reads the same facts again.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import datetime

from celery import Celery

from services.core import learning
from services.core.access.model import AuditEntry
from services.core.domain import Job, JobState, new_id, utcnow
from services.core.queue import TRAIN_MODEL, TRAIN_QUEUE, waiting_tasks
from services.core.settings import Settings
from services.core.stores import Stores

log = logging.getLogger(__name__)


def auto_job_id(tried_until: datetime | None) -> str:
    """One id per cut-off: every check that read the same facts proposes the same job."""
    stamp = int(tried_until.timestamp() * 1000) if tried_until is not None else 0
    return f"auto-train-{stamp}"


async def check(stores: Stores, celery: Celery, settings: Settings) -> learning.Decision:
    """Start a training if the rule says so; the decision either way."""
    rule = learning.Rule.of(settings)
    if not rule.enabled:
        return learning.Decision(False, "auto-training is off (FACETAG_AUTO_TRAIN=false)")
    now = utcnow()
    state = await learning.gather(stores.catalog, stores.blobs, now, labels_needed=rule.labels)
    decision = state.decide(rule, now)
    if not decision.train:
        log.debug("auto-training waits: %s", decision.reason)
        return decision
    assert state.last_label_at is not None
    claim = new_id()
    params: dict[str, object] = {"trigger": learning.AUTO_TRIGGER, "labels_until": state.last_label_at.isoformat(),
                                 "reason": decision.reason, "claim": claim}
    job = await stores.catalog.create_job(Job(id=auto_job_id(state.tried_until), kind=learning.TRAIN_KIND,
                                              params=params))
    if job.params.get("claim") != claim:
        return learning.Decision(False, f"another check started {job.id}")
    try:
        await asyncio.to_thread(celery.send_task, TRAIN_MODEL, args=[job.id, params], queue=TRAIN_QUEUE)
    except Exception as exc:
        # Counted as tried (no loop while the broker is down); the next new name tries again.
        await stores.catalog.update_job(job.id, state=JobState.failed, progress=1.0,
                                        message=f"could not be queued: {exc}"[:500])
        log.warning("could not queue auto-training %s: %s", job.id, exc)
        return learning.Decision(False, f"could not queue the training: {exc}")
    await stores.access.add_audit(AuditEntry(actor="trainer", action="model.train", target_kind="job",
                                             target_id=job.id, after=dict(params)))
    log.info("auto-training %s queued: %s", job.id, decision.reason)
    return decision


class Ticker:
    """Puts a check on the train queue every ``check_seconds`` unless one (or anything) waits there already,
    so a long training never piles checks up behind it."""

    def __init__(self, celery: Celery, check_seconds: float) -> None:
        self.celery = celery
        self.check_seconds = check_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="auto-train-ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.check_seconds):
            try:
                if self._waiting() == 0:
                    self.celery.send_task(learning.AUTO_TRAIN_CHECK, args=[], queue=TRAIN_QUEUE)
            except Exception as exc:  # the broker is away: the next tick tries again
                log.warning("auto-training check not queued: %s", exc)

    def _waiting(self) -> int:
        return waiting_tasks(self.celery, TRAIN_QUEUE)
