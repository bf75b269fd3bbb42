"""Synthetic descriptors that behave like dlib's: same person within ~0.4, different people ~0.95 apart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from services.core import registry as reg
from services.core.queue import make_celery
from services.core.settings import Settings
from services.core.stores import Stores
from services.core.worker_runtime import WorkerContext
from services.trainer.fit import LabelledSet
from services.trainer.pipeline import Trainer

DIM = 128
CENTRE_SIGMA = 0.06  # centres ~0.96 apart
FACE_SIGMA = 0.025  # faces of one person ~0.4 apart


def people_centres(n_people: int, seed: int = 0) -> NDArray[np.float32]:
    return np.random.default_rng(seed).normal(0, CENTRE_SIGMA, (n_people, DIM)).astype(np.float32)


def faces_of(centre: NDArray[np.float32], n: int, seed: int) -> NDArray[np.float32]:
    return (centre + np.random.default_rng(seed).normal(0, FACE_SIGMA, (n, DIM))).astype(np.float32)


def labelled_set(n_people: int, per_person: int, seed: int = 0, unknown: int = 0) -> LabelledSet:
    centres = people_centres(n_people + 1, seed)
    vectors, person, ids = [], [], []
    for p in range(n_people):
        vectors.append(faces_of(centres[p], per_person, seed * 1000 + p))
        person += [p] * per_person
        ids += [f"face-{seed}-{p}-{i}" for i in range(per_person)]
    if unknown:
        vectors.append(faces_of(centres[n_people], unknown, seed * 1000 + 999))
        person += [-1] * unknown
        ids += [f"stranger-{seed}-{i}" for i in range(unknown)]
    return LabelledSet(ids, np.concatenate(vectors), np.array(person, dtype=np.int64),
                       [f"person-{p}" for p in range(n_people)])


@dataclass
class BuiltModel:
    data: bytes
    labels: list[str]
    threshold: float
    backbone_sha256: str

    def manifest(self, version: str, **changes: object) -> reg.ModelManifest:
        fields: dict[str, object] = dict(
            version=version, labels=[reg.ModelLabel(id=p, name=p.upper()) for p in self.labels],
            threshold=self.threshold, backbone_sha256=self.backbone_sha256, sha256=reg.sha256_bytes(self.data),
            size_bytes=len(self.data))
        fields.update(changes)
        return reg.ModelManifest.model_validate(fields)


@asynccontextmanager
async def running_trainer(settings: Settings) -> AsyncIterator[Trainer]:
    """A trainer on its own worker context and stores, closed afterwards."""
    ctx = WorkerContext(settings)
    ctx._stores = await Stores.open(settings)
    try:
        yield Trainer(ctx, make_celery(settings))
    finally:
        await ctx._stores.close()
        ctx.loop.close()
