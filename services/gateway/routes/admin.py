"""Admin API: datasets, training, the model registry and the workers. Every endpoint needs an admin key."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, Field

from services.core import learning
from services.core import registry as reg
from services.core.domain import Job, JobState, new_id
from services.core.errors import Conflict, NotFound
from services.core.events import Event, EventKind
from services.core.library_network import configured
from services.core.queue import (
    COLLECT_DATASET,
    REDETECT_LIBRARY,
    RETAG_FACES,
    SWITCH_NETWORK,
    TRAIN_MODEL,
    TRAIN_QUEUE,
    send,
)
from services.gateway.deps import CeleryDep, SettingsDep, StoresDep
from services.gateway.disposition import content_disposition
from services.gateway.inputs import Instant, Integer, ModelVersion, StrictBody
from services.gateway.job_start import start_job
from services.gateway.live_events import publish
from services.gateway.paging import Cursor, Paged, rank_page
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
    publish: Literal["auto", "review"] = Field(
        "auto", description="auto: publish when not worse (as auto-training does); review: keep the new version "
                            "as a candidate to preview (GET /v1/admin/models/{version}/preview), then publish or "
                            "discard it.")


class ModelOut(reg.ModelManifest):
    current: bool = False
    model_url: str = ""


class ModelList(Paged):
    current: reg.CurrentPointer | None
    items: list[ModelOut] = Field(description="Stored versions, newest first: a page of them.")
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


def _read_manifest(registry: reg.Registry, version: str) -> reg.ModelManifest | None:
    try:
        return registry.manifest(version)
    except (reg.ModelCorrupt, NotFound) as exc:  # withdrawn meanwhile, or unreadable: listed as before, skipped
        log.warning("skipping model %s: %s", version, exc)
        return None


def _models_page(registry: reg.Registry, cursor: str | None, limit: int
                 ) -> tuple[reg.CurrentPointer | None, list[reg.ModelManifest], str | None, str | None]:
    """The current pointer, a page of manifests newest first, the cursor after it, and the serving network.

    The registry is a folder in the blob store with nothing to seek in, so the page is cut from the listing of
    version names held in memory (a few bytes a version, however many retrains made); only the page's manifests
    are read."""
    current = registry.current()
    shown, next_cursor = rank_page(registry.versions()[::-1], cursor, limit, str)
    manifests = [m for version in shown if (m := _read_manifest(registry, version)) is not None]
    serving = None
    if current is not None:
        found = next((m for m in manifests if m.version == current.version), None)
        serving = found or _read_manifest(registry, current.version)
    return current, manifests, next_cursor, None if serving is None else serving.descriptor


@router.get("/models", response_model=ModelList, summary="Every model version and which one is current")
async def list_models(stores: StoresDep, settings: SettingsDep, cursor: Cursor = None,
                      limit: Annotated[int, Query(ge=1, le=200)] = 50) -> ModelList:
    current, manifests, next_cursor, serving = await asyncio.to_thread(
        _models_page, reg.Registry(stores.blobs), cursor, limit)
    items = [ModelOut(**m.model_dump(), current=current is not None and current.version == m.version,
                      model_url=f"/v1/admin/models/{m.version}")
             for m in manifests]
    wanted = configured(settings).label
    return ModelList(current=current, items=items, next_cursor=next_cursor, configured_network=wanted,
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
    return await _serve(request, stores, settings, celery, body.version, body.reason or "set by an admin")


async def _serve(request: Request, stores: StoresDep, settings: SettingsDep, celery: CeleryDep, version: str,
                 reason: str) -> reg.CurrentPointer:
    registry = reg.Registry(stores.blobs)
    before = await asyncio.to_thread(registry.current)
    try:
        pointer = await asyncio.to_thread(registry.set_current, version, reason)
    except reg.ModelCorrupt as exc:
        raise Conflict(f"Model {version} cannot be served: {exc}. Pick another version.") from exc
    await audit(request, "model.publish", "model", version, before={"version": before.version if before else None},
                after={"version": version, "reason": reason})
    await asyncio.to_thread(reg.announce, settings, version)
    publish(request, Event(kind=EventKind.model_published, model_version=reg.version_number(version),
                           data={"version": version, "reason": reason}))
    try:
        await asyncio.to_thread(send, celery, RETAG_FACES, version)
    except Exception as exc:
        log.warning("could not queue re-tagging for %s: %s", version, exc)
    log.info("current model set to %s by an admin (%s)", version, reason)
    return pointer


# Candidates: preview, publish, discard (issue 12, item 9) ------------------------------------------------

VersionPath = Annotated[ModelVersion, Path(description="e.g. v3")]


class PersonRef(BaseModel):
    id: str
    name: str = Field(description="Today's name; '(deleted person)' for one deleted since.")


class PreviewFace(BaseModel):
    face_id: str
    chip_url: str


class PreviewPair(BaseModel):
    from_person: PersonRef | None = Field(description="Now (for 'wrong': the name a person gave); null = unknown.")
    to_person: PersonRef | None = Field(description="With the candidate; null = unknown.")
    count: int
    samples: list[PreviewFace]


class PreviewGroup(BaseModel):
    count: int = Field(description="Faces in this group.")
    pairs: list[PreviewPair] = Field(description="Per (from, to) pair, largest first.")


class ModelPreview(BaseModel):
    version: str
    against: str | None = Field(description="The current model it is compared with; null: none yet.")
    state: Literal["computing", "ready", "failed"]
    job_id: str = Field(description="The trainer job that compares them (GET /v1/jobs/{id}).")
    message: str
    computed_at: datetime | None = None
    faces: int = Field(0, description="Faces compared: every face with a descriptor of the candidate's network.")
    human_faces: int = Field(0, description="Of those, faces a person named (or said are nobody known).")
    human_right: int = Field(0, description="Of those, faces the candidate answers as the person did.")
    changed: PreviewGroup | None = Field(None, description="Faces no person named whose name would change.")
    unknown: PreviewGroup | None = Field(None, description="Faces no person named that would become unknown.")
    named: PreviewGroup | None = Field(None, description="Faces no person named that would get a name.")
    wrong: PreviewGroup | None = Field(None, description="Faces people named that the candidate would get wrong.")


class DiscardOut(BaseModel):
    version: str
    message: str


async def _candidate(stores: StoresDep, version: str) -> reg.CurrentPointer | None:
    """The current pointer, after checking ``version`` exists and is not it."""
    registry = reg.Registry(stores.blobs)
    await asyncio.to_thread(registry.manifest, version)  # NotFound for an unknown version
    current = await asyncio.to_thread(registry.current)
    if current is not None and current.version == version:
        raise Conflict(f"{version} is the current model already: there is nothing to preview, publish or discard.")
    return current


async def _newest_preview(stores: StoresDep, version: str, against: str | None) -> Job | None:
    jobs = [j for j in await stores.catalog.list_jobs() if j.kind == learning.PREVIEW_KIND
            and j.params.get("version") == version and j.params.get("against") == against]
    return max(jobs, key=lambda j: j.created_at, default=None)


async def _start_preview(stores: StoresDep, celery: CeleryDep, job_id: str, version: str, against: str | None
                         ) -> Job:
    params: dict[str, object] = {"version": version, "against": against}
    job = await stores.catalog.create_job(Job(id=job_id, kind=learning.PREVIEW_KIND, params=params))
    if job.state == JobState.queued:
        try:
            await asyncio.to_thread(celery.send_task, learning.PREVIEW_MODEL, args=[job.id, params], queue=TRAIN_QUEUE)
        except Exception as exc:
            await stores.catalog.update_job(job.id, message=f"could not be queued yet: {exc}")
            raise
    return job


def _preview_out(job: Job, version: str, against: str | None, names: dict[str, str], samples: int) -> ModelPreview:
    state: Literal["computing", "ready", "failed"] = (
        "ready" if job.state == JobState.done else "failed" if job.state == JobState.failed else "computing")
    out = ModelPreview(version=version, against=against, state=state, job_id=job.id,
                       message=job.message or "waiting for the trainer")
    if state != "ready":
        return out

    def person(pid: object) -> PersonRef | None:
        return None if pid is None else PersonRef(id=str(pid), name=names.get(str(pid), "(deleted person)"))

    def group(raw: dict[str, object]) -> PreviewGroup:
        pairs = raw.get("pairs") or []
        assert isinstance(pairs, list)
        return PreviewGroup(count=int(str(raw.get("count", 0))), pairs=[PreviewPair(
            from_person=person(p.get("from")), to_person=person(p.get("to")), count=int(p.get("count", 0)),
            samples=[PreviewFace(face_id=f, chip_url=f"/v1/faces/{f}/chip") for f in p.get("samples", [])[:samples]])
            for p in pairs])

    result = job.result
    return out.model_copy(update={
        "computed_at": datetime.fromisoformat(result["computed_at"]) if result.get("computed_at") else None,
        "faces": int(result.get("faces", 0)), "human_faces": int(result.get("human_faces", 0)),
        "human_right": int(result.get("human_right", 0)),
        **{g: group(result[g]) for g in ("changed", "unknown", "named", "wrong") if isinstance(result.get(g), dict)}})


@router.get("/models/{version}/preview", response_model=ModelPreview, responses=errors(409),
            summary="What a candidate would change if it were published",
            description="Compares the candidate with the current model on every face with a descriptor: faces whose "
                        "name would change, become unknown or get a name, and faces people named that it would get "
                        "wrong, each with sample chips. The first request starts the comparison on the trainer "
                        "(state 'computing'); ask again until 'ready'. POST recomputes it after names changed.")
async def preview_model(version: VersionPath, stores: StoresDep, celery: CeleryDep,
                        samples: Annotated[int, Query(ge=1, le=12, description="Sample faces per pair.")] = 6
                        ) -> ModelPreview:
    current = await _candidate(stores, version)
    against = current.version if current else None
    job = await _newest_preview(stores, version, against)
    if job is None:  # a review training stores its preview under this id; else it starts now
        job = await stores.catalog.get_job(learning.preview_job_id(version, against))
        if job is None or job.state == JobState.queued:
            job = await _start_preview(stores, celery, learning.preview_job_id(version, against), version, against)
    names = {p.id: p.name for p in await stores.catalog.all_people()}
    return _preview_out(job, version, against, names, samples)


@router.post("/models/{version}/preview", response_model=ModelPreview, status_code=202, responses=errors(409),
             summary="Compare a candidate with the current model again (after names changed)")
async def recompute_preview(version: VersionPath, stores: StoresDep, celery: CeleryDep) -> ModelPreview:
    current = await _candidate(stores, version)
    against = current.version if current else None
    job_id = f"{learning.preview_job_id(version, against)}-{new_id()[:8]}"
    job = await _start_preview(stores, celery, job_id, version, against)
    return _preview_out(job, version, against, {}, 0)


@router.post("/models/{version}/publish", response_model=reg.CurrentPointer, responses=errors(409),
             summary="Publish a candidate: classifiers switch to it and re-tag faces no person named")
async def publish_model(version: VersionPath, request: Request, stores: StoresDep, settings: SettingsDep,
                        celery: CeleryDep) -> reg.CurrentPointer:
    await _candidate(stores, version)
    return await _serve(request, stores, settings, celery, version, "published after review by an admin")


@router.post("/models/{version}/discard", response_model=DiscardOut, responses=errors(409),
             summary="Discard a candidate for good (its files go; the version number is never used again)")
async def discard_model(version: VersionPath, request: Request, stores: StoresDep) -> DiscardOut:
    await _candidate(stores, version)
    registry = reg.Registry(stores.blobs)
    await asyncio.to_thread(registry.withdraw, version, "discarded after review by an admin")
    await audit(request, "model.discard", "model", version, before={"version": version})
    log.info("model %s discarded by an admin", version)
    return DiscardOut(version=version, message=f"{version} discarded; the current model stays.")


@router.get("/workers", response_model=WorkersOut, summary="Classifier workers heard from lately, and their model")
async def workers(stores: StoresDep) -> WorkersOut:
    return WorkersOut(items=await asyncio.to_thread(reg.read_beats, stores.blobs))
