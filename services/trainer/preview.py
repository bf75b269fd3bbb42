"""What a candidate model would change if it went live (issue 12, item 9).

Both the candidate and the current model are run on every stored descriptor of the candidate's network
(their identity heads alone, no chips), and the answers are compared face by face:

- ``changed``: faces no person named whose name changes from one person to another;
- ``unknown``: faces no person named that have a name now and would become unknown;
- ``named``: faces no person named that are unknown now and would get a name;
- ``wrong``: faces a person named (or said are nobody known) that the candidate would answer otherwise.

Each group counts faces per (from, to) pair with a few sample face ids. The result holds person ids
only: the gateway shows today's names and chip URLs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnxruntime as ort

from services.core import registry as reg
from services.core.blobs import BlobStore
from services.core.catalog import Catalog, FaceQuery
from services.core.domain import FaceRecord, LabelSource, utcnow
from services.core.faces.onnx_export import OUTPUT_NAME as DESCRIPTORS
from services.core.faces.onnx_head import extract_head
from services.core.library_network import descriptor_of
from services.trainer.dataset import iter_faces

log = logging.getLogger(__name__)
SAMPLES = 12  # sample faces kept per (from, to) pair
MAX_PAIRS = 100  # pairs kept per group, largest first
BATCH = 512
GROUPS = ("changed", "unknown", "named", "wrong")
Progress = Callable[[float, str], Awaitable[None]]


@dataclass
class FaceAnswer:
    """One face: what a person said (``human`` set when they did; ``human_person`` None = nobody known),
    what the current model says, what the candidate says."""

    face_id: str
    before: str | None
    after: str | None
    human: bool = False
    human_person: str | None = None


@dataclass
class _Pair:
    count: int = 0
    samples: list[str] = field(default_factory=list)


def compare(answers: list[FaceAnswer], samples: int = SAMPLES) -> dict[str, Any]:
    """The comparison of two models' answers (pure): per group its count and (from, to) pairs."""
    groups: dict[str, dict[tuple[str | None, str | None], _Pair]] = {g: {} for g in GROUPS}
    human_faces = human_right = 0
    for answer in answers:
        key: tuple[str | None, str | None]
        if answer.human:
            human_faces += 1
            if answer.after == answer.human_person:
                human_right += 1
                continue
            group, key = "wrong", (answer.human_person, answer.after)
        elif answer.before == answer.after:
            continue
        elif answer.after is None:
            group, key = "unknown", (answer.before, None)
        elif answer.before is None:
            group, key = "named", (None, answer.after)
        else:
            group, key = "changed", (answer.before, answer.after)
        pair = groups[group].setdefault(key, _Pair())
        pair.count += 1
        if len(pair.samples) < samples:
            pair.samples.append(answer.face_id)
    out: dict[str, Any] = {"faces": len(answers), "human_faces": human_faces, "human_right": human_right}
    for group, pairs in groups.items():
        ordered = sorted(pairs.items(), key=lambda item: (-item[1].count, str(item[0])))
        out[group] = {"count": sum(p.count for p in pairs.values()),
                      "pairs": [{"from": k[0], "to": k[1], "count": p.count, "samples": p.samples}
                                for k, p in ordered[:MAX_PAIRS]]}
    return out


class HeadModel:
    """A stored version's identity head, run on descriptors, with the open-set decision."""

    def __init__(self, manifest: reg.ModelManifest, model_bytes: bytes) -> None:
        self.manifest = manifest
        self.session = ort.InferenceSession(extract_head(model_bytes), providers=["CPUExecutionProvider"])
        self.label_ids = [label.id for label in manifest.labels]

    def predict(self, descriptors: np.ndarray[Any, Any]) -> list[str | None]:
        people: list[str | None] = []
        for start in range(0, len(descriptors), BATCH):
            chunk = descriptors[start : start + BATCH].astype(np.float32)
            index, distance = self.session.run([reg.OUT_BEST_INDEX, reg.OUT_BEST_DISTANCE], {DESCRIPTORS: chunk})
            named, _ = reg.decide(index, distance, self.manifest.threshold, self.label_ids)
            people.extend(named)
        return people


def _load(registry: reg.Registry, version: str) -> HeadModel:
    manifest = registry.manifest(version)
    return HeadModel(manifest, registry.model_bytes(version, manifest.sha256))


def _allowed(person: str | None, face: FaceRecord, nameable: set[str]) -> str | None:
    """What the classifier would store: never a person the face is "not", nor one who opted out or is gone."""
    if person is None or person not in nameable or person in face.not_person_ids:
        return None
    return person


async def compute(catalog: Catalog, blobs: BlobStore, version: str, progress: Progress) -> dict[str, Any]:
    """Compare ``version`` with the current model over every face with a descriptor of its network."""
    registry = reg.Registry(blobs)
    candidate = await asyncio.to_thread(_load, registry, version)
    pointer = await asyncio.to_thread(registry.current)
    current: HeadModel | None = None
    if pointer is not None and pointer.version != version:
        current = await asyncio.to_thread(_load, registry, pointer.version)
    network = candidate.manifest.descriptor
    same_network = current is None or current.manifest.descriptor == network
    await progress(0.1, "reading faces")
    nameable = {p.id for p in await catalog.all_people() if not p.never_tag}
    faces = [f async for f in iter_faces(catalog, FaceQuery(with_descriptor=True))
             if f.descriptor is not None and descriptor_of(f.descriptor_model) == network]
    await progress(0.4, f"running both models on {len(faces)} faces")
    vectors = np.array([f.descriptor for f in faces], dtype=np.float32).reshape(len(faces), -1)
    after = await asyncio.to_thread(candidate.predict, vectors)
    if current is not None and same_network:
        before = await asyncio.to_thread(current.predict, vectors)
    else:  # no current model, or one on another network: what the faces say now
        before = [f.person_id if f.label_source == LabelSource.model else None for f in faces]
    answers = [FaceAnswer(face_id=f.id, before=_allowed(b, f, nameable), after=_allowed(a, f, nameable),
                          human=f.label_source == LabelSource.person, human_person=f.person_id)
               for f, b, a in zip(faces, before, after, strict=True)]
    await progress(0.8, "comparing")
    result = compare(answers)
    result.update(version=version, against=pointer.version if pointer is not None and current is not None else None,
                  network=network, computed_at=utcnow().isoformat(),
                  message=_summary(version, result, current.manifest.version if current else None))
    return result


def _summary(version: str, result: dict[str, Any], against: str | None) -> str:
    parts = [f"{result[g]['count']} {text}" for g, text in (
        ("changed", "change name"), ("unknown", "become unknown"), ("named", "get a name"),
        ("wrong", "named by people it gets wrong"))]
    return f"{version} against {against or 'no model'} on {result['faces']} faces: " + ", ".join(parts)
