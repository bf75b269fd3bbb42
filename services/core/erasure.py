"""Erasing a person for good, and checking that nothing of them is left.

What goes: the person; every face labelled as them (by a person or a model) with its chip and
descriptor; their entries in every dataset zip; every model version that learnt them (its gallery
holds their descriptors), with the current pointer moved to the newest version without them or
cleared; and what the audit trail says about them (kept as a redacted entry). Their photos stay:
other people may be in them.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import logging
import zipfile
from typing import Any

import numpy as np
from pydantic import BaseModel, Field

from services.core import blob_layout
from services.core import registry as reg
from services.core.catalog import FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.domain import FaceRecord
from services.core.errors import NotFound
from services.core.stores import Stores

log = logging.getLogger(__name__)
PAGE = 5000


class ErasureReport(BaseModel):
    person_id: str
    name: str
    reference: str = Field(description="What the audit trail calls them from now on.")
    faces_removed: int = 0
    chips_removed: int = 0
    images_affected: int = 0
    datasets_rewritten: list[str] = Field(default_factory=list)
    models_withdrawn: list[str] = Field(default_factory=list)
    snapshots_rewritten: list[str] = Field(default_factory=list, description="Training snapshots of kept "
                                           "versions that held some of their faces (not yet named then).")
    current_model: str | None = Field(None, description="The version served afterwards; None: none until retrained.")
    audit_entries_redacted: int = 0
    jobs_scrubbed: int = 0
    actions_removed: int = 0  # undoable corrections that named them (undo would bring them back)
    retrain_job_id: str | None = None
    leftovers: list[str] = Field(default_factory=list, description="Anything found afterwards; empty when clean.")


def reference_of(person_id: str) -> str:
    return "erased-" + hashlib.sha256(person_id.encode()).hexdigest()[:12]


async def faces_of(stores: Stores, person_id: str) -> list[FaceRecord]:
    return [face async for face in iter_faces(stores.catalog, FaceQuery(person_id=person_id), PAGE)]


def _rewrite_dataset(data: bytes, person_id: str, face_ids: set[str]) -> bytes | None:
    """The zip without the person's chips and manifest rows; None when it holds nothing of them."""
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        manifest = json.loads(source.read("manifest.json")) if "manifest.json" in source.namelist() else {}
        items: list[dict[str, Any]] = manifest.get("items", [])
        theirs = {item["chip"] for item in items
                  if item.get("person_id") == person_id or item.get("face_id") in face_ids}
        theirs |= {name for name in source.namelist() if name.rsplit("/", 1)[-1].removesuffix(".png") in face_ids}
        if not theirs:
            return None
        kept = [item for item in items if item.get("chip") not in theirs]
        out = io.BytesIO()
        with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as target:
            for info in source.infolist():
                if info.filename in theirs or info.filename in ("manifest.json", "manifest.csv"):
                    continue
                target.writestr(info, source.read(info))
            text = io.StringIO()
            writer = csv.DictWriter(text, fieldnames=list(kept[0]) if kept else ["face_id"])
            writer.writeheader()
            writer.writerows(kept)
            target.writestr("manifest.csv", text.getvalue())
            people = len({item.get("person_id") for item in kept if item.get("person_id")})
            target.writestr("manifest.json", json.dumps({**manifest, "faces": len(kept), "people": people,
                                                         "items": kept}, indent=1))
    return out.getvalue()


def _erase_from_datasets(stores: Stores, person_id: str, face_ids: set[str]) -> list[str]:
    rewritten = []
    for key in stores.blobs.list(blob_layout.DATASETS_PREFIX):
        if not key.endswith("/dataset.zip"):
            continue
        changed = _rewrite_dataset(stores.blobs.get(key), person_id, face_ids)
        if changed is not None:
            stores.blobs.put(key, changed, "application/zip")
            rewritten.append(key.removeprefix(blob_layout.DATASETS_PREFIX).split("/", 1)[0])
    return rewritten


def _snapshot_has(data: bytes, face_ids: set[str]) -> bool:
    with np.load(io.BytesIO(data), allow_pickle=False) as snapshot:
        return bool(face_ids & set(snapshot["face_ids"].tolist()))


def _erase_from_snapshots(stores: Stores, face_ids: set[str]) -> list[str]:
    """Training snapshots (descriptors a model learnt from) rewritten without the faces; their keys."""
    rewritten = []
    for key in stores.blobs.list(blob_layout.DATASETS_PREFIX):
        if not key.endswith("/snapshot.npz") or not _snapshot_has(data := stores.blobs.get(key), face_ids):
            continue
        with np.load(io.BytesIO(data), allow_pickle=False) as snapshot:
            arrays = {name: snapshot[name] for name in snapshot.files}
        keep = ~np.isin(arrays["face_ids"], sorted(face_ids))
        per_face = {name for name, array in arrays.items() if array.shape[:1] == keep.shape}
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **{name: (array[keep] if name in per_face else array)
                                       for name, array in arrays.items()})
        stores.blobs.put(key, buffer.getvalue())
        rewritten.append(key)
    return rewritten


def scrub(value: Any, person_id: str, reference: str) -> Any:
    """``value`` without what names the person: entries keyed by their id or holding ``person_id: id``
    are dropped, and their id elsewhere becomes ``reference``."""
    if isinstance(value, dict):
        return {key: scrub(item, person_id, reference) for key, item in value.items()
                if key != person_id and not (isinstance(item, dict) and item.get("person_id") == person_id)}
    if isinstance(value, list):
        return [scrub(item, person_id, reference) for item in value
                if not (isinstance(item, dict) and item.get("person_id") == person_id)]
    return reference if value == person_id else value


async def _scrub_jobs(stores: Stores, person_id: str, reference: str) -> int:
    """Job results (a training job's per-person metrics) that mention the person, rewritten; how many."""
    changed = 0
    for job in await stores.catalog.list_jobs():
        cleaned = scrub(job.result, person_id, reference)
        if cleaned != job.result:
            await stores.catalog.update_job(job.id, result=cleaned)
            changed += 1
    return changed


def _withdraw_models(stores: Stores, person_id: str) -> tuple[list[str], str | None]:
    """Withdraw every version that learnt the person; the current version afterwards (None: cleared)."""
    registry = reg.Registry(stores.blobs)
    manifests = registry.manifests()
    learnt = {m.version for m in manifests if any(label.id == person_id for label in m.labels)}
    pointer = registry.current()
    current = pointer.version if pointer else None
    if current in learnt:
        clean = [m.version for m in manifests if m.version not in learnt]
        current = max(clean, key=reg.version_number) if clean else None
        if current is None:
            registry.clear_current()
        else:
            registry.set_current(current, "the model before was withdrawn: a person was erased")
    for version in sorted(learnt, key=reg.version_number):
        registry.withdraw(version, "it learnt a person who was erased")
        # The version's training snapshot holds the descriptors it learnt from.
        stores.blobs.delete_prefix(f"{blob_layout.DATASETS_PREFIX}train-{version}/")
    return sorted(learnt, key=reg.version_number), current


async def erase_person(stores: Stores, person_id: str) -> ErasureReport:
    person = await stores.catalog.get_person(person_id)
    if person is None:
        raise NotFound(f"No person with id {person_id!r}.")
    report = ErasureReport(person_id=person.id, name=person.name, reference=reference_of(person.id))
    faces = await faces_of(stores, person.id)
    face_ids = {face.id for face in faces}
    report.images_affected = len({face.image_id for face in faces})
    for face in faces:
        if face.chip_key:
            await asyncio.to_thread(stores.blobs.delete, face.chip_key)
            report.chips_removed += 1
        if await stores.catalog.delete_face(face.id):
            report.faces_removed += 1
    report.datasets_rewritten = await asyncio.to_thread(_erase_from_datasets, stores, person.id, face_ids)
    report.models_withdrawn, report.current_model = await asyncio.to_thread(_withdraw_models, stores, person.id)
    report.snapshots_rewritten = await asyncio.to_thread(_erase_from_snapshots, stores, face_ids)
    await stores.catalog.delete_person(person.id)
    action_ids = await stores.catalog.erase_person_traces(person.id, face_ids)
    report.actions_removed = len(action_ids)
    report.jobs_scrubbed = await _scrub_jobs(stores, person.id, report.reference)
    report.audit_entries_redacted = await stores.access.redact_audit({person.id, *face_ids, *action_ids},
                                                                     report.reference)
    report.leftovers = await find_traces(stores, person.id, face_ids)
    log.info("erased a person (%s): %d faces, %d chips, datasets %s, models withdrawn %s", report.reference,
             report.faces_removed, report.chips_removed, report.datasets_rewritten or "none",
             report.models_withdrawn or "none")
    return report


async def find_traces(stores: Stores, person_id: str, face_ids: set[str]) -> list[str]:
    """Where the person or their faces still appear: catalog records, chips, datasets, models."""
    found = []
    if await stores.catalog.get_person(person_id) is not None:
        found.append(f"person record {person_id}")
    if await stores.catalog.list_faces(FaceQuery(person_id=person_id, limit=1)):
        found.append("faces labelled as them")
    for face_id in sorted(face_ids):
        face = await stores.catalog.get_face(face_id)
        if face is not None:
            found.append(f"face record {face_id}")
    found.extend(await asyncio.to_thread(_blob_traces, stores, person_id, face_ids))
    return found


def _blob_traces(stores: Stores, person_id: str, face_ids: set[str]) -> list[str]:
    found = [f"chip {key}" for key in stores.blobs.list("images/")
             if key.rsplit("/", 1)[-1].removesuffix(".png") in face_ids]
    for key in stores.blobs.list(blob_layout.DATASETS_PREFIX):
        if key.endswith("/dataset.zip") and _rewrite_dataset(stores.blobs.get(key), person_id, face_ids) is not None:
            found.append(f"dataset {key}")
    found.extend(f"training snapshot {key}" for key in stores.blobs.list(blob_layout.DATASETS_PREFIX)
                 if key.endswith("snapshot.npz") and _snapshot_has(stores.blobs.get(key), face_ids))
    for manifest in reg.Registry(stores.blobs).manifests():
        if any(label.id == person_id for label in manifest.labels):
            found.append(f"model {manifest.version}")
    return found
