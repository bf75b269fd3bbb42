"""The model registry in the blob store, and how a published model's outputs are read.

Layout::

    models/<version>/model.onnx      the merged graph: chips in; descriptors and person distances out
    models/<version>/manifest.json   labels, threshold, metrics, dataset, hashes, parent version
    models/current.json              the pointer to the version classifiers serve, written last

A version's two files never change once written; moving the pointer is the only way a version goes
live (publish) or back (rollback). Workers also leave heartbeats under ``workers/<name>.json``, so the
gateway can tell which model each of them serves.

This module is light on purpose (no ONNX Runtime): the gateway imports it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel, Field, ValidationError

from services.core.blobs import BlobStore
from services.core.domain import utcnow
from services.core.errors import FacetagError, InvalidInput, NotFound
from services.core.settings import Settings

log = logging.getLogger(__name__)

MODELS_PREFIX = "models/"
CURRENT_KEY = "models/current.json"
WORKERS_PREFIX = "workers/"
EVENT_CHANNEL = "facetag:models"
# ASCII digits only; also the pattern the OpenAPI document states for a version.
VERSION_PATTERN = r"^v([0-9]{1,9})$"
VERSION_RE = re.compile(VERSION_PATTERN)

# Output names of a published graph, beside the backbone's "descriptors".
OUT_DISTANCES = "person_distances"  # (N, P) float: distance to each person's nearest exemplar
OUT_BEST_INDEX = "best_index"  # (N,) int64: the nearest person
OUT_BEST_DISTANCE = "best_distance"  # (N,) float
CONFIDENCE_SCALE = 0.067  # share of the threshold over which the confidence goes from 50% to 73%


class ModelCorrupt(FacetagError):
    """A model file that does not match its manifest, or that ONNX Runtime cannot load."""


class ModelLabel(BaseModel):
    id: str  # person id in the catalog
    name: str  # the name when the model was trained (people can be renamed since)
    faces: int = 0  # faces of them a person named that it learnt from (0: from before this was recorded)


class ModelManifest(BaseModel):
    version: str
    created_at: datetime = Field(default_factory=utcnow)
    labels: list[ModelLabel]
    threshold: float = Field(description="A face nearer than this to its nearest person is that person; "
                                         "farther, it is unknown.")
    metrics: dict[str, Any] = Field(default_factory=dict)
    dataset: dict[str, Any] = Field(default_factory=dict)
    params: dict[str, Any] = Field(default_factory=dict)
    evaluation: dict[str, Any] = Field(default_factory=dict, description="The comparison with the version "
                                       "that was current when this one was trained, and the decision.")
    backbone_sha256: str
    # The descriptor network inside (name-version[+flip]), its chips and descriptors. Defaults: the
    # dlib network every model had before these fields existed.
    descriptor: str = "dlib-resnet_v1"
    chip_size: int = 150
    dimension: int = 128
    detector: str | None = None
    parent_version: str | None = None
    sha256: str = Field(description="sha256 of model.onnx")
    size_bytes: int = 0


class CurrentPointer(BaseModel):
    version: str
    sha256: str
    set_at: datetime = Field(default_factory=utcnow)
    reason: str = ""


class WorkerBeat(BaseModel):
    name: str
    kind: str
    pid: int
    host: str
    model_version: str | None = None
    model_sha256: str | None = None
    model_error: str | None = None
    provider: str | None = None
    started_at: datetime
    updated_at: datetime = Field(default_factory=utcnow)


def model_key(version: str) -> str:
    return f"{MODELS_PREFIX}{version}/model.onnx"


def manifest_key(version: str) -> str:
    return f"{MODELS_PREFIX}{version}/manifest.json"


def version_number(version: str) -> int:
    match = VERSION_RE.match(version)
    if match is None:
        raise InvalidInput(f"{version!r} is not a model version; versions look like v1, v2, ...")
    return int(match.group(1))


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Registry:
    """Versions and the current pointer in a blob store (synchronous, like the blob store)."""

    def __init__(self, blobs: BlobStore) -> None:
        self.blobs = blobs

    def versions(self) -> list[str]:
        """Every version with a manifest, oldest first."""
        found = set()
        for key in self.blobs.list(MODELS_PREFIX):
            parts = key[len(MODELS_PREFIX):].split("/")
            if len(parts) == 2 and parts[1] == "manifest.json" and VERSION_RE.match(parts[0]):
                found.add(parts[0])
        return sorted(found, key=version_number)

    def next_version(self) -> str:
        numbers = [version_number(k[len(MODELS_PREFIX):].split("/")[0]) for k in self.blobs.list(MODELS_PREFIX)
                   if VERSION_RE.match(k[len(MODELS_PREFIX):].split("/")[0])]
        return f"v{max(numbers, default=0) + 1}"

    def manifest(self, version: str) -> ModelManifest:
        version_number(version)
        try:
            data = self.blobs.get(manifest_key(version))
        except NotFound:
            raise NotFound(f"No model version {version!r}; GET /v1/admin/models lists them.") from None
        try:
            return ModelManifest.model_validate_json(data)
        except ValidationError as exc:
            raise ModelCorrupt(f"the manifest of model {version} is unreadable: {exc}") from exc

    def manifests(self) -> list[ModelManifest]:
        out = []
        for version in self.versions():
            try:
                out.append(self.manifest(version))
            except (ModelCorrupt, NotFound) as exc:
                log.warning("skipping model %s: %s", version, exc)
        return out

    def current(self) -> CurrentPointer | None:
        try:
            return CurrentPointer.model_validate_json(self.blobs.get(CURRENT_KEY))
        except NotFound:
            return None
        except ValidationError as exc:
            raise ModelCorrupt(f"{CURRENT_KEY} is unreadable: {exc}") from exc

    def write_version(self, manifest: ModelManifest, model_bytes: bytes) -> None:
        """Store a new version's files: the model first, then its manifest (which makes it listed)."""
        if manifest.sha256 != sha256_bytes(model_bytes):
            raise ValueError("the manifest's sha256 is not the model's")
        if self.blobs.exists(manifest_key(manifest.version)):
            raise FacetagError(f"model version {manifest.version} exists already; versions never change")
        self.blobs.put(model_key(manifest.version), model_bytes)
        self.blobs.put(manifest_key(manifest.version), manifest.model_dump_json(indent=2).encode(),
                       "application/json")

    def model_bytes(self, version: str, expected_sha256: str) -> bytes:
        """The model file of a version, verified; ModelCorrupt if it is not what the manifest says."""
        try:
            data = self.blobs.get(model_key(version))
        except NotFound:
            raise ModelCorrupt(f"model {version} has a manifest but no model.onnx") from None
        actual = sha256_bytes(data)
        if actual != expected_sha256:
            raise ModelCorrupt(f"model.onnx of {version} has sha256 {actual[:12]}..., its manifest says "
                               f"{expected_sha256[:12]}...: the file is damaged or half-written")
        return data

    def current_manifest(self) -> ModelManifest | None:
        pointer = self.current()
        return None if pointer is None else self.manifest(pointer.version)

    def withdraw(self, version: str, reason: str) -> None:
        """Remove a version's files for good (an erasure): its manifest first, so it is never half-listed.
        A small note stays in its place, so the version number is never used again."""
        note = {"version": version, "withdrawn_at": utcnow().isoformat(), "reason": reason}
        self.blobs.put(f"{MODELS_PREFIX}{version}/withdrawn.json", json.dumps(note).encode(), "application/json")
        self.blobs.delete(manifest_key(version))
        self.blobs.delete(model_key(version))

    def clear_current(self) -> None:
        """No current model: classifiers go back to descriptors only until a model is published."""
        self.blobs.delete(CURRENT_KEY)

    def set_current(self, version: str, reason: str, *, verify: bool = True) -> CurrentPointer:
        """Point classifiers at a version (publish or rollback). Verifies the file first unless told not to."""
        manifest = self.manifest(version)
        if verify:
            self.model_bytes(version, manifest.sha256)
        pointer = CurrentPointer(version=version, sha256=manifest.sha256, reason=reason)
        self.blobs.put(CURRENT_KEY, pointer.model_dump_json().encode(), "application/json")
        log.info("current model is now %s (%s)", version, reason)
        return pointer


def announce(settings: Settings, version: str) -> None:
    """Tell classifier workers at once that the current model changed (Redis pub/sub).

    Best effort: on the embedded broker, or if Redis does not answer, workers still see the change
    at their next periodic check.
    """
    if settings.embedded_broker or not settings.broker_url.startswith(("redis://", "rediss://")):
        return
    try:
        import redis

        client = redis.Redis.from_url(settings.broker_url, socket_timeout=3, socket_connect_timeout=3)
        try:
            client.publish(EVENT_CHANNEL, json.dumps({"version": version}))
        finally:
            client.close()
    except Exception as exc:
        log.warning("could not announce model %s (%s); workers will find it at their next check", version, exc)


# Reading a published model's outputs -------------------------------------------------------------


def confidence(distance: float, threshold: float) -> float:
    """How sure the model is of a match, 0..1: 0.5 exactly at the threshold."""
    z = (threshold - distance) / (CONFIDENCE_SCALE * max(threshold, 1e-6))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def decide(best_index: NDArray[np.int64], best_distance: NDArray[np.float32], threshold: float,
           label_ids: list[str]) -> tuple[list[str | None], list[float]]:
    """The open-set decision: the nearest person if within the threshold, else unknown (None).

    The confidence is that of the decision taken: of the match for a name, of the rejection for unknown.
    """
    people: list[str | None] = []
    confidences: list[float] = []
    for index, distance in zip(best_index.tolist(), best_distance.tolist(), strict=True):
        p = confidence(float(distance), threshold)
        if float(distance) < threshold:
            people.append(label_ids[int(index)])
            confidences.append(round(p, 4))
        else:
            people.append(None)
            confidences.append(round(1.0 - p, 4))
    return people, confidences


# Worker heartbeats ---------------------------------------------------------------------------------


def beat_key(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.@-]", "_", name).lstrip(".") or "worker"
    return f"{WORKERS_PREFIX}{safe}.json"


def write_beat(blobs: BlobStore, beat: WorkerBeat) -> None:
    beat.updated_at = utcnow()
    blobs.put(beat_key(beat.name), beat.model_dump_json().encode(), "application/json")


def read_beats(blobs: BlobStore, max_age: timedelta = timedelta(minutes=10)) -> list[WorkerBeat]:
    """Heartbeats of the workers heard from within ``max_age``, by name; older ones are removed."""
    beats = []
    oldest = utcnow() - max_age
    for key in blobs.list(WORKERS_PREFIX):
        try:
            beat = WorkerBeat.model_validate_json(blobs.get(key))
        except (NotFound, ValidationError):
            continue
        if beat.updated_at < oldest:
            if beat.updated_at < oldest - timedelta(hours=1):
                blobs.delete(key)  # a worker long gone: forget it
            continue
        beats.append(beat)
    return sorted(beats, key=lambda b: b.name)
