"""``facetag serve``: the whole service on one machine, no server to install.

A small supervisor: it starts the gateway and the workers as child processes (the same commands a
cluster runs), restarts any that die, and stops them all on Ctrl-C or SIGTERM. Its children die with
it however it dies, and one data folder has one serve (see supervision).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from types import FrameType

from services.commands.supervision import AlreadyServing, ServeLock, die_with_parent
from services.core import metrics
from services.core.faces.prepare import prepare_models
from services.core.settings import Settings

log = logging.getLogger(__name__)
MAX_BACKOFF = 30.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    started_at: float = field(default=0.0)
    restart_at: float | None = None  # set while it waits out its back-off after dying

    def start(self, env: dict[str, str]) -> None:
        # preexec_fn is safe here: serve forks from its only thread.
        self.process = subprocess.Popen(self.argv, env=env, preexec_fn=die_with_parent())
        self.started_at = time.monotonic()
        self.restart_at = None
        log.info("started %s (pid %d)", self.name, self.process.pid)


def _children(detectors: int, classifiers: int, beat: bool = False) -> list[Child]:
    base = [sys.executable, "-m", "services.commands.cli"]
    out = [Child("gateway", [*base, "gateway"])]
    out += [Child(f"detector-{i + 1}", [*base, "worker", "detector"]) for i in range(detectors)]
    out += [Child(f"classifier-{i + 1}", [*base, "worker", "classifier"]) for i in range(classifiers)]
    out.append(Child("trainer", [*base, "worker", "trainer"]))
    if beat:
        out.append(Child("beat", [*base, "beat"]))
    return out


def _sign_in_line(settings: Settings) -> str:
    """Make the first admin on a fresh data folder; the line that tells the operator how to sign in."""
    from services.core.access.accounts import INITIAL_PASSWORD_FILE, Accounts
    from services.core.catalog import open_access

    async def first_admin() -> str | None:
        store = open_access(settings.catalog_url)
        await store.connect()
        try:
            return await Accounts(store, settings).ensure_first_admin()
        finally:
            await store.close()

    password = asyncio.run(first_admin())
    path = settings.data_dir / INITIAL_PASSWORD_FILE
    if password is not None:
        # Printed on the operator's terminal once, never logged; also in a file only its owner can read.
        return (f"\n  First start: sign in as admin with the password {password}\n"
                f"  (also in {path}; change it on the Account page and the file goes away).")
    if path.is_file():
        return f"Sign in as admin with the password in {path}."
    return "Sign in with your account (add one with: facetag users add NAME --role admin)."


def run_serve(settings: Settings, detectors: int = 1, classifiers: int = 1) -> int:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = ServeLock(settings.data_dir, f"http://{settings.host}:{settings.port}/")
    except AlreadyServing as exc:
        print(f"facetag serve: {exc}", file=sys.stderr)
        return 1
    try:
        return _serve(settings, detectors, classifiers)
    finally:
        lock.release()


def _serve(settings: Settings, detectors: int, classifiers: int) -> int:
    for item in prepare_models(settings, fetch=False):
        if item.built:
            log.info("face model %s prepared in %s", item.name, settings.model_cache)
    env = {**os.environ, "FACETAG_DATA_DIR": str(settings.data_dir), "FACETAG_HOST": settings.host,
           "FACETAG_PORT": str(settings.port), "FACETAG_CATALOG_URL": settings.catalog_url,
           "FACETAG_BLOB_URL": settings.blob_url, "FACETAG_BROKER_URL": settings.broker_url}
    env.update(_shared_metrics(settings))
    # glibc gives every thread that allocates its own heap, which keeps freed memory; two are plenty for a
    # worker's few threads (measured: the detector's peak 930 -> 820 MB with crafted 59 MP photos).
    env.setdefault("MALLOC_ARENA_MAX", "2")
    sign_in_line = _sign_in_line(settings)
    # The detectors and the classifiers are not busy alike (a photo's detection takes about five times its
    # classification), so the cores are shared by the replicas of one stage, not by all: bench/pipeline.py with one of
    # each on 2 cores, 2 threads each (no spinning) against 1 each: 0.65/0.86/0.85 of the plain loop at 1/4/16
    # clients instead of 0.47/0.50/0.50.
    env.setdefault("FACETAG_WORKER_PROCESSES", str(max(detectors, classifiers)))
    if settings.train_schedule.strip():
        from services.core.errors import InvalidInput
        from services.trainer.schedule import parse_cron

        try:
            parse_cron(settings.train_schedule)  # a typo fails here, with the reason, not in a restart loop
        except InvalidInput as exc:
            log.error("%s", exc)
            return 2
    children = _children(detectors, classifiers, beat=bool(settings.train_schedule.strip()))
    stopping = False

    def stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        log.info("received %s; stopping", signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for child in children:
        child.start(env)
    print(f"Facetag is running: open http://{settings.host}:{settings.port}/ (API docs at /docs). "
          f"Data in {settings.data_dir}. Ctrl-C stops it. {sign_in_line}", flush=True)
    try:
        while not stopping:
            time.sleep(0.5)
            for child in children:
                if not stopping:
                    look_after(child, env)
    finally:
        _stop_all(children)
    return 0


def _shared_metrics(settings: Settings) -> dict[str, str]:
    """Prometheus multiprocess mode: every child counts into one folder, emptied now (the counts of a
    previous serve are not this one's), and the gateway's /metrics adds them up; so the workers open no
    port of their own (see services/core/metrics.py)."""
    folder = settings.data_dir / "metrics"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return {metrics.MULTIPROCESS_ENV: str(folder), "FACETAG_METRICS_PORT": "0"}


def look_after(child: Child, env: dict[str, str]) -> None:
    """Restart a child that died, after a back-off that grows while it keeps dying right after start; the
    others are looked after meanwhile."""
    assert child.process is not None
    now = time.monotonic()
    if child.restart_at is not None:
        if now >= child.restart_at:
            child.start(env)
        return
    code = child.process.poll()
    if code is None:
        return
    quick = now - child.started_at < 10
    child.restarts = child.restarts + 1 if quick else 1
    delay = min(MAX_BACKOFF, 2.0 ** (child.restarts - 1))
    child.restart_at = now + delay
    log.error("%s exited with code %s; restarting in %.0fs", child.name, code, delay)


def _stop_all(children: list[Child]) -> None:
    running = [c.process for c in children if c.process is not None and c.process.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + 15
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
    log.info("all processes stopped")
