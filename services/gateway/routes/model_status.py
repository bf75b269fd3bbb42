"""Whether the model is up to date, for everyone signed in (the header of every page shows it)."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from services.core import learning
from services.core.domain import JobState, utcnow
from services.gateway.deps import SettingsDep, StoresDep
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1/model", tags=["model"])


class TrainingNow(BaseModel):
    job_id: str
    kind: str = Field(description="train, or switch_network")
    state: JobState
    progress: float = Field(description="0..1")
    message: str
    trigger: str | None = Field(None, description="auto, api, schedule, ...")


class ModelStatus(BaseModel):
    current_version: str | None = Field(description="The model names are suggested with; null: none yet.")
    trained_at: datetime | None = Field(description="When the current model was made.")
    new_labels: int = Field(description="Faces people named (or said are nobody known) since the model last "
                                        f"learnt; counting stops at {learning.COUNT_LIMIT}.")
    training: TrainingNow | None = Field(description="A training queued or running, if any.")
    auto_train: bool = Field(description="Whether the model trains by itself (FACETAG_AUTO_TRAIN).")
    starts_in_seconds: float | None = Field(description="While waiting for a quiet spell after the last new "
                                                        "name: about when the training starts by itself.")
    up_to_date: bool = Field(description="True when the model has learnt from every name people gave.")
    message: str = Field(description="One line for people, e.g. 'Up to date' or 'Learning from 12 new names…'.")
    candidates: list[str] = Field(description="Versions newer than the current one that were never published "
                                              "(an admin can preview, publish or discard them on the Model page).")
    held_for_review: list[str] = Field(description="Of the candidates, those a training held back for review "
                                                   "(publish: review).")


@router.get("/status", response_model=ModelStatus, dependencies=[allow(Policy.read)],
            summary="Whether the model is up to date, how many new names it has not learnt, and any training")
async def model_status(request: Request, stores: StoresDep, settings: SettingsDep) -> ModelStatus:
    now = utcnow()
    rule = learning.Rule.of(settings)
    cache = getattr(request.app.state, "label_count_cache", None)
    if cache is None:  # one per app: every open page polls this
        cache = request.app.state.label_count_cache = learning.CountCache()
    state = await learning.gather(stores.catalog, stores.blobs, now, labels_needed=rule.labels, cache=cache)
    decision = state.decide(rule, now)
    up_to_date, message = learning.describe(state, decision, rule)
    job = state.active_job
    training = None if job is None else TrainingNow(
        job_id=job.id, kind=job.kind, state=job.state, progress=job.progress, message=job.message,
        trigger=str(job.params["trigger"]) if job.params.get("trigger") else None)
    return ModelStatus(current_version=state.current_version, trained_at=state.trained_at,
                       new_labels=state.new_labels, training=training, auto_train=rule.enabled,
                       starts_in_seconds=round(decision.starts_in, 1) if decision.starts_in is not None else None,
                       up_to_date=up_to_date, message=message, candidates=state.candidates,
                       held_for_review=state.held_for_review)
