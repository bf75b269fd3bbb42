"""ONNX Runtime thread counts: replicas sharing a machine's cores split them instead of each taking all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from services.core.cpu_share import usable_cores

CORES = sorted(os.sched_getaffinity(0))


def threads_in_process(cores: set[int], **env: str) -> int:
    """The ONNX thread count Settings gives a fresh process pinned to ``cores`` with these FACETAG_ variables."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("FACETAG_")}
    clean.update({f"FACETAG_{k.upper()}": v for k, v in env.items()})
    out = subprocess.run([sys.executable, "-c", "from services.core.settings import Settings; "
                          "print(Settings().onnx_threads)"], env=clean, capture_output=True, text=True,
                         check=True, preexec_fn=lambda: os.sched_setaffinity(0, cores), timeout=60)
    return int(out.stdout)


@pytest.mark.skipif(len(CORES) < 2, reason="needs a machine with at least two cores")
def test_two_replicas_on_two_cores_take_one_thread_each() -> None:
    two = set(CORES[:2])
    assert threads_in_process(two) == 2
    assert threads_in_process(two, worker_processes="2") == 1


def test_a_process_pinned_to_one_core_takes_one_thread() -> None:
    assert threads_in_process({CORES[0]}) == 1
    assert threads_in_process({CORES[0]}, worker_processes="3") == 1  # never zero


def test_an_explicit_thread_count_wins() -> None:
    assert threads_in_process({CORES[0]}, onnx_threads="3", worker_processes="2") == 3


@pytest.mark.skipif(len(CORES) < 2, reason="needs a machine with at least two cores")
def test_a_container_cpu_limit_caps_the_cores(tmp_path: Path) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("100000 100000\n")  # a limit of one CPU
    assert usable_cores(cpu_max) == 1
    cpu_max.write_text("max 100000\n")  # no limit
    assert usable_cores(cpu_max) == len(CORES)
    assert usable_cores(tmp_path / "absent") == len(CORES)  # cgroup v1 or no cgroup: affinity alone
