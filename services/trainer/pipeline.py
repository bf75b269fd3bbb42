"""The trainer: labelled descriptors -> fit -> ONNX -> compare with the current model -> publish.

The order of writes is what keeps classifiers safe: a version's model file, then its manifest, and
only then (if it is not worse, or if forced) the current pointer. A crash anywhere before the pointer
leaves the current model untouched.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from celery import Celery
from numpy.typing import NDArray

from services.core import blob_layout
from services.core import registry as reg
from services.core.access.model import AuditEntry
from services.core.catalog import FaceQuery
from services.core.domain import Job, JobState, new_id, utcnow
from services.core.errors import FacetagError, InvalidInput, NotFound
from services.core.events import Event, EventKind
from services.core.faces.analyzer import Descriptors
from services.core.faces.detectors import detector_label
from services.core.faces.networks import DescriptorNetwork
from services.core.faces.onnx_head import merge_head
from services.core.faces.onnx_session import OnnxModel
from services.core.faces.quantize import prepare_serving_backbone
from services.core.image_codec import decode_png
from services.core.learning import PREVIEW_KIND, preview_job_id
from services.core.library_network import NetworkChoice, configured, parse_label
from services.core.queue import RETAG_FACES, send
from services.core.wording import count
from services.core.worker_runtime import WorkerContext
from services.trainer import dataset
from services.trainer import preview as model_preview
from services.trainer.fit import FitParams, FitResult, LabelledSet, evaluate_distances, fit, person_distances
from services.trainer.switch import SWITCH_JOB, NetworkSwitch

log = logging.getLogger(__name__)
TRAIN_JOB = "train"
DATASET_JOB = "dataset"
TOLERANCE = 1e-9  # "not worse": equal accuracy on the same held-out faces is enough


class NothingToLearn(FacetagError):
    """Too few labelled faces; the message says what to do."""


@dataclass
class TrainRequest:
    force: bool = False
    threshold: float | None = None
    holdout_percent: int = 20
    max_exemplars: int = 128
    trigger: str = "api"
    network: NetworkChoice | None = None  # set by the network switch; else the library's network
    publish: str = "auto"  # "auto": publish when not worse; "review": keep it as a candidate to preview

    @classmethod
    def from_params(cls, params: dict[str, Any] | None) -> TrainRequest:
        params = params or {}
        known = {k: params[k] for k in ("force", "threshold", "holdout_percent", "max_exemplars", "trigger",
                                        "publish")
                 if k in params and params[k] is not None}
        network = parse_label(params["network"]) if params.get("network") else None
        return cls(**known, network=network)

    def fit_params(self, net: DescriptorNetwork, target_rejection: float) -> FitParams:
        return FitParams(holdout_percent=self.holdout_percent, max_exemplars=self.max_exemplars,
                         threshold=self.threshold, threshold_range=net.threshold_range,
                         default_threshold=net.default_threshold, target_rejection=target_rejection)


class Trainer:
    def __init__(self, ctx: WorkerContext, celery: Celery) -> None:
        self.ctx = ctx
        self.celery = celery
        self.registry = reg.Registry(ctx.stores.blobs)
        self._descriptors: dict[str, Descriptors] = {}

    def descriptors(self, choice: NetworkChoice) -> Descriptors:
        found = self._descriptors.get(choice.label)
        if found is None:
            found = self._descriptors[choice.label] = Descriptors(self.ctx.settings, choice.network, choice.flip)
        return found

    async def _job(self, job_id: str | None, kind: str, params: dict[str, Any]) -> Job:
        catalog = self.ctx.stores.catalog
        if job_id is not None:
            job = await catalog.get_job(job_id)
            if job is not None:
                return job
        return await catalog.create_job(Job(id=job_id or new_id(), kind=kind, params=params))

    async def _progress(self, job_id: str, progress: float, message: str) -> None:
        await self.ctx.update_job(job_id, state=JobState.running, progress=round(progress, 3),
                                  message=message)

    # Training ------------------------------------------------------------------------------------

    async def train(self, job_id: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
        job = await self._job(job_id, TRAIN_JOB, params or {})
        if job.state in (JobState.done, JobState.failed):
            log.info("training job %s is already %s", job.id, job.state.value)
            return job.result
        request = TrainRequest.from_params(params or job.params)
        started = utcnow()
        # Labels are read after this moment: labels given since are "new" for the learning loop (core/learning).
        read_at: dict[str, object] = {"labels_read_at": started.isoformat()}
        try:
            result = await self._train(job.id, request, started)
        except (NothingToLearn, InvalidInput) as exc:
            await self.ctx.update_job(job.id, state=JobState.failed, progress=1.0, message=str(exc),
                                      result=read_at)
            log.warning("training job %s: %s", job.id, exc)
            return {}
        result.update(read_at, seconds=round((utcnow() - started).total_seconds(), 2))
        if request.publish == "review" and result.get("version") and not result.get("promoted"):
            # Held back: compare it with the current model now, so the Model page has the preview at once.
            await self._progress(job.id, 0.9, f"comparing {result['version']} with the current model")
            result["preview_job"] = preview_job_id(result["version"], result.get("current_version"))
            await self.preview(result["preview_job"], {"version": result["version"],
                                                       "against": result.get("current_version")})
        await self.ctx.update_job(job.id, state=JobState.done, progress=1.0,
                                  message=result["message"], result=result)
        log.info("training job %s: %s (%.1fs)", job.id, result["message"], result["seconds"])
        return result

    async def _train(self, job_id: str, request: TrainRequest, started: datetime) -> dict[str, Any]:
        settings = self.ctx.settings
        await self._progress(job_id, 0.02, "checking the descriptor network")
        pointer = await asyncio.to_thread(self.registry.current)
        parent = await asyncio.to_thread(self.registry.manifest, pointer.version) if pointer else None
        choice = request.network or (parse_label(parent.descriptor) if parent is not None else configured(settings))
        backbone = await asyncio.to_thread(prepare_serving_backbone, choice.network, choice.flip,
                                           settings.descriptor_precision, settings.model_cache)

        if parent is not None and parent.descriptor == choice.label and parent.backbone_sha256 != backbone.sha256:
            await self._progress(job_id, 0.05, "the descriptor network changed: describing labelled faces again")
            await self._recompute_descriptors(choice)

        await self._progress(job_id, 0.1, "reading labelled faces")
        training = await dataset.load_training_data(self.ctx.stores.catalog, choice.label, settings.min_face_quality)
        data = training.data
        n_known = int((data.person >= 0).sum())
        if n_known < 2:
            waiting = training.without_descriptor
            hint = (f" ({count(waiting, 'labelled face is', 'labelled faces are')} still being processed; try "
                    "again in a moment)" if waiting else "")
            raise NothingToLearn(f"Training needs at least 2 faces named by a person; there are {n_known}{hint}. "
                                 "Name faces with PATCH /v1/faces/{id} or run 'facetag import DIR'.")
        fit_params = request.fit_params(choice.network, settings.unknown_rejection)
        fingerprint = f"{training.fingerprint[:24]}-{backbone.sha256[:12]}"
        same_input = (parent is not None and parent.dataset.get("fingerprint") == fingerprint
                      and parent.params == fit_params.as_dict())
        if same_input and not request.force:
            assert parent is not None
            return {"message": f"nothing new to learn since {parent.version}: the same labelled faces and "
                               "settings; send force: true to train anyway",
                    "version": None, "promoted": False, "current_version": parent.version}

        people = count(len(data.people), "person", "people")
        await self._progress(job_id, 0.3, f"fitting on {count(n_known, 'face')} of {people}")
        result = await asyncio.to_thread(fit, data, fit_params)

        await self._progress(job_id, 0.5, "building the ONNX model")
        model_bytes = await asyncio.to_thread(self._build_onnx, settings.model_cache / backbone.file, result)
        version = await asyncio.to_thread(self.registry.next_version)
        label_ids = data.people

        await self._progress(job_id, 0.6, "evaluating on held-out faces")
        held = result.held_out
        truth: list[str | None] = [data.people[p] if p >= 0 else None for p in data.person[held].tolist()]
        # Candidate and current model are compared on the same held-out faces against the same exemplars
        # (the training faces'): the published gallery holds the held-out faces too, so it cannot judge.
        held_dist = await asyncio.to_thread(person_distances, data.descriptors[held], result.gallery,
                                            result.gallery_mask)
        candidate = evaluate_distances(held_dist, data.person[held], result.threshold, data.people)
        evaluation: dict[str, Any] = {"held_out_faces": len(truth), "candidate_accuracy": candidate["accuracy"]}
        promote, reason = True, "first model"
        if parent is not None and parent.descriptor != choice.label:
            promote, reason = True, f"the library moves from {parent.descriptor} to {choice.label}"
        elif parent is not None:
            current_acc = await self._score_current(parent, data, held, truth, backbone.sha256, held_dist)
            evaluation.update(current_version=parent.version, current_accuracy=current_acc)
            if current_acc is None:
                promote, reason = True, f"{parent.version} could not be evaluated; the new model replaces it"
            elif not truth:
                promote, reason = True, "no held-out faces to compare on"
            elif (candidate["accuracy"] or 0.0) + TOLERANCE >= current_acc:
                promote, reason = True, (f"not worse than {parent.version} on the same {len(truth)} held-out faces "
                                         f"({candidate['accuracy']:.3f} vs {current_acc:.3f})")
            else:
                promote, reason = False, (f"worse than {parent.version} on the same {len(truth)} held-out faces "
                                          f"({candidate['accuracy']:.3f} vs {current_acc:.3f})")
        if not promote and request.force:
            promote, reason = True, f"forced, although {reason}"
        if request.publish == "review":
            evaluation["held_for_review"] = True
            promote, reason = False, f"held for review ({reason})"
        evaluation.update(promoted=promote, reason=reason)

        per_person = {training.names[pid]: {**values, "person_id": pid}
                      for pid, values in candidate["per_person"].items()}
        metrics = {**result.metrics, **{k: candidate[k] for k in ("accuracy", "known_accuracy")},
                   "per_person": per_person, "threshold_calibrated": result.calibrated, "notes": result.notes}
        dataset_id = f"train-{version}"
        await asyncio.to_thread(self._snapshot, dataset_id, data, held)
        manifest = reg.ModelManifest(
            version=version,
            labels=[reg.ModelLabel(id=pid, name=training.names[pid], faces=int((data.person == i).sum()))
                    for i, pid in enumerate(label_ids)],
            threshold=result.threshold,
            metrics=metrics,
            dataset={"id": dataset_id, "fingerprint": fingerprint, "faces": len(data.face_ids),
                     "known_faces": n_known, "marked_unknown_faces": int((data.person < 0).sum()),
                     "people": len(label_ids), "held_out_faces": int(held.sum()),
                     "awaiting_descriptor": training.without_descriptor,
                     "labels_read_at": started.isoformat(),
                     "snapshot": f"datasets/{dataset_id}/snapshot.npz"},
            params=fit_params.as_dict(),
            evaluation=evaluation,
            backbone_sha256=backbone.sha256,
            descriptor=choice.label,
            chip_size=choice.network.chip_size,
            dimension=choice.network.dimension,
            detector=detector_label(settings.detector, settings.detect_recheck),
            parent_version=parent.version if parent else None,
            sha256=reg.sha256_bytes(model_bytes),
            size_bytes=len(model_bytes),
        )
        await self._progress(job_id, 0.8, f"storing {version}")
        await asyncio.to_thread(self.registry.write_version, manifest, model_bytes)
        if promote:
            await self.publish(version, reason)
            message = f"published {version}: {reason}"
        else:
            message = f"trained {version} but kept {parent.version if parent else '-'}: {reason}"
        return {"message": message, "version": version, "promoted": promote, "reason": reason,
                "threshold": result.threshold, "metrics": metrics, "evaluation": evaluation,
                "current_version": version if promote else (parent.version if parent else None)}

    async def publish(self, version: str, reason: str) -> None:
        """Move the pointer (verifying the stored file), tell the workers, re-tag model-labelled faces."""
        before = await asyncio.to_thread(self.registry.current)
        await asyncio.to_thread(self.registry.set_current, version, reason)
        await self.ctx.stores.access.add_audit(AuditEntry(
            actor="trainer", action="model.publish", target_kind="model", target_id=version,
            before={"version": before.version if before else None}, after={"version": version, "reason": reason}))
        await asyncio.to_thread(reg.announce, self.ctx.settings, version)
        self.ctx.events.publish(Event(kind=EventKind.model_published, model_version=reg.version_number(version),
                                      data={"version": version, "reason": reason}))
        try:
            await asyncio.to_thread(send, self.celery, RETAG_FACES, version)
        except Exception as exc:
            log.warning("could not queue re-tagging for %s: %s", version, exc)

    def _build_onnx(self, backbone_path: Any, result: FitResult) -> bytes:
        model = merge_head(onnx.load(str(backbone_path)), result.published_gallery, result.published_mask)
        data = model.SerializeToString()
        ort.InferenceSession(data, providers=["CPUExecutionProvider"])  # loads, or fails here, not in a worker
        return data

    def _snapshot(self, dataset_id: str, data: LabelledSet, held: NDArray[np.bool_]) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, face_ids=np.array(data.face_ids), descriptors=data.descriptors,
                            person=data.person, people=np.array(data.people), held_out=held)
        self.ctx.stores.blobs.put(f"datasets/{dataset_id}/snapshot.npz", buffer.getvalue())

    async def _score_current(self, parent: reg.ModelManifest, data: LabelledSet, held: NDArray[np.bool_],
                             truth: list[str | None], backbone_sha: str, held_dist: NDArray[np.float32]
                             ) -> float | None:
        """The current model's open-set accuracy on the candidate's held-out faces.

        On the same network the current model's decision (its threshold) is applied to the same distances
        as the candidate's, so neither gains from having seen those faces; on another network its own
        graph runs on the chips.
        """
        if not truth:
            return None
        if parent.backbone_sha256 == backbone_sha:
            # Only the people the current model knows: it cannot name someone named since (otherwise a model
            # that learnt new people was measured against one credited with knowing them too, and kept out).
            known = {label.id for label in parent.labels}
            columns = np.array([pid in known for pid in data.people], dtype=bool)
            parent_dist = np.where(columns[None, :], held_dist, np.inf).astype(np.float32)
            current = evaluate_distances(parent_dist, data.person[held], parent.threshold, data.people)
            return current["accuracy"]
        try:
            model_bytes = await asyncio.to_thread(self.registry.model_bytes, parent.version, parent.sha256)
            label_ids = [label.id for label in parent.labels]
            held_ids = [f for f, h in zip(data.face_ids, held, strict=True) if h]
            predicted = await self._predict_on_chips(model_bytes, held_ids, parent.threshold, label_ids)
        except (reg.ModelCorrupt, NotFound, ValueError) as exc:
            log.warning("could not evaluate the current model %s: %s", parent.version, exc)
            return None
        correct = sum(p == t for p, t in zip(predicted, truth, strict=True))
        return round(correct / len(truth), 4)

    async def _predict_on_chips(self, model_bytes: bytes, face_ids: list[str], threshold: float,
                                label_ids: list[str]) -> list[str | None]:
        # The process's share of the cores, without spinning: a training shares them with serve's workers.
        session = OnnxModel(model_bytes, "cpu", self.ctx.settings.onnx_threads).session
        chips = [await self._chip(fid) for fid in face_ids]
        index, distance = session.run([reg.OUT_BEST_INDEX, reg.OUT_BEST_DISTANCE], {"chips": np.stack(chips)})
        people, _ = reg.decide(index, distance, threshold, label_ids)
        return people

    async def _chip(self, face_id: str) -> NDArray[np.uint8]:
        face = await self.ctx.stores.catalog.get_face(face_id)
        if face is None or face.chip_key is None:
            raise NotFound(f"face {face_id} has no chip")
        return decode_png(await asyncio.to_thread(self.ctx.stores.blobs.get, face.chip_key))

    async def _recompute_descriptors(self, choice: NetworkChoice) -> None:
        catalog = self.ctx.stores.catalog
        faces = [f async for f in dataset.iter_faces(catalog, FaceQuery(label_source="person"))]
        for start in range(0, len(faces), 64):
            batch = [f for f in faces[start : start + 64] if f.chip_key]
            if not batch:
                continue
            chips = np.stack([await self._chip(f.id) for f in batch])
            vectors = await asyncio.to_thread(self.descriptors(choice).compute, chips)
            for face, vector in zip(batch, vectors, strict=True):
                assert face.chip_key is not None
                await catalog.set_face_analysis(face.id, vector.tolist(), face.chip_key, choice.label)
        log.info("described %d labelled faces with the new descriptor network", len(faces))

    # Previewing a candidate ------------------------------------------------------------------------

    async def preview(self, job_id: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
        """Compare a stored version with the current model (services/trainer/preview.py) as a job."""
        params = params or {}
        version = str(params.get("version") or "")
        if job_id is None:
            pointer = await asyncio.to_thread(self.registry.current)
            job_id = preview_job_id(version, pointer.version if pointer else None)
        job = await self._job(job_id, PREVIEW_KIND, params)
        if job.state in (JobState.done, JobState.failed):
            return job.result
        try:
            result = await model_preview.compute(self.ctx.stores.catalog, self.ctx.stores.blobs, version,
                                                 lambda p, m: self._progress(job.id, p, m))
        except (NotFound, InvalidInput, reg.ModelCorrupt) as exc:
            await self.ctx.update_job(job.id, state=JobState.failed, progress=1.0, message=str(exc))
            log.warning("preview job %s: %s", job.id, exc)
            return {}
        await self.ctx.update_job(job.id, state=JobState.done, progress=1.0,
                                  message=result["message"], result=result)
        log.info("preview job %s: %s", job.id, result["message"])
        return result

    # Switching the descriptor network ---------------------------------------------------------------

    async def switch_network(self, job_id: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
        job = await self._job(job_id, SWITCH_JOB, params or {})
        if job.state in (JobState.done, JobState.failed):
            return job.result

        async def train(choice: NetworkChoice) -> dict[str, Any]:
            return await self.train(f"{job.id}-train", {"force": True, "trigger": "network switch",
                                                        "network": choice.label})

        def retag(version: str) -> None:
            send(self.celery, RETAG_FACES, version)

        switch = NetworkSwitch(self.ctx, train, retag)
        result = await switch.run(lambda p, m: self._progress(job.id, p, m))
        await self.ctx.update_job(job.id, state=JobState.done, progress=1.0, message=result["message"],
                                  result=result)
        log.info("network switch job %s: %s", job.id, result["message"])
        return result

    # Datasets ------------------------------------------------------------------------------------

    async def collect(self, job_id: str | None, params: dict[str, Any] | None) -> dict[str, Any]:
        job = await self._job(job_id, DATASET_JOB, params or {})
        if job.state in (JobState.done, JobState.failed):
            return job.result
        params = params or job.params
        since = datetime.fromisoformat(params["since"]) if params.get("since") else None
        sources = list(params.get("label_sources") or ["person"])
        await self._progress(job.id, 0.05, "listing labelled faces")
        blobs = self.ctx.stores.blobs
        data, summary = await dataset.build_dataset_zip(
            self.ctx.stores.catalog, blobs.get, since, sources,
            lambda p, m: self._progress(job.id, p, m))
        await asyncio.to_thread(blobs.put, blob_layout.dataset_zip(job.id), data, "application/zip")
        summary.update(dataset_id=job.id, zip_key=blob_layout.dataset_zip(job.id), size_bytes=len(data),
                       download_url=f"/v1/admin/datasets/{job.id}/download")
        await asyncio.to_thread(blobs.put, blob_layout.dataset_manifest(job.id), _json(summary), "application/json")
        faces, people = int(summary["faces"]), int(summary["people"])  # type: ignore[call-overload]
        message = f"{count(faces, 'labelled chip')} of {count(people, 'person', 'people')} collected"
        await self.ctx.update_job(job.id, state=JobState.done, progress=1.0, message=message,
                                  result=summary)
        log.info("dataset job %s: %s", job.id, message)
        return summary


def _json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, indent=2, default=str).encode()
