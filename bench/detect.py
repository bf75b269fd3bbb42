"""Detectors on the shared photos: recall, precision, time and false faces, at 640 px and at full size;
then small faces in big photos (synthetic mosaics), which sets the default max_detect_side.

Run: nice -n 10 .venv/bin/python bench/detect.py   (about 3 minutes on two busy cores)

Every detector runs as the service runs it: on a copy scaled so its long side is at most 640 px (or,
for "full", on the photo itself), boxes mapped back to full size before they are compared with
groups/groups_gt.json (faces marked invalid left out) at IoU >= 0.5, largest truth face first, each
found box matching one truth face at most. Recall is split by the truth box's width (40 px, in the
full-size photo). Precision counts every found box that matches no truth face as false, though the
truth misses some faces (tiny WIDER faces, posters in a VOC photo). "nonface" is the number of faces
found on the 5 photos of bad/nonface. One thread everywhere (ONNX Runtime and OpenCV), so times
compare; each photo is timed once, after one warm-up call. Figures are printed, never asserted.

"centerface + recheck" is FaceFinder.detect with detector=centerface, detect_recheck=True (the default);
"haar" is the cascade as detector=haar builds it with the default upsample=1 (faces from 18 px).

The mosaics are 4x4 tiles of the WIDER group photos at their native size (about 14 megapixels each,
different photo sets), so their faces stay as small as in the photos while the photo gets big, as in
a 12-16 MP camera picture of a crowd.
"""

from __future__ import annotations

import resource
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

import cv2
import numpy as np
from common import GroupPhoto, bench_settings, facedata, greedy_match, group_truth, load_rgb
from numpy.typing import NDArray

from services.core.domain import Box
from services.core.faces.analyzer import FaceFinder
from services.core.faces.detect import Detection, FaceDetector, HogDetector, detect_scaled
from services.core.faces.detectors import load_centerface, make_detector

SMALL = 40  # px: truth faces narrower than this are "small"
FULL = 8192  # the largest max side the settings allow, above every photo here: detect at full size
SIZES = (("640", 640), ("full", FULL))
MOSAIC_SIDES = (("1600", 1600), ("2400", 2400), ("full", FULL))
MOSAIC_GRID = 4  # tiles a side
MOSAIC_OFFSETS = (0, 6, 12)  # each mosaic takes 16 WIDER photos from here on (cyclically)

Detect = Callable[[NDArray[np.uint8]], list[Detection]]


@dataclass
class Tally:
    hits: dict[str, int] = field(default_factory=lambda: {"all": 0, "big": 0, "small": 0})
    totals: dict[str, int] = field(default_factory=lambda: {"all": 0, "big": 0, "small": 0})
    found: int = 0
    ms: list[float] = field(default_factory=list)

    def add(self, truth: list[Box], found: list[Box], ms: float) -> None:
        self.found += len(found)
        self.ms.append(ms)
        for box, hit in zip(truth, greedy_match(truth, found), strict=True):
            for key in ("all", "small" if box.width < SMALL else "big"):
                self.totals[key] += 1
                self.hits[key] += hit

    def recall(self, key: str) -> str:
        h, t = self.hits[key], self.totals[key]
        return f"{h / t:6.1%} {h:>3}/{t:<3}" if t else f"{'-':>14}"

    @property
    def precision(self) -> float:
        return self.hits["all"] / self.found if self.found else 0.0


def timed_boxes(detect: Detect, rgb: NDArray[np.uint8]) -> tuple[list[Box], float]:
    start = time.perf_counter()
    found = detect(rgb)
    return [d.box for d in found], (time.perf_counter() - start) * 1000.0


def plain(detector: FaceDetector, max_side: int) -> Detect:
    return partial(detect_scaled, detector, max_side=max_side)


def recheck_finder(max_side: int) -> Detect:
    finder = FaceFinder.from_settings(bench_settings(detector="centerface", detect_recheck=True,
                                                     max_detect_side=max_side))
    return finder.detect


def detectors() -> list[tuple[str, Callable[[int], Detect]]]:
    """(label, max side -> detect function), built once each."""
    settings = bench_settings()
    cache, threads = settings.model_cache, settings.onnx_threads
    hog, haar = HogDetector(1), make_detector("haar", cache, "cpu", threads, settings.upsample)
    yunet = make_detector("yunet", cache, "cpu", threads, settings.upsample)
    centerface = load_centerface(cache, "cpu", threads)
    return [("hog upsample 1", partial(plain, hog)), ("haar", partial(plain, haar)),
            ("yunet", partial(plain, yunet)), ("centerface", partial(plain, centerface)),
            ("centerface + recheck", recheck_finder)]


def group_table(photos: list[GroupPhoto], nonface: list[NDArray[np.uint8]]) -> None:
    n_faces = sum(len(p.boxes) for p in photos)
    sides = [max(p.rgb.shape[:2]) for p in photos]
    print(f"Detectors on {len(photos)} group photos ({n_faces} faces; long side {min(sides)}-{max(sides)} px) and "
          f"{len(nonface)} photos without faces")
    print("columns: size = detection copy's long side (640 px, or the photo as it is: full); recall all / "
          f">={SMALL} px / <{SMALL} px = truth faces found (IoU >= 0.5, boxes mapped back to full size); "
          "precision = found boxes matching a truth face; ms = median per photo; nonface = faces found on "
          "bad/nonface")
    print(f"{'detector':21} {'size':>4}  {'recall all':>14}  {'>=40 px':>14}  {'<40 px':>14}  {'precision':>9}  "
          f"{'ms':>7}  {'nonface':>7}")
    for label, build in detectors():
        for size_label, side in SIZES:
            detect = build(side)
            tally = measure(detect, photos)
            false_faces = sum(len(detect(rgb)) for rgb in nonface)
            print(f"{label:21} {size_label:>4}  {tally.recall('all')}  {tally.recall('big')}  "
                  f"{tally.recall('small')}  {tally.precision:9.1%}  {statistics.median(tally.ms):7.0f}  "
                  f"{false_faces:7d}", flush=True)


def measure(detect: Detect, photos: list[GroupPhoto], warm_up: bool = True
            ) -> Tally:
    if warm_up:
        detect(photos[0].rgb)
    tally = Tally()
    for photo in photos:
        found, ms = timed_boxes(detect, photo.rgb)
        tally.add(photo.boxes, found, ms)
    return tally


def mosaic(photos: list[GroupPhoto], offset: int) -> GroupPhoto:
    """MOSAIC_GRID^2 photos from ``offset`` on, tiled at native size: sorted by height so each row
    wastes little, each row as tall as its tallest tile; truth boxes moved with their tile."""
    count = MOSAIC_GRID * MOSAIC_GRID
    chosen = sorted((photos[(offset + i) % len(photos)] for i in range(count)), key=lambda p: p.rgb.shape[0])
    rows = [chosen[r * MOSAIC_GRID : (r + 1) * MOSAIC_GRID] for r in range(MOSAIC_GRID)]
    heights = [max(p.rgb.shape[0] for p in row) for row in rows]
    width = max(sum(p.rgb.shape[1] for p in row) for row in rows)
    canvas = np.zeros((sum(heights), width, 3), dtype=np.uint8)
    boxes: list[Box] = []
    top = 0
    for row, height in zip(rows, heights, strict=True):
        left = 0
        for p in row:
            h, w = p.rgb.shape[:2]
            canvas[top : top + h, left : left + w] = p.rgb
            boxes += [b.model_copy(update={"left": b.left + left, "top": b.top + top}) for b in p.boxes]
            left += w
        top += height
    return GroupPhoto(f"mosaic from {offset}", canvas, boxes)


def mosaic_table(wider: list[GroupPhoto]) -> None:
    mosaics = [mosaic(wider, offset) for offset in MOSAIC_OFFSETS]
    sizes = ", ".join(f"{m.rgb.shape[1]}x{m.rgb.shape[0]} ({m.rgb.shape[0] * m.rgb.shape[1] / 1e6:.1f} MP, "
                      f"{len(m.boxes)} faces)" for m in mosaics)
    print(f"\nSmall faces in big photos: {len(mosaics)} mosaics of {MOSAIC_GRID}x{MOSAIC_GRID} WIDER photos at "
          f"native size: {sizes}")
    print("columns: max_detect_side = long side of the copy detected on (full: no scaling); recall as above, "
          "over all mosaics; ms = median per mosaic; peak MB = the process's peak resident memory so far")
    print(f"{'detector':21} {'max_detect_side':>15}  {'recall all':>14}  {'>=40 px':>14}  {'<40 px':>14}  "
          f"{'precision':>9}  {'ms':>7}  {'peak MB':>7}")
    for side_label, side in MOSAIC_SIDES:
        detect = recheck_finder(side)
        detect(wider[0].rgb)  # warm-up on one photo, not on a whole mosaic
        tally = measure(detect, mosaics, warm_up=False)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"{'centerface + recheck':21} {side_label:>15}  {tally.recall('all')}  {tally.recall('big')}  "
              f"{tally.recall('small')}  {tally.precision:9.1%}  {statistics.median(tally.ms):7.0f}  "
              f"{peak_mb:7.0f}", flush=True)


def main() -> None:
    cv2.setNumThreads(1)
    start = time.perf_counter()
    photos = group_truth()
    nonface = [load_rgb(p) for p in sorted((facedata() / "bad" / "nonface").glob("*.jpg"))]
    group_table(photos, nonface)
    mosaic_table([p for p in photos if p.file.startswith("wider_val/")])
    print(f"\n[{time.perf_counter() - start:.0f} s]")


if __name__ == "__main__":
    main()
