"""Shared bits for the benchmark scripts: where the photos are, timing, and loading them."""

from __future__ import annotations

import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from services.core.faces.decode import decode_image

REPO = Path(__file__).resolve().parent.parent


def facedata() -> Path:
    path = Path(os.environ.get("FACETAG_FACEDATA", REPO.parent / "shared" / "facedata"))
    if not path.is_dir():
        sys.exit(f"benchmark photos not found at {path}; set FACETAG_FACEDATA to the shared facedata folder")
    return path


def load_rgb(path: Path) -> NDArray[np.uint8]:
    return decode_image(path.read_bytes(), 200_000_000).rgb


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0
