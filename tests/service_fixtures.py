"""Run Facetag itself in subprocesses for end-to-end and browser tests, and talk to it over HTTP.

Import the fixtures into a conftest.py (``from service_fixtures import embedded_service``).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from servers import free_port, tail

REPO_ROOT = Path(__file__).resolve().parent.parent
FACE_INDEX_BUILT = re.compile(r"face index built: (\d+) faces in ([\d.]+) s")  # the gateway's log line


@dataclass
class FacetagProcess:
    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


def start_facetag(name: str, args: list[str], env: dict[str, str], log_dir: Path) -> FacetagProcess:
    """``facetag ARGS`` in its own process group, output to ``log_dir/NAME.log``."""
    log = log_dir / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "services.commands.cli", *args], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, cwd=REPO_ROOT, start_new_session=True)
    return FacetagProcess(name, process, log)


def base_env(data_dir: Path, **settings: str | int | float) -> dict[str, str]:
    """The environment of a Facetag under test; it always has an admin key (FACETAG_ADMIN_KEYS)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACETAG_") or k.startswith("FACETAG_REQUIRE")}
    env["FACETAG_DATA_DIR"] = str(data_dir)
    env["FACETAG_LOG_LEVEL"] = "INFO"
    env["FACETAG_ADMIN_KEYS"] = secrets.token_urlsafe(24)
    # Tests train when they say so; those about auto-training pass auto_train=True (issue 12, item 4).
    env["FACETAG_AUTO_TRAIN"] = "false"
    # Workers started side by side would all ask for port 9100; tests that probe a worker pass metrics_port.
    env["FACETAG_METRICS_PORT"] = "0"
    env.update({f"FACETAG_{k.upper()}": str(v) for k, v in settings.items()})
    return env


ROLE_PASSWORD = "a long test password"


@dataclass
class Service:
    """A running Facetag and an HTTP client for it."""

    url: str
    data_dir: Path
    catalog_url: str
    env: dict[str, str]  # what its processes were started with
    processes: list[FacetagProcess] = field(default_factory=list)
    client: httpx.Client = field(init=False)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Signed in with the operator's admin key, as a script would be.
        self.client = httpx.Client(base_url=self.url, timeout=60, headers={"Authorization": f"Bearer {self.admin_key}"})

    @property
    def admin_key(self) -> str:
        return self.env["FACETAG_ADMIN_KEYS"].split(",")[0].strip()

    def account(self, role: str) -> tuple[str, str]:
        """Username and password of a user with this role, made through the admin API the first time."""
        if role not in self.accounts:
            username = f"{role}-{secrets.token_hex(3)}"
            response = self.client.post("/v1/admin/users", json={"username": username, "password": ROLE_PASSWORD,
                                                                  "role": role})
            assert response.status_code == 201, response.text
            self.accounts[role] = (username, ROLE_PASSWORD)
        return self.accounts[role]

    def token(self, role: str, scopes: list[str]) -> str:
        """A new personal API token with these scopes, of the user with this role."""
        username, _ = self.account(role)
        response = self.client.post("/v1/tokens", json={"name": "tests", "scopes": scopes, "for_user": username})
        assert response.status_code == 201, response.text
        return str(response.json()["token"])

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{tail(p.log)}" for p in self.processes)

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.processes:
                if not p.alive():
                    raise RuntimeError(f"{p.name} exited with {p.process.returncode}\n{self.logs()}")
            try:
                if self.client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"Facetag at {self.url} not ready after {timeout}s\n{self.logs()}")

    def wait_face_index(self, timeout: float = 1800) -> tuple[int, float]:
        """(faces, seconds it took) once the gateway has built its face index: it reads the whole library and
        takes the cores meanwhile, so a measurement waits for it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for p in self.processes:
                found = FACE_INDEX_BUILT.search(p.log.read_text(errors="replace"))
                if found:
                    return int(found[1]), float(found[2])
            time.sleep(1)
        raise TimeoutError(f"the gateway did not build its face index in {timeout:.0f} s\n{self.logs()}")

    def upload(self, path: Path, name: str | None = None, media_type: str = "application/octet-stream"
               ) -> httpx.Response:
        with path.open("rb") as fh:
            return self.client.post("/v1/images", files={"file": (name or path.name, fh, media_type)})

    def poll(self, path: str, field: str, final: tuple[str, ...], timeout: float) -> dict[str, Any]:
        """GET ``path`` until its ``field`` is one of ``final``; the last body."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            body: dict[str, Any] = self.client.get(path).json()
            if body[field] in final:
                return body
            time.sleep(0.25)
        raise AssertionError(f"{path}: {field} not in {final} after {timeout}s\n{self.logs()}")

    def wait_finished(self, image_id: str, timeout: float = 180) -> dict[str, Any]:
        """The image once it is done or failed: asked with ``wait``, so the gateway answers when it finishes."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            response = self.client.get(f"/v1/images/{image_id}", params={"wait": min(30.0, max(left, 0.1))})
            body: dict[str, Any] = response.json()
            if response.status_code == 200 and body["status"] in ("done", "failed"):
                return body
        raise AssertionError(f"image {image_id} not done or failed after {timeout}s\n{self.logs()}")

    def stop(self) -> None:
        self.client.close()
        for p in self.processes:
            p.stop()


def run_embedded(tmp: Path, **settings: str | int | float) -> Iterator[Service]:
    port = free_port()
    env = base_env(tmp / "data", port=port, **settings)
    service = Service(url=f"http://127.0.0.1:{port}", data_dir=tmp / "data",
                      catalog_url=f"sqlite:///{tmp / 'data' / 'facetag.db'}", env=env)
    service.processes.append(start_facetag("serve", ["serve"], env, tmp))
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


_cluster_count = 0


def run_cluster(tmp: Path, redis_url: str, mongo_url: str, s3_url: str, detectors: int = 2, classifiers: int = 2,
                trainers: int = 1, **settings: str | int | float) -> Iterator[Service]:
    """Gateway and workers as separate processes on the real Redis, FerretDB and MinIO; each cluster gets
    its own Redis database, catalog database and bucket so clusters never see each other's data."""
    global _cluster_count
    _cluster_count += 1
    n = _cluster_count
    port = free_port()
    env = base_env(
        tmp / "data", port=port,
        broker_url=redis_url.rsplit("/", 1)[0] + f"/{n % 16}",
        catalog_url=mongo_url.rsplit("/", 1)[0] + f"/facetag_cluster_{n}_{os.getpid()}",
        blob_url=s3_url.rsplit("/", 1)[0] + f"/cluster-{n}-{os.getpid()}",
        **settings,
    )
    service = Service(url=f"http://127.0.0.1:{port}", data_dir=tmp / "data", catalog_url=env["FACETAG_CATALOG_URL"],
                      env=env)
    service.processes.append(start_facetag("gateway", ["gateway"], env, tmp))
    for i in range(detectors):
        service.processes.append(start_facetag(f"detector-{i + 1}", ["worker", "detector"], env, tmp))
    for i in range(classifiers):
        service.processes.append(start_facetag(f"classifier-{i + 1}", ["worker", "classifier"], env, tmp))
    for i in range(trainers):
        service.processes.append(start_facetag(f"trainer-{i + 1}", ["worker", "trainer"], env, tmp))
    try:
        service.wait_ready()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def cluster_service(tmp_path_factory: pytest.TempPathFactory, redis_url: str, mongo_url: str, s3_url: str
                    ) -> Iterator[Service]:
    """Gateway, 2 detectors, 2 classifiers and a trainer as separate processes on real servers, for one module."""
    yield from run_cluster(tmp_path_factory.mktemp("cluster"), redis_url, mongo_url, s3_url,
                           stalled_after=60)


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``facetag serve`` on a free port with its own data folder, for one test module."""
    yield from run_embedded(tmp_path_factory.mktemp("embedded"), stalled_after=60)


def upload_answers(metrics_page: str) -> dict[str, int]:
    """POST /v1/images requests the gateway answered, by class of status ("2xx", "4xx"), from its /metrics page:
    2xx a photo sent whole (new, or bytes it had already: sent twice), 4xx an upload cut off mid-body (e.g. by
    ``kill -9``: not a photo sent)."""
    answers: dict[str, int] = {}
    for family in text_string_to_metric_families(metrics_page):
        for sample in family.samples:
            if (sample.name == "facetag_http_request_duration_seconds_count"
                    and sample.labels.get("handler") == "/v1/images" and sample.labels.get("method") == "POST"):
                status = sample.labels.get("status", "")
                answers[status] = answers.get(status, 0) + int(sample.value)
    return answers
