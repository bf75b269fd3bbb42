"""Where the learning loop stands: how many faces people named since the model last learnt, whether a
training is on its way, and whether one should start by itself (issue 12, item 4).

Shared by the trainer (which decides and starts trainings, services/trainer/autotrain.py) and the gateway
(which tells people, GET /v1/model/status), so both read the same facts the same way. Everything is
derived from the catalog (labels, jobs) and the registry (the current model): nothing lives in a
process's memory, so a crash loses no trigger.

Cut-off times, oldest to newest:

- the current model's ``labels_read_at``: the labels it was trained on;
- ``learnt_until``: also a later training that finished without publishing (nothing new, or not better):
  the trainer has looked at those labels, so they are no longer "new";
- ``tried_until``: also trainings that failed and auto-trainings decided but not yet finished. Only new
  labels after this start another auto-training, so "nothing to learn" or a failing training never loops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.core import registry as reg
from services.core.blobs import BlobStore
from services.core.catalog import Catalog, FaceQuery
from services.core.domain import Job, JobState
from services.core.errors import NotFound
from services.core.settings import Settings

log = logging.getLogger(__name__)

AUTO_TRAIN_CHECK = "facetag.auto_train_check"  # task on the train queue: look whether to train now
PREVIEW_MODEL = "facetag.preview_model"  # task on the train queue: compare a candidate with the current model
TRAIN_KIND = "train"
PREVIEW_KIND = "preview"
BUSY_KINDS = frozenset({TRAIN_KIND, "switch_network"})  # jobs that make a new model
AUTO_TRIGGER = "auto"
# A queued or running job untouched this long is taken as lost (its task was never sent, or the record
# outlived a wiped broker): it must not hold auto-training back for ever.
LOST_AFTER = timedelta(hours=2)
# Counting new labels stops here ("1000+"): the catalog can only list faces, and listing 1000 costs ~0.5 s of
# a small machine's CPU (measured: 10,000 took 3-5 s), too much for a status every page asks for.
COUNT_LIMIT = 1000
ONE_MS = timedelta(milliseconds=1)  # the stores' time resolution: "after t" is "at or after t + 1 ms"


@dataclass(frozen=True)
class Rule:
    """The auto-training settings (FACETAG_AUTO_TRAIN*)."""

    enabled: bool
    labels: int
    quiet_seconds: float
    check_seconds: float

    @classmethod
    def of(cls, settings: Settings) -> Rule:
        return cls(enabled=settings.auto_train, labels=settings.auto_train_labels,
                   quiet_seconds=settings.auto_train_quiet_seconds, check_seconds=settings.auto_train_check_seconds)


@dataclass(frozen=True)
class Decision:
    train: bool
    reason: str
    starts_in: float | None = None  # seconds until the quiet spell is over, while waiting for it


def decide(pending_labels: int, last_label_at: datetime | None, model_at: datetime | None, training_active: bool,
           now: datetime, rule: Rule) -> Decision:
    """Whether to start a training now, and why (or why not).

    ``pending_labels`` counts human labels no training has looked at yet (after ``tried_until``);
    ``last_label_at`` is the newest of them; ``model_at`` is when the current model read its labels.
    """
    if not rule.enabled:
        return Decision(False, "auto-training is off (FACETAG_AUTO_TRAIN=false)")
    if pending_labels <= 0 or last_label_at is None or (model_at is not None and last_label_at <= model_at):
        return Decision(False, "no new names since the last training")
    if training_active:
        return Decision(False, "a training is queued or running")
    if pending_labels >= rule.labels:
        return Decision(True, f"{pending_labels} new name(s) since the last training (at least {rule.labels})")
    quiet_for = (now - last_label_at).total_seconds()
    if quiet_for >= rule.quiet_seconds:
        return Decision(True, f"{pending_labels} new name(s), none for {quiet_for:.0f}s "
                              f"(quiet period {rule.quiet_seconds:.0f}s)")
    return Decision(False, f"{pending_labels} new name(s); waiting for {rule.quiet_seconds:.0f}s without new names "
                           f"or {rule.labels} names", starts_in=rule.quiet_seconds - quiet_for)


@dataclass(frozen=True)
class LabelCount:
    new_labels: int
    pending_labels: int
    last_label_at: datetime | None


class CountCache:
    """The last label count for the same cut-offs, for a few seconds: the gateway answers every open page's
    status poll from it. A training that ends moves the cut-offs, so its outcome shows at once."""

    def __init__(self, ttl_seconds: float = 5.0) -> None:
        self.ttl = ttl_seconds
        self._key: tuple[datetime | None, datetime | None] | None = None
        self._at = 0.0
        self._value: LabelCount | None = None

    def get(self, key: tuple[datetime | None, datetime | None]) -> LabelCount | None:
        fresh = self._key == key and time.monotonic() - self._at < self.ttl
        return self._value if fresh else None

    def put(self, key: tuple[datetime | None, datetime | None], value: LabelCount) -> None:
        self._key, self._at, self._value = key, time.monotonic(), value


async def count_labels(catalog: Catalog, learnt_until: datetime | None, tried_until: datetime | None,
                       limit: int) -> LabelCount:
    since = learnt_until + ONE_MS if learnt_until is not None else None
    faces = await catalog.list_faces(FaceQuery(label_source="person", labelled_since=since, limit=limit))
    pending = [f.labelled_at for f in faces
               if f.labelled_at is not None and (tried_until is None or f.labelled_at > tried_until)]
    return LabelCount(len(faces), len(pending), max(pending, default=None))


@dataclass(frozen=True)
class LearningState:
    current_version: str | None
    trained_at: datetime | None  # when the current model was made
    model_labels_at: datetime | None  # the labels the current model read
    learnt_until: datetime | None
    tried_until: datetime | None
    new_labels: int  # human labels after learnt_until (capped at COUNT_LIMIT)
    pending_labels: int  # of those, after tried_until
    last_label_at: datetime | None  # the newest pending label
    active_job: Job | None  # a training (or network switch) queued or running
    last_failed: Job | None  # the newest finished training, when it failed
    candidates: list[str]  # versions newer than the current one that were never published (held back or kept out)
    held_for_review: list[str]  # of those, the ones a training held back on purpose (publish: "review")

    def decide(self, rule: Rule, now: datetime) -> Decision:
        return decide(self.pending_labels, self.last_label_at, self.model_labels_at, self.active_job is not None,
                      now, rule)


def labels_cutoff(job: Job) -> datetime | None:
    """Up to when a training job took labels into account: the time it read them, else (decided, not yet
    run) the newest label when it was decided."""
    for value in (job.result.get("labels_read_at"), job.params.get("labels_until")):
        if isinstance(value, str) and value:
            try:
                return _aware(datetime.fromisoformat(value))
            except ValueError:
                continue
    return None


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _latest(*moments: datetime | None) -> datetime | None:
    present = [m for m in moments if m is not None]
    return max(present) if present else None


def _current_model(blobs: BlobStore) -> tuple[reg.ModelManifest | None, list[str], list[str]]:
    registry = reg.Registry(blobs)
    try:
        manifest = registry.current_manifest()
    except (reg.ModelCorrupt, NotFound) as exc:
        log.warning("the current model cannot be read: %s", exc)
        manifest = None
    floor = reg.version_number(manifest.version) if manifest is not None else 0
    candidates, held = [], []
    for version in registry.versions():  # only the few newer than the current one are read
        if reg.version_number(version) <= floor:
            continue
        try:
            evaluation = registry.manifest(version).evaluation
        except (reg.ModelCorrupt, NotFound):
            continue
        if evaluation.get("promoted") is False:  # never published: held for review, or kept out as worse
            candidates.append(version)
            if evaluation.get("held_for_review"):
                held.append(version)
    return manifest, candidates, held


async def gather(catalog: Catalog, blobs: BlobStore, now: datetime, *, labels_needed: int = 0,
                 cache: CountCache | None = None) -> LearningState:
    """Where the loop stands. ``labels_needed`` (the rule's count) raises the counting limit, so the count
    rule always sees enough labels to fire."""
    manifest, candidates, held = await asyncio.to_thread(_current_model, blobs)
    model_labels_at: datetime | None = None
    if manifest is not None:
        read_at = manifest.dataset.get("labels_read_at")
        model_labels_at = _aware(datetime.fromisoformat(read_at)) if isinstance(read_at, str) else manifest.created_at
    jobs = [j for j in await catalog.list_jobs() if j.kind in BUSY_KINDS]
    trainings = [j for j in jobs if j.kind == TRAIN_KIND]
    learnt_until = _latest(model_labels_at, *(labels_cutoff(j) for j in trainings if j.state == JobState.done))
    tried_until = _latest(learnt_until, *(labels_cutoff(j) for j in trainings
                                          if j.state == JobState.failed or j.params.get("trigger") == AUTO_TRIGGER))
    active = [j for j in jobs if j.state in (JobState.queued, JobState.running) and now - j.updated_at < LOST_AFTER]
    finished = [j for j in trainings if j.state in (JobState.done, JobState.failed)]
    newest_finished = max(finished, key=lambda j: j.updated_at, default=None)
    key = (learnt_until, tried_until)
    counted = cache.get(key) if cache is not None else None
    if counted is None:
        counted = await count_labels(catalog, learnt_until, tried_until, max(COUNT_LIMIT, labels_needed))
        if cache is not None:
            cache.put(key, counted)
    return LearningState(
        current_version=manifest.version if manifest else None,
        trained_at=manifest.created_at if manifest else None,
        model_labels_at=model_labels_at, learnt_until=learnt_until, tried_until=tried_until,
        new_labels=counted.new_labels, pending_labels=counted.pending_labels, last_label_at=counted.last_label_at,
        active_job=max(active, key=lambda j: j.created_at, default=None),
        last_failed=newest_finished if newest_finished is not None and newest_finished.state == JobState.failed
        else None,
        candidates=candidates, held_for_review=held)


def names(n: int) -> str:
    count = f"{COUNT_LIMIT}+" if n >= COUNT_LIMIT else str(n)
    return f"{count} new name" if n == 1 else f"{count} new names"


def within(seconds: float) -> str:
    if seconds <= 60:
        return "within a minute"
    return f"within {math.ceil(seconds / 60)} minutes"


def describe(state: LearningState, decision: Decision, rule: Rule) -> tuple[bool, str]:
    """``up_to_date`` and one line for people."""
    job = state.active_job
    if job is not None:
        what = f"Learning from {names(state.new_labels)}" if state.new_labels else "Training"
        if job.kind != TRAIN_KIND:
            what = "Moving the library to a new descriptor network"
        percent = f" ({round(job.progress * 100)}%)" if job.state == JobState.running and job.progress else ""
        return False, f"{what}…{percent}"
    if state.new_labels == 0:
        if state.held_for_review:
            return False, f"{state.held_for_review[-1]} is trained and waits for review"
        if state.current_version is None:
            return True, "No model yet: name some faces"
        return True, "Up to date"
    since = "since the last training" if state.current_version else "and no model yet"
    if decision.train:
        return False, f"{names(state.new_labels)} {since}; it will start in a moment"
    if state.pending_labels == 0 and state.last_failed is not None:
        reason = state.last_failed.message or "no reason given"
        return False, f"{names(state.new_labels)} the model has not learnt: the last training failed ({reason})"
    if not rule.enabled:
        return False, f"{names(state.new_labels)} {since}; an admin can train now on the Model page"
    if decision.starts_in is not None:
        wait = within(decision.starts_in + rule.check_seconds)
        return False, f"{names(state.new_labels)} {since}; it will start {wait}"
    return False, f"{names(state.new_labels)} {since}"


def preview_job_id(version: str, against: str | None) -> str:
    """The job that compares ``version`` with ``against`` (the current model; None: no model): one id per pair,
    so asking again finds the same job."""
    return f"preview-{version}-vs-{against or 'none'}"
