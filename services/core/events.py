"""Live events: what happened to a photo, a face, a person or the model, as clients are told it.

One record travels to every consumer (the SSE stream, webhooks, MQTT), so a client sees the same
event whichever way it listens. Events carry ids and a few facts, never image bytes or descriptors.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.core.domain import new_id, utcnow


class EventKind(StrEnum):
    photo_queued = "photo.queued"  # accepted and stored; its task is on the way to a detector
    photo_detected = "photo.detected"  # faces found; naming them comes next
    photo_done = "photo.done"  # every face named or left unknown
    photo_failed = "photo.failed"  # the photo could not be processed (the reason is in ``data``)
    face_named = "face.named"  # a face's name changed, by a person or a model
    person_changed = "person.changed"  # a person was created, renamed, merged, hidden or deleted
    model_published = "model.published"  # a new model version is live
    job_changed = "job.changed"  # a background job (training, preview, ...) moved on: ``data`` has job_id, state


class Event(BaseModel):
    id: str = Field(default_factory=new_id, description="Unique per event: receivers use it to drop repeats.")
    kind: EventKind
    at: datetime = Field(default_factory=utcnow)
    image_id: str | None = None
    face_id: str | None = None
    person_id: str | None = None
    model_version: int | None = None
    data: dict[str, Any] = Field(default_factory=dict, description="Kind-specific facts, e.g. face count, name.")
