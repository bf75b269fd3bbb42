"""Detector backends: per-image time at 640 and 1280 px wide, and recall/precision on the group photos.

Recall and precision use groups_gt.json (IoU >= 0.5, greedy one-to-one matching); recall is also
split by face size (box width under 40 px, 40-80 px, over 80 px).
Run: .venv/bin/python bench/detect.py
"""

from __future__ import annotations

import json
import statistics
import time
from functools import partial
from typing import Any

import numpy as np
from common import facedata, load_rgb, median_ms
from numpy.typing import NDArray

from services.core.domain import Box
from services.core.faces.detect import FaceDetector, HaarDetector, HogDetector, resize

SIZE_BUCKETS = (("<40px", 0, 40), ("40-80px", 40, 80), (">80px", 80, 10**9))


def backends() -> list[tuple[str, FaceDetector]]:
    return [("hog upsample 0", HogDetector(0)), ("hog upsample 1", HogDetector(1)),
            ("haar", HaarDetector(0))]


def speed(detector: FaceDetector, photos: list[NDArray[np.uint8]], width: int) -> float:
    times = []
    for rgb in photos:
        scaled = resize(rgb, width, round(rgb.shape[0] * width / rgb.shape[1]))
        times.append(median_ms(partial(detector.detect, scaled), 3))
    return statistics.median(times)


def accuracy(detector: FaceDetector, truth: list[tuple[NDArray[np.uint8], list[Box]]]) -> dict[str, Any]:
    hits = {name: 0 for name, _, _ in SIZE_BUCKETS}
    totals = {name: 0 for name, _, _ in SIZE_BUCKETS}
    found = matched = 0
    for rgb, boxes in truth:
        detections = [d.box for d in detector.detect(rgb)]
        found += len(detections)
        free = list(detections)
        for box in sorted(boxes, key=lambda b: -b.width):
            bucket = next(name for name, lo, hi in SIZE_BUCKETS if lo <= box.width < hi)
            totals[bucket] += 1
            best = max(free, key=box.iou, default=None)
            if best is not None and box.iou(best) >= 0.5:
                free.remove(best)
                hits[bucket] += 1
                matched += 1
    n_truth = sum(totals.values())
    return {"recall": matched / n_truth, "precision": matched / found if found else 0.0,
            "by_size": {k: (hits[k], totals[k]) for k in totals}, "found": found, "truth": n_truth}


def main() -> None:
    root = facedata() / "groups"
    gt = json.loads((root / "groups_gt.json").read_text())
    truth = [(load_rgb(root / item["file"]),
              [Box(left=f["bbox_xywh"][0], top=f["bbox_xywh"][1], width=max(1, f["bbox_xywh"][2]),
                   height=max(1, f["bbox_xywh"][3])) for f in item["faces"] if not f.get("invalid")])
             for item in gt["images"]]
    photos = [rgb for rgb, _ in truth[:10]]
    print(f"speed: median over {len(photos)} group photos scaled to each width; accuracy: {len(truth)} photos, "
          f"{sum(len(b) for _, b in truth)} faces")
    print(f"{'backend':16} {'640px ms':>9} {'1280px ms':>10} {'recall':>7} {'precision':>9}  recall by face width")
    for name, detector in backends():
        start = time.perf_counter()
        t640, t1280 = speed(detector, photos, 640), speed(detector, photos, 1280)
        acc = accuracy(detector, truth)
        sizes = "  ".join(f"{k} {h}/{t} ({h / t:.0%})" for k, (h, t) in acc["by_size"].items())
        print(f"{name:16} {t640:9.1f} {t1280:10.1f} {acc['recall']:7.1%} {acc['precision']:9.1%}  {sizes}"
              f"   [{time.perf_counter() - start:.0f}s]")


if __name__ == "__main__":
    main()
