"""Per-face descriptor time in ONNX Runtime under each session setting, against dlib's own in the same run.

Settings: intra-op threads (1, and every core this process may use), spinning (off: the service's; on: ONNX
Runtime's default), batch size (1, 8, 32). Each is timed alone, beside a process keeping one core busy, and
beside a second replica running the same network with the same settings (two workers sharing the machine).
Ratios are dlib's time a face under the same condition over ONNX's: how many times faster than dlib.

Run: flock /tmp/facetag-cpu.lock .venv/bin/python bench/embedding.py [--faces 96] [--network dlib|sface|mbf]
"""

from __future__ import annotations

import argparse
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dlib
import numpy as np
from common import facedata, load_rgb, median_ms
from numpy.typing import NDArray
from tqdm import tqdm

from services.core.faces.analyzer import FaceFinder
from services.core.faces.model_files import descriptor_source
from services.core.faces.networks import backbone_path, network
from services.core.faces.onnx_export import OUTPUT_NAME
from services.core.faces.onnx_session import OnnxModel
from services.core.settings import Settings

BATCHES = (1, 8, 32)
REPEATS = 3
DLIB_FACES = 16  # dlib's own takes 50-150 ms a face here: a few chips give its median


def real_chips(settings: Settings, net_name: str, count: int) -> NDArray[np.uint8]:
    finder = FaceFinder.from_settings(settings, net=network(net_name, frozenset({net_name})))
    chips: list[NDArray[np.uint8]] = []
    for photo in tqdm(sorted((facedata() / "celeb5").rglob("*.jpg")), desc=f"{net_name} chips", leave=False):
        chips.extend(f.chip for f in finder.find(load_rgb(photo)))
        if len(chips) >= count:
            break
    return np.stack(chips[:count])


BUSY_LOOP = [sys.executable, "-c", "while True: pass"]
BUSY, REPLICA = "beside one busy process", "beside a second replica with the same settings"


def replica(path: str, size: int, threads: int, spin: bool, batch: int) -> None:
    """Run the network forever, as a second worker on this machine would (``--replica``)."""
    model = OnnxModel(Path(path), "cpu", threads, spinning=spin)
    chips = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    while True:
        model.run(chips)


@contextmanager
def competing(argv: list[str] | None) -> Iterator[None]:
    """A process running ``argv`` for the duration (None: nothing)."""
    if argv is None:
        yield
        return
    other = subprocess.Popen(argv)
    try:
        time.sleep(2.0)  # a replica loads its model first
        yield
    finally:
        other.kill()
        other.wait()


def per_face_ms(model: OnnxModel, chips: NDArray[np.uint8], batch: int) -> float:
    def run() -> None:
        for i in range(0, len(chips), batch):
            model.run(chips[i : i + batch])[OUTPUT_NAME]

    return median_ms(run, REPEATS) / len(chips)


def dlib_ms(chips: NDArray[np.uint8]) -> float:
    reference = dlib.face_recognition_model_v1(str(descriptor_source()))

    def run() -> None:
        for chip in chips:
            reference.compute_face_descriptor(chip)

    return median_ms(run, REPEATS) / len(chips)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=96, help="real face chips to time")
    parser.add_argument("--network", default="dlib", choices=["dlib", "sface", "mbf"],
                        help="descriptor network to time in ONNX Runtime (dlib: the same network as the reference)")
    parser.add_argument("--replica", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.replica:
        path, size, threads, spin, batch = args.replica
        replica(path, int(size), int(threads), spin == "1", int(batch))
    settings = Settings()
    dlib_chips = real_chips(settings, "dlib", args.faces)
    chips = dlib_chips if args.network == "dlib" else real_chips(settings, args.network, args.faces)
    path = backbone_path(network(args.network, frozenset({args.network})), False, settings.model_cache)
    cores = len(os.sched_getaffinity(0))
    settings_grid = list(itertools.product(sorted({1, cores}), (False, True), BATCHES))
    size = chips.shape[1]
    print(f"{len(chips)} real chips from celeb5; network {args.network} in ONNX Runtime "
          f"({settings.execution_provider}); {cores} core(s) for this process; dlib's own as the reference")
    for condition in ("alone", BUSY, REPLICA):
        with competing(BUSY_LOOP if condition == BUSY else None):
            reference = dlib_ms(dlib_chips[:DLIB_FACES])
        note = " (timed alone; two replicas do twice the faces below)" if condition == REPLICA else ""
        print(f"\n{condition}: dlib {reference:.2f} ms/face{note}")
        print(f"  {'threads':>7} {'spinning':>8} {'batch':>5} {'ms/face':>8} {'x dlib':>7}")
        for threads, spin, batch in settings_grid:
            model = OnnxModel(path, settings.execution_provider, threads, spinning=spin)
            other = {"alone": None, BUSY: BUSY_LOOP}.get(condition, [
                sys.executable, __file__, "--replica", str(path), str(size), str(threads), str(int(spin)), str(batch)])
            with competing(other):
                ms = per_face_ms(model, chips, batch)
            print(f"  {threads:>7} {'on' if spin else 'off':>8} {batch:>5} {ms:8.2f} {reference / ms:7.1f}")


if __name__ == "__main__":
    main()
