"""Shared bits for the benchmark scripts: where the photos are, timing, loading them, settings for
measurements, the group photos' ground truth and matching found boxes to it, latency percentiles."""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from services.core.domain import Box
from services.core.faces.decode import decode_image
from services.core.settings import Settings

REPO = Path(__file__).resolve().parent.parent
MATCH_IOU = 0.5


def facedata() -> Path:
    path = Path(os.environ.get("FACETAG_FACEDATA", REPO.parent / "shared" / "facedata"))
    if not path.is_dir():
        sys.exit(f"benchmark photos not found at {path}; set FACETAG_FACEDATA to the shared facedata folder")
    return path


def sample_photos(photo_set: str = "samples") -> list[Path]:
    """The photos the service benchmarks upload, in a fixed order: ``samples`` the one-face portraits
    (facetag_samples and celeb5), ``groups`` the shared group photos (many faces each)."""
    root = facedata()
    if photo_set == "groups":
        return sorted((root / "groups").rglob("*.jpg"))
    return sorted((root / "facetag_samples").glob("*.jpg")) + sorted((root / "celeb5").rglob("*.jpg"))


def p50_p95(values: Sequence[float]) -> tuple[float, float]:
    """Median and 95th percentile (statistics.quantiles, exclusive method); one value is both."""
    if len(values) < 2:
        return (values[0], values[0]) if values else (float("nan"), float("nan"))
    return statistics.median(values), statistics.quantiles(values, n=20)[18]


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


def bench_settings(**overrides: Any) -> Settings:
    """Settings for a measurement: CPU, one ONNX thread (unless overridden), everything else default."""
    values: dict[str, Any] = {"execution_provider": "cpu", "onnx_threads": 1, **overrides}
    return Settings(**values)


@dataclass
class GroupPhoto:
    file: str  # relative to facedata()/groups
    rgb: NDArray[np.uint8]
    boxes: list[Box]  # the valid ground-truth faces


def group_truth(prefix: str = "") -> list[GroupPhoto]:
    """The group photos of groups_gt.json (those whose file starts with ``prefix``), faces marked
    invalid left out."""
    root = facedata() / "groups"
    gt = json.loads((root / "groups_gt.json").read_text())
    photos = []
    for item in gt["images"]:
        if not item["file"].startswith(prefix):
            continue
        boxes = [Box(left=f["bbox_xywh"][0], top=f["bbox_xywh"][1], width=max(1, f["bbox_xywh"][2]),
                     height=max(1, f["bbox_xywh"][3])) for f in item["faces"] if not f.get("invalid")]
        photos.append(GroupPhoto(item["file"], load_rgb(root / item["file"]), boxes))
    return photos


def greedy_match(truth: Sequence[Box], found: Sequence[Box], iou: float = MATCH_IOU) -> list[bool]:
    """Which truth boxes are found: largest truth face first, each takes the free found box it overlaps
    most, if by at least ``iou``; a found box matches one truth box at most. In ``truth``'s order."""
    free = list(found)
    hit = [False] * len(truth)
    for i in sorted(range(len(truth)), key=lambda k: -truth[k].width):
        best = max(free, key=truth[i].iou, default=None)
        if best is not None and truth[i].iou(best) >= iou:
            free.remove(best)
            hit[i] = True
    return hit


def spread(values: Sequence[float]) -> str:
    """min / 10th percentile / median, for a column."""
    if not values:
        return "-"
    a = np.asarray(values, dtype=np.float64)
    return f"{a.min():.2f} / {np.percentile(a, 10):.2f} / {np.median(a):.2f}"
