"""Per-face descriptor time: ONNX Runtime (batch 1 and 16) against dlib's own, in the same run.

Run: .venv/bin/python bench/embedding.py [--faces 48]
"""

from __future__ import annotations

import argparse
import time

import dlib
import numpy as np
from common import facedata, load_rgb, median_ms
from tqdm import tqdm

from services.core.faces.analyzer import FaceFinder
from services.core.faces.model_files import descriptor_model_path, descriptor_source
from services.core.faces.onnx_export import OUTPUT_NAME
from services.core.faces.onnx_session import OnnxModel
from services.core.settings import Settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--faces", type=int, default=48, help="real face chips to time (multiple of 16)")
    args = parser.parse_args()
    settings = Settings()
    finder = FaceFinder.from_settings(settings)
    chips: list[np.ndarray] = []
    for photo in tqdm(sorted((facedata() / "celeb5").rglob("*.jpg")), desc="collecting chips", leave=False):
        chips.extend(f.chip for f in finder.find(load_rgb(photo)))
        if len(chips) >= args.faces:
            break
    batch = np.stack(chips[: args.faces])
    n = len(batch)

    reference = dlib.face_recognition_model_v1(str(descriptor_source()))
    reference.compute_face_descriptor(batch[0])
    start = time.perf_counter()
    for chip in tqdm(batch, desc="dlib descriptors", leave=False):
        reference.compute_face_descriptor(chip)
    dlib_ms = (time.perf_counter() - start) * 1000.0 / n

    model = OnnxModel(descriptor_model_path(settings.model_cache), settings.execution_provider,
                      settings.onnx_threads)

    def one_at_a_time() -> None:
        for i in range(n):
            model.run(batch[i : i + 1])[OUTPUT_NAME]

    def sixteen_at_a_time() -> None:
        for i in range(0, n, 16):
            model.run(batch[i : i + 16])[OUTPUT_NAME]

    b1 = median_ms(one_at_a_time, 5) / n
    b16 = median_ms(sixteen_at_a_time, 5) / n
    print(f"faces: {n} real chips from celeb5; ONNX Runtime provider: {model.provider}")
    print(f"dlib compute_face_descriptor  {dlib_ms:8.2f} ms/face")
    print(f"ONNX batch 1                  {b1:8.2f} ms/face   {dlib_ms / b1:6.1f}x faster than dlib")
    print(f"ONNX batch 16                 {b16:8.2f} ms/face   {dlib_ms / b16:6.1f}x faster than dlib")


if __name__ == "__main__":
    main()
