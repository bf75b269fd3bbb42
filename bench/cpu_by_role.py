"""Where a benchmark's CPU goes: CPU seconds of every process on the machine, summed by role.

The cluster's servers (Redis, PostgreSQL behind FerretDB, MinIO) share the cores with the workers here, so
a pipeline that is slower than the face work alone is explained by who took the CPU: the figure says which
round trips are worth cutting.
"""

from __future__ import annotations

import os
from collections import defaultdict

import psutil

# The first of these found in a process's command line names its role (the servers' binaries live under
# .../servers/bin, hence the whole words).
ROLES = {"cli gateway": "gateway", "worker detector": "detector", "worker classifier": "classifier",
         "worker trainer": "trainer", "cli serve": "serve", "bin/ferretdb": "ferretdb", "postgres": "postgresql",
         "bin/minio": "minio", "redis-server": "redis"}


def _role(process: psutil.Process) -> str | None:
    if process.pid == os.getpid():
        return "bench"
    try:
        line = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    return next((role for words, role in ROLES.items() if words in line), None)


def snapshot() -> dict[tuple[int, float], tuple[str, float]]:
    """(pid, start time) -> (role, CPU seconds so far) for every process with a role."""
    seen = {}
    for process in psutil.process_iter():
        role = _role(process)
        if role is None:
            continue
        try:
            times = process.cpu_times()
            seen[(process.pid, process.create_time())] = (role, times.user + times.system)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return seen


def spent(before: dict[tuple[int, float], tuple[str, float]]) -> dict[str, float]:
    """CPU seconds by role since ``before`` (processes started since count whole)."""
    totals: dict[str, float] = defaultdict(float)
    for key, (role, seconds) in snapshot().items():
        totals[role] += seconds - before.get(key, (role, 0.0))[1]
    return dict(totals)


def per_photo(totals: dict[str, float], photos: int) -> str:
    """``role 0.12 s`` per photo, the most first."""
    ordered = sorted(totals.items(), key=lambda item: -item[1])
    return ", ".join(f"{role} {seconds / photos:.3f}" for role, seconds in ordered if seconds / photos >= 0.0005)
