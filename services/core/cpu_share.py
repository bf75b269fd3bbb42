"""The cores this process may use, and its share of them when several worker processes share a machine."""

from __future__ import annotations

import os
from pathlib import Path

CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")  # cgroup v2: "<quota> <period>" or "max <period>"


def usable_cores(cgroup_cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """The CPUs this process may run on (its affinity, e.g. ``taskset``), fewer where its cgroup's CPU quota
    (a container's CPU limit) allows fewer whole cores: threads beyond a quota are throttled, not run."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    try:
        quota, period = cgroup_cpu_max.read_text().split()[:2]
    except (OSError, ValueError):
        return cores
    if quota == "max":
        return cores
    return max(1, min(cores, int(quota) // int(period)))


def threads_per_process(processes: int) -> int:
    """An equal share of the usable cores for each of ``processes`` (at least one thread each)."""
    return max(1, usable_cores() // max(1, processes))
