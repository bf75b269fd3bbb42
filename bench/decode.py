"""Decoding a 24-megapixel JPEG whole against JPEG's own reduced decoding (draft mode), in the same run:
time, peak memory, and whether the faces found still land in the same place and give the same descriptors.

Run: flock /tmp/facetag-cpu.lock .venv/bin/python bench/decode.py   (about a minute)

The 24 MP photos (6000x4000) are made in a temporary folder by enlarging shared photos (a group photo and a
portrait) with Lanczos, saved at JPEG quality 92 as a camera would. Each decode runs in a fresh process: time is
the median of 5 decodes, peak memory is that process's high-water mark (VmHWM) minus what it held before the
first decode. "detector" is what the detector asks for (DETECT_DECODE_PIXELS); the 1/2, 1/4 and 1/8 rows ask for
that fraction of the photo's pixels, so Pillow picks the matching DCT scale. Faces are found with the default
finder on each decoding and mapped back to the photo's pixels the way the detector maps them, then matched to the
faces found on the whole decode: IoU of the boxes, cosine of the descriptors. Enlarged photos carry no detail
beyond the originals, so the cosines say how the decoding path behaves, not what a real 24 MP photo's small
faces lose at half size.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from common import bench_settings, facedata, greedy_match
from PIL import Image

from services.core.domain import Box
from services.core.faces.analyzer import Descriptors, FaceFinder, FoundFace
from services.core.faces.decode import DETECT_DECODE_PIXELS, decode_image
from services.detector.pipeline import _in_photo_pixels

SIZE = (6000, 4000)
LIMIT = 60_000_000
REPEATS = 5
PHOTOS = ("groups/no_gt/dlib_bald_guys.jpg", "facetag_samples/madonna.jpg")
MODES: dict[str, int | None] = {
    "whole": None,
    "detector": DETECT_DECODE_PIXELS,
    "1/2": SIZE[0] * SIZE[1] // 4,
    "1/4": SIZE[0] * SIZE[1] // 16,
    "1/8": SIZE[0] * SIZE[1] // 64,
}


def _memory_mb(field: str) -> float:
    """VmRSS (now) or VmHWM (high-water mark) of this process. Not ru_maxrss: Linux carries that over from the
    process that started this one, so a big parent would hide the child's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError(f"no {field} in /proc/self/status")


def child(path: Path, reduce_above: int | None) -> None:
    """In a fresh process: time REPEATS decodes, report the memory the decoding added to the process."""
    data = path.read_bytes()
    before = _memory_mb("VmRSS")
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        decoded = decode_image(data, LIMIT, reduce_above)
        times.append(time.perf_counter() - start)
        del decoded
    print(json.dumps({"ms": 1000 * float(np.median(times)), "peak_mb": _memory_mb("VmHWM") - before}))


def measure(path: Path, reduce_above: int | None) -> dict[str, float]:
    args = [sys.executable, __file__, "--child", str(path), "--reduce-above", str(reduce_above or 0)]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout)
    return figures


def make_photo(source: Path, folder: Path) -> Path:
    """``source`` cropped to 3:2 and enlarged to 6000x4000, as a 24 MP camera JPEG."""
    with Image.open(source) as opened:
        img = opened.convert("RGB")
        width, height = img.size
        crop_h = min(height, width * SIZE[1] // SIZE[0])
        crop_w = crop_h * SIZE[0] // SIZE[1]
        left, top = (width - crop_w) // 2, (height - crop_h) // 2
        big = img.crop((left, top, left + crop_w, top + crop_h)).resize(SIZE, Image.Resampling.LANCZOS)
    out = folder / f"{source.stem}_24mp.jpg"
    big.save(out, "JPEG", quality=92)
    return out


def _iou(a: Box, b: Box) -> float:
    ix = max(0, min(a.left + a.width, b.left + b.width) - max(a.left, b.left))
    iy = max(0, min(a.top + a.height, b.top + b.height) - max(a.top, b.top))
    inter = ix * iy
    return inter / (a.width * a.height + b.width * b.height - inter)


@dataclass
class Faces:
    decoded: tuple[int, int]
    found: list[FoundFace]  # in the photo's pixels
    descriptors: np.ndarray


def find_faces(path: Path, reduce_above: int | None, finder: FaceFinder, descriptors: Descriptors) -> Faces:
    decoded = decode_image(path.read_bytes(), LIMIT, reduce_above)
    found = _in_photo_pixels(finder.find(decoded.rgb), decoded.scale)
    vectors = descriptors.compute(np.stack([f.chip for f in found])) if found else np.zeros((0, 1), np.float32)
    return Faces((decoded.width, decoded.height), found, vectors)


def agreement(whole: Faces, other: Faces) -> tuple[str, str, str]:
    """Faces matched to the whole decode's (IoU >= 0.5): how many, the worst IoU, the worst descriptor cosine."""
    if not whole.found:
        return "0/0", "-", "-"
    ious, cosines = [], []
    for i, face in enumerate(whole.found):
        best = max(range(len(other.found)), key=lambda j: _iou(face.box, other.found[j].box), default=None)
        if best is None or _iou(face.box, other.found[best].box) < 0.5:
            continue
        ious.append(_iou(face.box, other.found[best].box))
        a, b = whole.descriptors[i], other.descriptors[best]
        cosines.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    matched = sum(greedy_match([f.box for f in whole.found], [f.box for f in other.found]))
    worst_iou = f"{min(ious):.3f}" if ious else "-"
    worst_cos = f"{min(cosines):.4f}" if cosines else "-"
    return f"{matched}/{len(whole.found)}", worst_iou, worst_cos


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--reduce-above", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.reduce_above or None)
        return
    settings = bench_settings()
    finder, descriptors = FaceFinder.from_settings(settings), Descriptors(settings)
    with tempfile.TemporaryDirectory() as tmp:
        for source in PHOTOS:
            photo = make_photo(facedata() / source, Path(tmp))
            print(f"\n{source} enlarged to {SIZE[0]}x{SIZE[1]} ({photo.stat().st_size / 1e6:.1f} MB JPEG)")
            print(f"{'decode':9} {'decoded':>10} {'ms':>7} {'x whole':>8} {'peak MB':>8} {'x whole':>8} "
                  f"{'faces':>6} {'min IoU':>8} {'min cos':>8}")
            whole_cost = measure(photo, None)
            whole_faces = find_faces(photo, None, finder, descriptors)
            for mode, bound in MODES.items():
                cost = whole_cost if bound is None else measure(photo, bound)
                faces = whole_faces if bound is None else find_faces(photo, bound, finder, descriptors)
                matched, worst_iou, worst_cos = agreement(whole_faces, faces)
                print(f"{mode:9} {faces.decoded[0]:>5}x{faces.decoded[1]:<4} {cost['ms']:7.0f} "
                      f"{cost['ms'] / whole_cost['ms']:8.2f} {cost['peak_mb']:8.0f} "
                      f"{cost['peak_mb'] / whole_cost['peak_mb']:8.2f} {matched:>6} {worst_iou:>8} {worst_cos:>8}")


if __name__ == "__main__":
    main()
