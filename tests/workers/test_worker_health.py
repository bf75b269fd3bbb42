"""A worker's /livez, /readyz and /metrics on FACETAG_METRICS_PORT (issue 13): a real worker process, and
the probes' answers with real embedded stores when a store, the task loop or the stage is not right."""

from __future__ import annotations

import secrets
import shutil
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from celery.signals import worker_ready, worker_shutting_down
from servers import free_port
from service_fixtures import base_env, start_facetag

from services.core.queue import make_celery
from services.core.settings import Settings
from services.core.task_metrics import TaskClock
from services.core.worker_health import WorkerHealth, serve_health

TOKEN = secrets.token_urlsafe(24)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def answers(url: str, code: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return httpx.get(url, timeout=5).status_code == code
        except httpx.TransportError:
            return False
    return check


@pytest.mark.e2e
def test_a_real_detector_worker_answers_its_probes(tmp_path: Path) -> None:
    port = free_port()
    env = base_env(tmp_path / "data", metrics_port=port, metrics_token=TOKEN)
    worker = start_facetag("detector", ["worker", "detector"], env, tmp_path)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(answers(f"{base}/livez", 200), 60, "/livez")
        wait_for(answers(f"{base}/readyz", 200), 120, "/readyz (models loaded, Celery consuming)")
        ready = httpx.get(f"{base}/readyz").json()
        assert ready == {"status": "ok", "checks": {"catalog": "ok", "blobs": "ok", "broker": "ok", "tasks": "ok"}}
        refused = httpx.get(f"{base}/metrics")
        assert refused.status_code == 401 and "FACETAG_METRICS_TOKEN" in refused.json()["message"]
        assert httpx.get(f"{base}/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        page = httpx.get(f"{base}/metrics", headers=AUTH)
        assert page.status_code == 200 and "# TYPE facetag_task_duration_seconds histogram" in page.text
        assert httpx.get(f"{base}/other").status_code == 404
    finally:
        worker.stop()
    assert "worker health and metrics on port" in worker.log.read_text()


@dataclass
class Probed:
    health: WorkerHealth
    base: str
    problems: list[str] = field(default_factory=list)  # what the stage check reports


@pytest.fixture
def probed(tmp_path: Path) -> Iterator[Probed]:
    """WorkerHealth on the embedded stores of a fresh data folder, served on a free port."""
    settings = Settings(data_dir=tmp_path / "data", metrics_port=free_port(), metrics_token=TOKEN)  # type: ignore[arg-type]
    (settings.data_dir / "blobs").mkdir(parents=True)
    problems: list[str] = []
    health = WorkerHealth(settings, make_celery(settings), lambda: problems[0] if problems else None, TaskClock())
    health.follow_celery()
    server = serve_health(health, host="127.0.0.1")
    assert server is not None
    try:
        yield Probed(health, f"http://127.0.0.1:{settings.metrics_port}", problems)
    finally:
        health.stop()
        server.shutdown()
        server.server_close()


def test_ready_only_while_taking_tasks_and_every_store_answers(probed: Probed) -> None:
    health, base = probed.health, probed.base
    starting = httpx.get(f"{base}/readyz")
    assert starting.status_code == 503 and starting.json()["checks"]["tasks"] == "failing"
    worker_ready.send(sender=None)
    wait_for(answers(f"{base}/readyz", 200), 15, "the first store checks")
    shutil.rmtree(health.settings.data_dir / "blobs")  # the blob store goes away
    wait_for(answers(f"{base}/readyz", 503), 15, "the blob store to be found failing")
    anonymous = httpx.get(f"{base}/readyz").json()
    assert anonymous["checks"]["blobs"] == "failing"  # no folder names for anonymous callers
    detailed = httpx.get(f"{base}/readyz", headers=AUTH).json()
    assert detailed["checks"]["blobs"].startswith("failing: ") and "blobs" in detailed["checks"]["blobs"][9:]
    (health.settings.data_dir / "blobs").mkdir()
    wait_for(answers(f"{base}/readyz", 200), 15, "the blob store to be back")
    worker_shutting_down.send(sender=None, sig="SIGTERM", how="warm", exitcode=0)  # draining: take no more
    assert httpx.get(f"{base}/readyz").status_code == 503


def test_a_stage_that_is_not_ready_says_so(probed: Probed) -> None:
    base = probed.base
    worker_ready.send(sender=None)
    wait_for(answers(f"{base}/readyz", 200), 15, "the first store checks")
    probed.problems.append("no model loaded")
    assert httpx.get(f"{base}/readyz").json()["checks"]["stage"] == "failing"
    assert httpx.get(f"{base}/readyz", headers=AUTH).json()["checks"]["stage"] == "failing: no model loaded"
    assert httpx.get(f"{base}/readyz").status_code == 503


def test_a_wedged_task_fails_liveness(probed: Probed) -> None:
    health, base = probed.health, probed.base
    assert httpx.get(f"{base}/livez").json() == {"status": "ok", "checks": {"main thread": "ok", "tasks": "ok"}}
    health.settings = health.settings.model_copy(update={"stalled_after": 1})  # a photo may take 1 s
    health.clock.started("task-1", "detect_image", "detect")
    health.clock.started("task-2", "train_model", "train")  # a task over the library: 6 s
    assert httpx.get(f"{base}/livez").status_code == 200  # running, not for long
    time.sleep(1.2)
    wedged = httpx.get(f"{base}/livez")
    assert wedged.status_code == 503 and wedged.json()["checks"]["tasks"] == "failing"
    assert "detect_image has run" in httpx.get(f"{base}/livez", headers=AUTH).json()["checks"]["tasks"]
    health.clock.finished("task-1")
    assert httpx.get(f"{base}/livez").status_code == 200  # the training is within its time


def test_no_port_when_it_is_zero_or_taken(probed: Probed) -> None:
    health = probed.health
    taken = WorkerHealth(health.settings, health.celery)  # same port: already served
    assert serve_health(taken, host="127.0.0.1") is None
    off = WorkerHealth(health.settings.model_copy(update={"metrics_port": 0}), health.celery)
    assert serve_health(off) is None
