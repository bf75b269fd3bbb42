"""A worker's own small HTTP server: ``/livez``, ``/readyz`` and ``/metrics`` on ``FACETAG_METRICS_PORT``.

- ``/livez``: the process is alive and its task loop is not wedged: Celery's main thread runs, and no
  task has run longer than a photo may take (``FACETAG_STALLED_AFTER``, after which the reconciler
  queues the photo again anyway; a task over the whole library, such as a training, six times that).
  503 means: restart me.
- ``/readyz``: the worker takes tasks (Celery is consuming, not starting nor shutting down), the
  catalog, the blob store and the broker answer, and the stage's own check passes (a classifier: a
  model is loaded). The store checks run every few seconds in a thread of their own, so a probe is
  answered at once and a slow store never holds it up.
- ``/metrics``: this process's metrics, for ``Authorization: Bearer FACETAG_METRICS_TOKEN`` only.

``/livez`` and ``/readyz`` are public and say only ok or failing; the reasons (which name servers) are
for the metrics token.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import time
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

from celery import Celery
from celery.signals import worker_ready, worker_shutting_down
from pydantic import BaseModel

from services.core import metrics
from services.core.blobs import open_blobs
from services.core.catalog import open_catalog
from services.core.queue import COLLECT_DATASET, REDETECT_LIBRARY, SWITCH_NETWORK, TRAIN_MODEL
from services.core.readiness import FAILING, OK, store_checks, without_reasons
from services.core.settings import Settings
from services.core.task_metrics import CLOCK, TaskClock, stage_and_name

log = logging.getLogger(__name__)
CHECK_EVERY_SECONDS = 5.0
STALE_AFTER_SECONDS = 30.0  # store checks older than this (their thread hangs) count as failing
LIBRARY_FACTOR = 6
# Tasks over the whole library: they take longer than a photo, as the library grows.
LIBRARY_TASKS = frozenset(stage_and_name(name)[1] for name in (TRAIN_MODEL, COLLECT_DATASET, SWITCH_NETWORK,
                                                               REDETECT_LIBRARY))
StageCheck = Callable[[], str | None]  # None when the stage is ready, else why not


class Probe(BaseModel):
    status: Literal["ok", "failing"]
    checks: dict[str, str]


class WorkerHealth:
    """Liveness and readiness of this worker process."""

    def __init__(self, settings: Settings, celery: Celery, stage_check: StageCheck | None = None,
                 clock: TaskClock = CLOCK) -> None:
        self.settings = settings
        self.celery = celery
        self.stage_check = stage_check
        self.clock = clock
        self.consuming = False
        self._stores: dict[str, str] = {"stores": "failing: not checked yet"}
        self._checked_at = 0.0
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def follow_celery(self) -> None:
        """Ready only between Celery's start of consuming and the start of its shutdown (a drain)."""
        worker_ready.connect(self._consuming, weak=False)
        worker_shutting_down.connect(self._shutting_down, weak=False)

    def _consuming(self, **_: Any) -> None:
        self.consuming = True

    def _shutting_down(self, **_: Any) -> None:
        self.consuming = False

    # liveness --------------------------------------------------------------------------------------

    def wedge_limit(self, task: str) -> float:
        base = float(self.settings.stalled_after)
        return base * LIBRARY_FACTOR if task in LIBRARY_TASKS else base

    def liveness(self) -> Probe:
        checks = {"main thread": OK if threading.main_thread().is_alive() else f"{FAILING}: it has ended"}
        now = time.monotonic()
        for running in self.clock.running():
            took = now - running.since
            if took > self.wedge_limit(running.task):
                checks["tasks"] = f"{FAILING}: {running.task} has run {took:.0f} s"
                break
        else:
            checks["tasks"] = OK
        return _probe(checks)

    # readiness -------------------------------------------------------------------------------------

    def readiness(self) -> Probe:
        with self._lock:
            checks = dict(self._stores)
            age = time.monotonic() - self._checked_at
        if age > STALE_AFTER_SECONDS:
            checks = {"stores": f"{FAILING}: not checked for {age:.0f} s"}
        checks["tasks"] = OK if self.consuming else f"{FAILING}: not taking tasks (starting or shutting down)"
        if self.stage_check is not None and self.consuming:  # its state is made while the worker starts
            problem = self.stage_check()
            checks["stage"] = OK if problem is None else f"{FAILING}: {problem}"
        return _probe(checks)

    def check_stores_forever(self) -> None:
        """The store checks, every few seconds, on this thread's own loop and connections."""
        loop = asyncio.new_event_loop()
        catalog = open_catalog(self.settings.catalog_url)
        blobs = open_blobs(self.settings.blob_url)
        connected = False
        while not self._stop.is_set():
            try:
                if not connected:
                    loop.run_until_complete(asyncio.wait_for(catalog.connect(), CHECK_EVERY_SECONDS))
                    connected = True
                checks = loop.run_until_complete(store_checks(catalog, blobs, self.celery))
            except Exception as exc:  # the catalog did not connect: it is not ready
                checks = {"catalog": f"{FAILING}: {type(exc).__name__}: {exc}"[:300]}
            with self._lock:
                self._stores, self._checked_at = checks, time.monotonic()
            self._stop.wait(CHECK_EVERY_SECONDS)

    def stop(self) -> None:
        self._stop.set()


def _probe(checks: dict[str, str]) -> Probe:
    return Probe(status="ok" if all(v == OK for v in checks.values()) else "failing", checks=checks)


def _handler(health: WorkerHealth) -> type[BaseHTTPRequestHandler]:
    token = health.settings.metrics_token

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/metrics":
                self._metrics()
            elif path in ("/livez", "/readyz"):
                probe = health.liveness() if path == "/livez" else health.readiness()
                if not self._token_given():  # the reasons name servers: only for the token
                    probe = probe.model_copy(update={"checks": without_reasons(probe.checks)})
                code = HTTPStatus.OK if probe.status == "ok" else HTTPStatus.SERVICE_UNAVAILABLE
                self._send(code, probe.model_dump_json().encode(), "application/json")
            else:
                self._error(HTTPStatus.NOT_FOUND, "not_found", "This port serves /livez, /readyz and /metrics only.")

        def _token_given(self) -> bool:
            scheme, _, given = self.headers.get("Authorization", "").partition(" ")
            return scheme.lower() == "bearer" and metrics.is_metrics_token(given.strip(), token)

        def _metrics(self) -> None:
            if self._token_given():
                self._send(HTTPStatus.OK, metrics.process_metrics(), metrics.CONTENT_TYPE)
            elif not token.get_secret_value():
                self._error(HTTPStatus.UNAUTHORIZED, "unauthorized", "A worker's metrics need a token: set "
                            "FACETAG_METRICS_TOKEN on the worker and send it as Authorization: Bearer TOKEN.")
            else:
                self._error(HTTPStatus.UNAUTHORIZED, "unauthorized", "Send FACETAG_METRICS_TOKEN as "
                            "Authorization: Bearer TOKEN to read this worker's metrics.")

        def _error(self, code: HTTPStatus, error: str, message: str) -> None:
            body = json.dumps({"error": error, "message": message}).encode()
            self._send(code, body, "application/json", {"WWW-Authenticate": "Bearer"}
                       if code == HTTPStatus.UNAUTHORIZED else {})

        def _send(self, code: HTTPStatus, body: bytes, content_type: str, headers: dict[str, str] | None = None
                  ) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("probe: " + format, *args)  # the request line only: never a header, so never a token

    return Handler


def serve_health(health: WorkerHealth, host: str = "0.0.0.0") -> ThreadingHTTPServer | None:
    """Start the server and the store checks in daemon threads; None if the port is 0 or taken."""
    port = health.settings.metrics_port
    if port == 0:
        return None
    try:
        server = ThreadingHTTPServer((host, port), _handler(health))
    except OSError as exc:
        log.error("cannot serve /livez, /readyz and /metrics on port %d (%s): set FACETAG_METRICS_PORT to a free "
                  "port, or 0 for none", port, exc)
        return None
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health-server", daemon=True).start()
    threading.Thread(target=health.check_stores_forever, name="health-checks", daemon=True).start()
    log.info("worker health and metrics on port %d: /livez, /readyz, /metrics", port)
    return server
