"""The model a classifier worker serves, and how it changes without a restart.

The holder serves the registry's current version (descriptor-only while none is published). It
looks for a new one every ``FACETAG_MODEL_CHECK_INTERVAL`` seconds and at once when the trainer or
the gateway announces one (Redis pub/sub, cluster only). A new version is fetched by hash into the
local cache, its sha256 verified, loaded into a new ONNX Runtime session beside the old one and
checked on a test batch; only then is the reference swapped. A task holds the model it started with
until it ends, so no task sees a half-made switch. A version that fails any of this is refused,
logged and reported in the worker's heartbeat, and the old model keeps serving.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from services.classifier.identity import IdentityModel, Prediction
from services.core import metrics
from services.core import registry as reg
from services.core.blobs import BlobStore
from services.core.domain import utcnow
from services.core.faces.analyzer import BATCH
from services.core.faces.model_files import atomic_write
from services.core.faces.onnx_export import OUTPUT_NAME
from services.core.faces.onnx_session import OnnxModel
from services.core.settings import Settings

log = logging.getLogger(__name__)
HEARTBEAT_SECONDS = 10.0
RETRY_REFUSED_SECONDS = 300.0  # a refused file is tried again after this (someone may have repaired it)
CACHE_KEEP = 3


class PublishedModel:
    """One published version loaded in ONNX Runtime: the whole graph for chips, its head for descriptors."""

    def __init__(self, manifest: reg.ModelManifest, model_bytes: bytes, settings: Settings) -> None:
        from services.core.faces.onnx_head import extract_head

        self.manifest = manifest
        self.version: str | None = manifest.version
        self.sha256 = manifest.sha256
        self.label_ids = [label.id for label in manifest.labels]
        self.known_faces = {label.id: label.faces for label in manifest.labels}
        self.threshold = manifest.threshold
        self.descriptor_label = manifest.descriptor
        self.chip_size = manifest.chip_size
        try:
            self.model = OnnxModel(model_bytes, settings.execution_provider, settings.onnx_threads)
            options = ort.SessionOptions()
            options.intra_op_num_threads = 1
            self.head = ort.InferenceSession(extract_head(model_bytes), sess_options=options,
                                             providers=["CPUExecutionProvider"])
        except Exception as exc:
            raise reg.ModelCorrupt(f"ONNX Runtime cannot load model {manifest.version}: {exc}") from exc
        self._self_test()

    @property
    def provider(self) -> str:
        return self.model.provider

    def _self_test(self) -> None:
        """Run one blank chip: the outputs must have the shapes the manifest promises."""
        try:
            out = self.model.run(np.zeros((1, self.chip_size, self.chip_size, 3), dtype=np.uint8))
            shapes = {name: out[name].shape for name in (OUTPUT_NAME, reg.OUT_DISTANCES, reg.OUT_BEST_INDEX,
                                                         reg.OUT_BEST_DISTANCE)}
        except Exception as exc:
            raise reg.ModelCorrupt(f"model {self.version} fails on a test chip: {exc}") from exc
        dimension = self.manifest.dimension
        if shapes[OUTPUT_NAME] != (1, dimension) or shapes[reg.OUT_DISTANCES] != (1, len(self.label_ids)):
            raise reg.ModelCorrupt(f"model {self.version} gives outputs of shapes {shapes}, but its manifest has "
                                   f"{len(self.label_ids)} labels")

    def predict(self, chips: NDArray[np.uint8]) -> Prediction:
        descriptors, index, distance, per_person = [], [], [], []
        for start in range(0, len(chips), BATCH):
            out = self.model.run(chips[start : start + BATCH])
            descriptors.append(out[OUTPUT_NAME])
            index.append(out[reg.OUT_BEST_INDEX])
            distance.append(out[reg.OUT_BEST_DISTANCE])
            per_person.append(out[reg.OUT_DISTANCES])
        if not descriptors:
            return Prediction(np.zeros((0, self.manifest.dimension), dtype=np.float32), [], [],
                              np.zeros((0, len(self.label_ids)), dtype=np.float32), self.label_ids, self.threshold,
                              self.known_faces)
        people, confidences = reg.decide(np.concatenate(index), np.concatenate(distance), self.threshold,
                                         self.label_ids)
        return Prediction(np.concatenate(descriptors), people, confidences, np.concatenate(per_person), self.label_ids,
                          self.threshold, self.known_faces)

    def predict_descriptors(self, descriptors: NDArray[np.float32]) -> tuple[list[str | None], list[float]]:
        """Names for stored descriptors (re-tagging): the head alone, no chips needed."""
        if len(descriptors) == 0:
            return [], []
        index, distance = self.head.run([reg.OUT_BEST_INDEX, reg.OUT_BEST_DISTANCE],
                                        {OUTPUT_NAME: descriptors.astype(np.float32)})
        return reg.decide(index, distance, self.threshold, self.label_ids)

    def distances_to_people(self, descriptors: NDArray[np.float32]) -> NDArray[np.float32]:
        """(N, P) distances of stored descriptors to each person, for naming a photo's faces jointly."""
        if len(descriptors) == 0:
            return np.zeros((0, len(self.label_ids)), dtype=np.float32)
        (distances,) = self.head.run([reg.OUT_DISTANCES], {OUTPUT_NAME: descriptors.astype(np.float32)})
        return np.asarray(distances, dtype=np.float32)


class ModelHolder:
    """Holds the served model; ``current()`` is what a task uses from start to end."""

    def __init__(self, settings: Settings, blobs: BlobStore, fallback: Callable[[], IdentityModel],
                 kind: str = "classifier") -> None:
        self.settings = settings
        self.registry = reg.Registry(blobs)
        self.blobs = blobs
        self._fallback = fallback
        self._model: IdentityModel | None = None
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.error: str | None = None
        self._refused: str | None = None  # sha256 of the last refused file: not tried at every check
        self._refused_at = 0.0
        self._checked_at = 0.0
        self.cache_dir = settings.model_cache / "published"
        self.beat = reg.WorkerBeat(name=f"{kind}-{os.getpid()}@{socket.gethostname()}", kind=kind,
                                   pid=os.getpid(), host=socket.gethostname(), started_at=utcnow())

    # serving --------------------------------------------------------------------------------------

    def current(self) -> IdentityModel:
        model = self._model
        if model is None:
            self.check()
            model = self._model
            assert model is not None
        return model

    @property
    def version(self) -> str | None:
        return self._model.version if self._model is not None else None

    @property
    def loaded(self) -> bool:
        """A model serves: a published version, or descriptors only while none is published."""
        return self._model is not None

    def check(self) -> bool:
        """Serve the registry's current version if it is not served yet. True if the model changed."""
        with self._lock:
            self._checked_at = time.monotonic()
            try:
                pointer = self.registry.current()
            except Exception as exc:  # a store outage: keep serving, try again next time
                log.warning("could not read the current model pointer: %s", exc)
                if self._model is None:
                    self._model = self._fallback()
                    return True
                return False
            if pointer is None:
                if self._model is None or self._model.version is not None:
                    # None at first start, or the served model was withdrawn (a person erased): forget it.
                    self._model = self._fallback()
                    self._clear_cache()
                    return True
                return False
            served = (self._model.version, getattr(self._model, "sha256", None)) if self._model else None
            if (pointer.version, pointer.sha256) == served:
                if self.error is not None:  # the pointer is back on what we serve: nothing is wrong any more
                    self.error = None
                    self._heartbeat()
                return False
            if pointer.sha256 == self._refused and time.monotonic() - self._refused_at < RETRY_REFUSED_SECONDS:
                return False
            try:
                loaded = self._load(pointer)
            except reg.ModelCorrupt as exc:
                self._refused, self._refused_at = pointer.sha256, time.monotonic()
                metrics.MODELS_REFUSED.inc()
                keep = self._model.version if self._model is not None and self._model.version else "descriptors only"
                self.error = f"refused model {pointer.version}: {exc}; still serving {keep}"
                log.error("%s", self.error)
                if self._model is None:
                    self._model = self._fallback()
                self._heartbeat()
                return False
            except Exception as exc:  # the store failed mid-download: not the model's fault, retry later
                log.warning("could not fetch model %s yet: %s", pointer.version, exc)
                if self._model is None:
                    self._model = self._fallback()
                return False
            previous = self._model.version if self._model is not None else None
            self._model = loaded  # the swap: tasks that started before keep their reference
            metrics.MODEL_RELOADS.inc()
            self._prune_cache()
            self.error = None
            self._refused = None
            log.info("now serving model %s (sha256 %s..., %d people, threshold %.3f; was %s)", loaded.version,
                     loaded.sha256[:12], len(loaded.label_ids), loaded.threshold, previous or "descriptors only")
        self._heartbeat()
        return True

    def fresh(self, max_age: float = 1.0) -> IdentityModel:
        """The current model, after a look at the pointer if the last look is older than ``max_age``
        seconds: a task that starts after a publish never uses the model before it."""
        if time.monotonic() - self._checked_at > max_age:
            self.check()
        return self.current()

    def ensure(self, version: str) -> None:
        """Make sure a just-published version is considered now, not at the next periodic check."""
        if self.version != version:
            self.check()

    def _load(self, pointer: reg.CurrentPointer) -> PublishedModel:
        manifest = self.registry.manifest(pointer.version)
        if manifest.sha256 != pointer.sha256:
            raise reg.ModelCorrupt(f"the current pointer names sha256 {pointer.sha256[:12]}..., but the manifest of "
                                   f"{pointer.version} says {manifest.sha256[:12]}...")
        data = self._cached(manifest.sha256)
        if data is None:
            data = self.registry.model_bytes(manifest.version, manifest.sha256)  # verifies the hash
            try:
                atomic_write(self.cache_dir / f"{manifest.sha256}.onnx", data)
            except OSError as exc:
                log.warning("could not cache model %s locally: %s", manifest.version, exc)
        return PublishedModel(manifest, data, self.settings)

    def _cached(self, sha256: str) -> bytes | None:
        path = self.cache_dir / f"{sha256}.onnx"
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if reg.sha256_bytes(data) != sha256:
            log.warning("cached model %s is damaged; fetching it again", path)
            path.unlink(missing_ok=True)
            return None
        return data

    def _clear_cache(self) -> None:
        for old in self.cache_dir.glob("*.onnx"):
            old.unlink(missing_ok=True)

    def _prune_cache(self) -> None:
        """Keep the newest few files, and none of a version withdrawn from the registry (an erasure)."""
        try:
            stored: set[str] | None = {manifest.sha256 for manifest in self.registry.manifests()}
        except Exception as exc:  # a store outage: prune by age only, and by withdrawal next time
            log.warning("could not list the stored models to prune the local cache: %s", exc)
            stored = None
        try:  # other workers on this machine share the folder and may prune it at the same moment
            files = sorted(self.cache_dir.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
            for n, old in enumerate(files):
                if n >= CACHE_KEEP or (stored is not None and old.stem not in stored):
                    old.unlink(missing_ok=True)
        except OSError as exc:
            log.warning("could not prune the local model cache: %s", exc)

    # background: periodic check, announcements, heartbeats ---------------------------------------------

    def start(self) -> None:
        self._spawn("model-check", self._check_loop)
        self._spawn("heartbeat", self._beat_loop)
        if not self.settings.embedded_broker and self.settings.broker_url.startswith(("redis://", "rediss://")):
            self._spawn("model-events", self._listen)

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()

    def _spawn(self, name: str, target: Callable[[], None]) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _check_loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.settings.model_check_interval)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.check()
            except Exception:
                log.exception("model check failed")

    def _beat_loop(self) -> None:
        while True:  # the first beat at start, so /healthz lists a worker as soon as it serves
            self._heartbeat()
            if self._stop.wait(HEARTBEAT_SECONDS):
                return

    def _heartbeat(self) -> None:
        model = self._model
        self.beat.model_version = model.version if model is not None else None
        self.beat.model_sha256 = getattr(model, "sha256", None)
        self.beat.provider = getattr(model, "provider", None)
        self.beat.model_error = self.error
        try:
            reg.write_beat(self.blobs, self.beat)
        except Exception as exc:
            log.warning("could not write the heartbeat: %s", exc)

    def _listen(self) -> None:
        import redis

        while not self._stop.is_set():
            try:
                client = redis.Redis.from_url(self.settings.broker_url, socket_connect_timeout=5,
                                              health_check_interval=30)
                pubsub = client.pubsub(ignore_subscribe_messages=True)
                pubsub.subscribe(reg.EVENT_CHANNEL)
                log.info("listening for new models on %s", reg.EVENT_CHANNEL)
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        try:
                            announced = json.loads(message["data"]).get("version")
                        except (ValueError, AttributeError):
                            announced = None
                        log.info("model %s announced; checking now", announced)
                        self._wake.set()
            except Exception as exc:
                log.warning("model announcements unavailable (%s); periodic checks go on", exc)
                self._stop.wait(5.0)


def cache_path(settings: Settings) -> Path:
    return settings.model_cache / "published"
