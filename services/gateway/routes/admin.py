"""Admin API: datasets, training, the model registry and the workers. Every endpoint needs an admin key."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel, Field

from services.core import registry as reg
from services.core.domain import Job
from services.core.errors import Conflict, NotFound
from services.core.library_network import configured
from services.core.queue import COLLECT_DATASET, REDETECT_LIBRARY, RETAG_FACES, SWITCH_NETWORK, TRAIN_MODEL, send
from services.gateway.deps import CeleryDep, SettingsDep, StoresDep
from services.gateway.disposition import content_disposition
from services.gateway.inputs import Instant, Integer, ModelVersion, StrictBody
from services.gateway.job_start import start_job
from services.gateway.responses import ZIP, errors
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[allow(Policy.admin)])


LabelSourceName = Literal["person", "model"]


def _person_only() -> list[LabelSourceName]:
    return ["person"]


class DatasetIn(StrictBody):
    since: Instant | None = Field(None, description="Only faces labelled at or after this time; null: all.")
    label_sources: list[LabelSourceName] = Field(
        default_factory=_person_only, min_length=1,
        description="Whose labels to include: person (default) and/or model.")


class TrainIn(StrictBody):
    force: bool = Field(False, description="Publish even if the new model is worse than the current one on the "
                                           "same held-out faces, or train although nothing changed.")
    threshold: float | None = Field(None, gt=0.0, le=2.0, description="Use this distance threshold instead of "
                                                                      "calibrating one (experts only).")
    holdout_percent: Integer = Field(20, ge=5, le=50, description="Share of faces held out for calibration and "
                                                              "comparison (chosen by face id, stable).")
    max_exemplars: Integer = Field(128, ge=1, le=2000, description="At most this many faces per person in the model.")


class ModelOut(reg.ModelManifest):
    current: bool = False
    model_url: str = ""


class ModelList(BaseModel):
    current: reg.CurrentPointer | None
    items: list[ModelOut] = Field(description="Every stored version, newest first.")
    configured_network: str = Field(description="The descriptor network the settings ask for (FACETAG_DESCRIPTOR).")
    library_network: str = Field(description="The network the library runs on now: the current model's.")
    switch_needed: bool = Field(description="True when they differ: POST /v1/admin/switch-network moves the library.")


class CurrentIn(StrictBody):
    version: ModelVersion = Field(description="The version to serve, e.g. v3 (rollback or forcing a kept version).",
                         examples=["v1"])
    reason: str = Field("", max_length=500, description="Recorded with the pointer.")


class WorkersOut(BaseModel):
    items: list[reg.WorkerBeat]


_AUDITED_AS = {"dataset": "dataset.collect", "train": "model.train", "switch_network": "model.switch_network",
               "redetect": "library.redetect"}


async def _start_job(request: Request, stores: StoresDep, celery: CeleryDep, response: Response, kind: str,
                     task: str, params: dict[str, object]) -> Job:
    job = await start_job(stores, celery, kind, task, params)
    response.headers["Location"] = f"/v1/jobs/{job.id}"
    await audit(request, _AUDITED_AS[kind], "job", job.id, after=params)
    return job


@router.post("/datasets", status_code=202, response_model=Job,
             summary="Collect labelled face chips into a zip with a manifest (a background job)",
             description="Follow the job at /v1/jobs/{id}; when done its result has the download_url.")
async def collect_dataset(request: Request, body: DatasetIn, response: Response, stores: StoresDep,
                          celery: CeleryDep) -> Job:
    params: dict[str, object] = {"since": body.since.isoformat() if body.since else None,
                                 "label_sources": list(body.label_sources)}
    return await _start_job(request, stores, celery, response, "dataset", COLLECT_DATASET, params)


@router.get("/datasets/{job_id}/download", response_class=Response, responses={200: ZIP, **errors(409)},
            summary="The zip of a finished dataset job")
async def download_dataset(job_id: str, stores: StoresDep) -> Response:
    job = await stores.catalog.get_job(job_id)
    if job is None or job.kind != "dataset":
        raise NotFound(f"No dataset job with id {job_id!r}.")
    key = job.result.get("zip_key")
    if job.state.value != "done" or not key:
        raise Conflict(f"Dataset job {job_id} is {job.state.value} ({job.message or 'waiting'}); "
                       "download it once GET /v1/jobs/{id} says done.")
    data = await asyncio.to_thread(stores.blobs.get, str(key))
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": content_disposition("attachment", f"facetag-dataset-{job_id}.zip")})


@router.post("/train", status_code=202, response_model=Job,
             summary="Train a model on every person-labelled face and publish it if it is not worse")
async def train(request: Request, response: Response, stores: StoresDep, celery: CeleryDep,
                body: TrainIn | None = None) -> Job:
    body = body or TrainIn()
    params: dict[str, object] = {**body.model_dump(), "trigger": "api"}
    return await _start_job(request, stores, celery, response, "train", TRAIN_MODEL, params)


@router.post("/switch-network", status_code=202, response_model=Job,
             summary="Move the library to the configured descriptor network (FACETAG_DESCRIPTOR) as one job",
             description="Every face is cut and described again for the new network, a model is trained on the "
                         "new descriptors and published; the current model serves until then. Labels people gave "
                         "are kept. Follow the job at /v1/jobs/{id}.")
async def switch_network(request: Request, response: Response, stores: StoresDep, celery: CeleryDep,
                         settings: SettingsDep) -> Job:
    params: dict[str, object] = {"network": configured(settings).label}
    return await _start_job(request, stores, celery, response, "switch_network", SWITCH_NETWORK, params)


@router.post("/redetect", status_code=202, response_model=Job,
             summary="Run the configured detector over every photo again (after the detector changed)",
             description="Faces a person named or drew are kept with their names; a new detection overlapping "
                         "one is that face again. Faces nobody touched are replaced. Follow the job at "
                         "/v1/jobs/{id}.")
async def redetect_library(request: Request, response: Response, stores: StoresDep, celery: CeleryDep,
                           settings: SettingsDep) -> Job:
    params: dict[str, object] = {"detector": settings.detector}
    return await _start_job(request, stores, celery, response, "redetect", REDETECT_LIBRARY, params)


@router.get("/models", response_model=ModelList, summary="Every model version and which one is current")
async def list_models(stores: StoresDep, settings: SettingsDep) -> ModelList:
    registry = reg.Registry(stores.blobs)
    current = await asyncio.to_thread(registry.current)
    manifests = await asyncio.to_thread(registry.manifests)
    items = [ModelOut(**m.model_dump(), current=current is not None and current.version == m.version,
                      model_url=f"/v1/admin/models/{m.version}")
             for m in reversed(manifests)]
    serving = next((m.descriptor for m in manifests if current is not None and m.version == current.version), None)
    wanted = configured(settings).label
    return ModelList(current=current, items=items, configured_network=wanted,
                     library_network=serving or wanted, switch_needed=serving is not None and serving != wanted)


@router.get("/models/current", response_model=reg.CurrentPointer, responses=errors(404),
            summary="The version being served",
            description="404 while no model is published yet: classifiers then give descriptors only.")
async def get_current(stores: StoresDep) -> reg.CurrentPointer:
    current = await asyncio.to_thread(reg.Registry(stores.blobs).current)
    if current is None:
        raise NotFound("No model is being served yet; train one with POST /v1/admin/train.")
    return current


@router.get("/models/{version}", response_model=ModelOut, summary="One model version's manifest")
async def get_model(version: Annotated[ModelVersion, Path(description="e.g. v3")], stores: StoresDep) -> ModelOut:
    registry = reg.Registry(stores.blobs)
    manifest = await asyncio.to_thread(registry.manifest, version)
    current = await asyncio.to_thread(registry.current)
    return ModelOut(**manifest.model_dump(), current=current is not None and current.version == version,
                    model_url=f"/v1/admin/models/{version}")


@router.put("/models/current", response_model=reg.CurrentPointer, responses=errors(404, 409),
            summary="Serve another stored version (rollback); the file is verified first",
            description="Classifier workers switch within seconds; faces a model labelled are tagged again.")
async def set_current(body: CurrentIn, request: Request, stores: StoresDep, settings: SettingsDep,
                      celery: CeleryDep) -> reg.CurrentPointer:
    registry = reg.Registry(stores.blobs)
    reason = body.reason or "set by an admin"
    before = await asyncio.to_thread(registry.current)
    try:
        pointer = await asyncio.to_thread(registry.set_current, body.version, reason)
    except reg.ModelCorrupt as exc:
        raise Conflict(f"Model {body.version} cannot be served: {exc}. Pick another version.") from exc
    await audit(request, "model.publish", "model", body.version, before={"version": before.version if before else None},
                after={"version": body.version, "reason": reason})
    await asyncio.to_thread(reg.announce, settings, body.version)
    try:
        await asyncio.to_thread(send, celery, RETAG_FACES, body.version)
    except Exception as exc:
        log.warning("could not queue re-tagging for %s: %s", body.version, exc)
    log.info("current model set to %s by an admin (%s)", body.version, reason)
    return pointer


@router.get("/workers", response_model=WorkersOut, summary="Classifier workers heard from lately, and their model")
async def workers(stores: StoresDep) -> WorkersOut:
    return WorkersOut(items=await asyncio.to_thread(reg.read_beats, stores.blobs))
