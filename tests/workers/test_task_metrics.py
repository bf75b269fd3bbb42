"""Task outcomes as the metrics count them, through Celery's own tracing (signals), per stage and task."""

from __future__ import annotations

import pytest
from celery import Celery, Task
from prometheus_client import REGISTRY

from services.core import task_metrics
from services.core.queue import DETECT_QUEUE

app = Celery("metrics-test")
attempts: dict[str, int] = {}


def count(metric: str, task: str) -> float:
    return REGISTRY.get_sample_value(metric, {"stage": "other", "task": task}) or 0.0


@app.task(name="facetag.metrics_ok", bind=True)
def ok(self: Task) -> None:
    pass


@app.task(name="facetag.metrics_gave_up", bind=True)
def gave_up(self: Task) -> None:
    task_metrics.note_failed(self)  # as run_image_task does when it marks a bad photo failed


@app.task(name="facetag.metrics_crash", bind=True)
def crash(self: Task) -> None:
    raise RuntimeError("boom")


@app.task(name="facetag.metrics_flaky", bind=True, max_retries=3)
def flaky(self: Task) -> None:
    attempts["flaky"] = attempts.get("flaky", 0) + 1
    if attempts["flaky"] == 1:
        raise self.retry(exc=RuntimeError("store down"), countdown=0)


@pytest.fixture(scope="module", autouse=True)
def counting() -> None:
    task_metrics.connect(DETECT_QUEUE)


def test_series_start_at_zero_for_the_worker_s_stage() -> None:
    # Present before any task failed, so a dashboard reads 0 rather than "no data". (Not "== 0": other tests
    # in this process may have counted failures by now.)
    detect_image = {"stage": "detect", "task": "detect_image"}
    assert REGISTRY.get_sample_value("facetag_tasks_failed_total", detect_image) is not None
    assert REGISTRY.get_sample_value("facetag_photos_failed_total", {"stage": "detect"}) is not None


@pytest.mark.parametrize(("task", "name", "outcome"), [
    (ok, "metrics_ok", "facetag_tasks_succeeded_total"),
    (gave_up, "metrics_gave_up", "facetag_tasks_failed_total"),
    (crash, "metrics_crash", "facetag_tasks_failed_total"),
])
def test_each_outcome_is_counted_once(task: Task, name: str, outcome: str) -> None:
    before = {m: count(m, name) for m in ("facetag_tasks_started_total", "facetag_tasks_succeeded_total",
                                          "facetag_tasks_failed_total", "facetag_task_duration_seconds_count")}
    task.apply()
    after = {m: count(m, name) - before[m] for m in before}
    expected = {"facetag_tasks_started_total": 1, "facetag_task_duration_seconds_count": 1,
                "facetag_tasks_succeeded_total": 0, "facetag_tasks_failed_total": 0}
    expected[outcome] = 1
    assert after == expected


def test_a_retry_counts_as_retried_then_the_next_run_succeeds() -> None:
    flaky.apply()  # eager: the retry runs at once, inside
    assert count("facetag_tasks_started_total", "metrics_flaky") == 2
    assert count("facetag_tasks_retried_total", "metrics_flaky") == 1
    assert count("facetag_tasks_succeeded_total", "metrics_flaky") == 1
    assert count("facetag_tasks_failed_total", "metrics_flaky") == 0
