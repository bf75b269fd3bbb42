"""Labelled faces out of the catalog: for training (descriptors) and as a downloadable zip (chips)."""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import re
import zipfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import numpy as np

from services.core.catalog import Catalog, FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.domain import FaceRecord, LabelSource, utcnow
from services.core.errors import NotFound
from services.core.library_network import descriptor_of
from services.core.quality_gate import is_good
from services.trainer.fit import LabelledSet

log = logging.getLogger(__name__)
Progress = Callable[[float, str], Awaitable[None]]


@dataclass
class TrainingData:
    data: LabelledSet
    names: dict[str, str]  # person id -> name
    without_descriptor: int  # labelled faces the classifier has not described yet
    fingerprint: str


async def load_training_data(catalog: Catalog, descriptor: str, min_quality: float) -> TrainingData:
    """Every face a person labelled (named, or said unknown) that has a descriptor of the ``descriptor``
    network and is good enough to learn from (``min_quality``)."""
    names = {p.id: p.name for p in await catalog.all_people()}
    face_ids: list[str] = []
    vectors: list[list[float]] = []
    owners: list[str | None] = []
    missing = 0
    async for face in iter_faces(catalog, FaceQuery(label_source=LabelSource.person.value)):
        if face.descriptor is None or descriptor_of(face.descriptor_model) != descriptor:
            missing += 1
            continue
        if not is_good(face.quality, min_quality):
            continue
        if face.person_id is not None and face.person_id not in names:
            continue  # the person was deleted a moment ago
        face_ids.append(face.id)
        vectors.append(face.descriptor)
        owners.append(face.person_id)
    people = sorted({o for o in owners if o is not None}, key=lambda pid: (names[pid].lower(), pid))
    index = {pid: i for i, pid in enumerate(people)}
    person = np.array([index[o] if o is not None else -1 for o in owners], dtype=np.int64)
    descriptors = np.array(vectors, dtype=np.float32).reshape(len(vectors), -1) if vectors \
        else np.zeros((0, 0), dtype=np.float32)
    rejections = [(face.id, face.descriptor, index[pid]) async for face in
                  iter_faces(catalog, FaceQuery(with_not_person=True, with_descriptor=True))
                  if face.descriptor is not None and descriptor_of(face.descriptor_model) == descriptor
                  for pid in face.not_person_ids if pid in index]
    rejected = np.array([r[1] for r in rejections], dtype=np.float32).reshape(len(rejections), -1) \
        if rejections else np.zeros((0, descriptors.shape[1] if vectors else 0), dtype=np.float32)
    digest = hashlib.sha256()
    for fid, owner in sorted(zip(face_ids, owners, strict=True)):
        digest.update(f"{fid}={owner or '-'};".encode())
    for fid, _, rejected_index in sorted(rejections, key=lambda r: (r[0], r[2])):
        digest.update(f"{fid}!={people[rejected_index]};".encode())
    digest.update(descriptors.astype(np.float32).tobytes() if len(descriptors) < 50_000 else b"")
    data = LabelledSet(face_ids, descriptors, person, people, rejected,
                       np.array([r[2] for r in rejections], dtype=np.int64))
    return TrainingData(data, {p: names[p] for p in people}, missing, digest.hexdigest())


def _safe(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("._") or "person"


async def build_dataset_zip(catalog: Catalog, get_blob: Callable[[str], bytes], since: datetime | None,
                            sources: list[str], progress: Progress) -> tuple[bytes, dict[str, object]]:
    """A zip of labelled chips (``chips/<person>/<face id>.png``) with manifest.csv and manifest.json."""
    names = {p.id: p.name for p in await catalog.all_people()}
    faces: list[FaceRecord] = []
    for source in sources:
        async for face in iter_faces(catalog, FaceQuery(label_source=source, labelled_since=since)):
            faces.append(face)
    faces.sort(key=lambda f: (f.labelled_at or utcnow(), f.id))
    rows: list[dict[str, object]] = []
    skipped = 0
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:  # PNGs do not shrink
        for i, face in enumerate(faces):
            if face.chip_key is None:
                skipped += 1
                continue
            try:
                chip = await asyncio.to_thread(get_blob, face.chip_key)
            except NotFound:
                skipped += 1
                continue
            name = names.get(face.person_id or "")
            folder = _safe(name) if name else "unknown"
            path = f"chips/{folder}/{face.id}.png"
            archive.writestr(path, chip)
            rows.append({"face_id": face.id, "person_id": face.person_id, "person": name,
                         "label_source": face.label_source.value if face.label_source else None,
                         "image_id": face.image_id,
                         "labelled_at": face.labelled_at.isoformat() if face.labelled_at else None,
                         "model_version": face.model_version, "confidence": face.confidence, "chip": path})
            if i % 200 == 0:
                await progress(0.1 + 0.8 * i / max(1, len(faces)), f"{i} of {len(faces)} chips")
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["face_id"])
        writer.writeheader()
        writer.writerows(rows)
        archive.writestr("manifest.csv", text.getvalue())
        summary: dict[str, object] = {
            "created_at": utcnow().isoformat(), "since": since.isoformat() if since else None,
            "label_sources": sources, "faces": len(rows), "skipped_without_chip": skipped,
            "people": len({r["person_id"] for r in rows if r["person_id"]}),
        }
        archive.writestr("manifest.json", json.dumps({**summary, "items": rows}, indent=1))
    return buffer.getvalue(), summary
