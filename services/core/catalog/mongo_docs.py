"""MongoDB documents for catalog records: ``_id`` carries the record id, times are UTC dates.

Image documents also carry what the image filters need from its faces (``person_ids``,
``has_unknown``) plus ``faces_rev``, a counter that orders concurrent refreshes of those fields.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel

from services.core.catalog.rules import as_utc, json_safe
from services.core.domain import Action, FaceRecord, ImageRecord, Job, Person


def to_doc(record: BaseModel) -> dict[str, Any]:
    doc = record.model_dump()
    if "id" in doc:
        doc["_id"] = doc.pop("id")
    return {key: _bson_value(value) for key, value in doc.items()}


def _bson_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return as_utc(value)  # naive times mean UTC, as in SQLite
    if isinstance(value, date):
        return value.isoformat()  # BSON has no plain day
    if isinstance(value, list):
        return [_bson_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _bson_value(v) for k, v in value.items()}
    return value


def image_doc(image: ImageRecord) -> dict[str, Any]:
    return {**to_doc(image), "person_ids": [], "has_unknown": False, "faces_rev": 0}


def face_fields(person_ids: list[str | None]) -> dict[str, Any]:
    """What an image document carries from its faces, given each face's person (None: unknown)."""
    return {"face_count": len(person_ids), "person_ids": sorted({p for p in person_ids if p is not None}),
            "has_unknown": None in person_ids}


def job_doc(job: Job) -> dict[str, Any]:
    doc = to_doc(job)
    doc["params"], doc["result"] = json_safe(job.params), json_safe(job.result)
    return doc


def _fields(doc: dict[str, Any]) -> dict[str, Any]:
    return {**doc, "id": doc["_id"]}


def image_from(doc: dict[str, Any]) -> ImageRecord:
    return ImageRecord.model_validate(_fields(doc))


def face_from(doc: dict[str, Any]) -> FaceRecord:
    return FaceRecord.model_validate(_fields(doc))


def person_from(doc: dict[str, Any]) -> Person:
    return Person.model_validate(_fields(doc))


def job_from(doc: dict[str, Any]) -> Job:
    return Job.model_validate(_fields(doc))


def action_from(doc: dict[str, Any]) -> Action:
    return Action.model_validate(_fields(doc))
