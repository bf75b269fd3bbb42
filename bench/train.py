"""Training benchmark: time to train and publish on 100, 1,000 and 10,000 labelled faces, and celeb5 accuracy.

    python bench/train.py [--sizes 100,1000,10000] [--skip-celeb5]

Timings run the trainer itself (catalog read, fit, calibration, ONNX build with the descriptor
network, evaluation against the current model, storing and publishing) on a SQLite catalog and a
local blob store in a temporary folder. The labelled faces are synthetic descriptors (10 faces a
person, spread like dlib's), so the numbers measure the trainer, not the photos. The celeb5 part
uses the real photos: the largest face of each train photo is labelled, the published graph (ONNX
Runtime, chips in) names the largest face of each val photo, and Matt Damon in the sample photos
must come out unknown.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import numpy as np
from common import facedata, load_rgb

from services.core import registry as reg
from services.core.domain import Box, FaceRecord, ImageRecord, LabelSource, utcnow
from services.core.library_network import configured
from services.core.queue import make_celery
from services.core.settings import Settings
from services.core.stores import Stores
from services.core.worker_runtime import WorkerContext
from services.trainer.fit import FitParams, LabelledSet, fit
from services.trainer.pipeline import Trainer

FACES_PER_PERSON = 10


def synthetic(n_faces: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    people = max(2, n_faces // FACES_PER_PERSON)
    centres = rng.normal(0, 0.06, (people, 128)).astype(np.float32)
    owner = np.arange(n_faces) % people
    return (centres[owner] + rng.normal(0, 0.025, (n_faces, 128))).astype(np.float32), owner


async def time_training(n_faces: int, folder: Path) -> tuple[float, float, dict[str, object]]:
    settings = Settings(data_dir=folder, execution_provider="cpu")
    network = configured(settings).label  # the trainer learns from the library network's descriptors only
    stores = await Stores.open(settings)
    catalog = stores.catalog
    try:
        vectors, owner = synthetic(n_faces)
        person_ids = [(await catalog.create_person(f"Person {p:05d}")).id for p in range(int(owner.max()) + 1)]
        now = utcnow()
        for p, pid in enumerate(person_ids):
            image_id = f"img-{p:05d}"
            await catalog.add_image(ImageRecord(id=image_id, sha256=image_id))
            faces = [FaceRecord(id=f"{image_id}-{i:03d}", image_id=image_id, box=Box(left=i * 60, top=0, width=50,
                                height=50), descriptor=vectors[row].tolist(), descriptor_model=network, person_id=pid,
                                label_source=LabelSource.person, labelled_at=now)
                     for i, row in enumerate(np.flatnonzero(owner == p))]
            await catalog.replace_detected_faces(image_id, faces)
        ctx = WorkerContext(settings)
        ctx._stores = stores
        trainer = Trainer(ctx, make_celery(settings))
        start = time.perf_counter()
        first = await trainer.train(None, {})
        first_s = time.perf_counter() - start
        start = time.perf_counter()
        again = await trainer.train(None, {"force": True})  # a retrain, compared with the current model
        again_s = time.perf_counter() - start
        assert first.get("promoted") and again.get("version"), (first, again)
        ctx.loop.close()
        return first_s, again_s, {**first["metrics"], "threshold": first["threshold"]}
    finally:
        await stores.close()


def celeb5(settings: Settings) -> None:
    import onnx
    import onnxruntime as ort

    from services.core.faces.analyzer import Descriptors, FaceFinder
    from services.core.faces.model_files import DESCRIPTOR_FILE, prepare_descriptor_model
    from services.core.faces.onnx_head import merge_head

    root = facedata()
    finder = FaceFinder.from_settings(settings)
    descriptors = Descriptors(settings)

    def largest_chip(path: Path) -> np.ndarray | None:
        faces = finder.find(load_rgb(path))
        if not faces:
            return None
        return max(faces, key=lambda f: f.box.width * f.box.height).chip

    people = sorted(p.name for p in (root / "celeb5" / "train").iterdir())
    ids, chips, owner = [], [], []
    for p, person in enumerate(people):
        for photo in sorted((root / "celeb5" / "train" / person).iterdir()):
            chip = largest_chip(photo)
            if chip is not None:
                ids.append(f"{person}/{photo.name}")
                chips.append(chip)
                owner.append(p)
    data = LabelledSet(ids, descriptors.compute(np.stack(chips)), np.array(owner), people)
    start = time.perf_counter()
    result = fit(data, FitParams())
    prepare_descriptor_model(settings.model_cache)
    model = merge_head(onnx.load(str(settings.model_cache / DESCRIPTOR_FILE)), result.gallery, result.gallery_mask)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    fit_s = time.perf_counter() - start

    def name(chip_batch: np.ndarray) -> list[str | None]:
        index, distance = session.run([reg.OUT_BEST_INDEX, reg.OUT_BEST_DISTANCE], {"chips": chip_batch})
        named, _ = reg.decide(index, distance, result.threshold, people)
        return named

    right, total, missed = 0, 0, []
    for person in people:
        for photo in sorted((root / "celeb5" / "val" / person).iterdir()):
            total += 1
            chip = largest_chip(photo)
            got = name(chip[None]) if chip is not None else [None]
            right += got[0] == person
            if got[0] != person:
                missed.append(f"{person}/{photo.name}: {got[0] or ('no face found' if chip is None else 'unknown')}")
    print(f"celeb5: {len(ids)} labelled train faces, fit + ONNX build {fit_s:.2f}s, threshold {result.threshold:.3f}")
    print(f"celeb5 val: {right}/{total} named right" + (f" (missed: {'; '.join(missed)})" if missed else ""))
    matt = []
    for photo in sorted((root / "facetag_samples").glob("ben_mat_*.jpg")):
        faces = finder.find(load_rgb(photo))
        named = name(np.stack([f.chip for f in faces]))
        matt.append(f"{photo.name}: {sorted(n or 'unknown' for n in named)}")
    print("Ben Affleck and Matt Damon (Matt must be unknown):\n  " + "\n  ".join(matt))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="100,1000,10000", help="numbers of labelled faces, comma-separated")
    parser.add_argument("--skip-celeb5", action="store_true")
    args = parser.parse_args()
    print(f"{'faces':>7} {'people':>7} {'first train s':>14} {'retrain s':>10} {'held-out acc':>13} "
          f"{'unknown rej':>12} {'threshold':>10}")
    for size in [int(s) for s in args.sizes.split(",") if s.strip()]:
        with tempfile.TemporaryDirectory(prefix="facetag-bench-train-") as folder:
            first_s, again_s, metrics = asyncio.run(time_training(size, Path(folder)))
        print(f"{size:>7} {metrics['people']:>7} {first_s:>14.2f} {again_s:>10.2f} {metrics['accuracy']:>13} "
              f"{metrics['unknown_rejection']:>12} {metrics['threshold']:>10}", flush=True)
    if not args.skip_celeb5:
        with tempfile.TemporaryDirectory(prefix="facetag-bench-celeb5-") as folder:
            celeb5(Settings(data_dir=Path(folder), execution_provider="cpu"))


if __name__ == "__main__":
    main()
