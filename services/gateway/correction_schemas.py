"""Request and response bodies for corrections that can be undone: not X, split, bulk changes."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from services.gateway.inputs import Omittable, StrictBody
from services.gateway.people_schemas import PersonName, PersonOut
from services.gateway.schemas import FaceOut
from services.gateway.undo import ActionOut

MAX_BATCH = 500
FaceIds = Annotated[list[Annotated[str, Field(min_length=1, max_length=64)]],
                    Field(min_length=1, max_length=MAX_BATCH, description=f"1 to {MAX_BATCH} face ids.")]


class FaceNotIn(StrictBody):
    person_id: Omittable[str] = Field(None, description="Who the face is not; left out: the person it is "
                                                        "labelled now.")


class FaceCorrectionOut(BaseModel):
    face: FaceOut
    action: ActionOut


class BatchChange(StrEnum):
    confirm = "confirm"  # accept each face's current label as a person's
    reject = "reject"  # "not X" for each face's current person
    move = "move"  # name them all one person (person_id or name)
    unknown = "unknown"  # a person says they are nobody they know
    delete = "delete"  # not faces at all


class FaceBatchIn(StrictBody):
    """Several faces at once; `person_id` or `name` only with `move` (exactly one of them)."""

    model_config = ConfigDict(json_schema_extra={"maxProperties": 3})

    face_ids: FaceIds
    change: Annotated[BatchChange, Strict(False)]  # enums come as their JSON strings
    person_id: Omittable[str] = Field(None, description="With move: the person they are.")
    name: Omittable[PersonName] = Field(None, description="With move: who they are; created if new.")

    @model_validator(mode="after")
    def _target(self) -> Self:
        given = (self.person_id is not None) + (self.name is not None)
        if self.change == BatchChange.move and given != 1:
            raise ValueError("move needs exactly one of person_id or name")
        if self.change != BatchChange.move and given:
            raise ValueError("person_id and name go only with change: move")
        return self


class FaceBatchOut(BaseModel):
    changed: int = Field(description="Faces changed.")
    skipped: list[str] = Field(description="Ids of faces left alone: unknown ids, or nothing to confirm or reject.")
    action: ActionOut | None = Field(description="Undo the whole change with its undo_url; None if nothing changed.")


class SplitIn(StrictBody):
    """Move some of a person's faces to another person (person_id) or a new or existing one by name."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 2, "maxProperties": 2})

    face_ids: FaceIds
    person_id: Omittable[str] = Field(None, description="The person they really are.")
    name: Omittable[PersonName] = Field(None, description="Who they really are; created if new.")

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.person_id is None) == (self.name is None):
            raise ValueError("give exactly one of person_id or name")
        return self


class SplitOut(BaseModel):
    moved: int
    skipped: list[str] = Field(description="Ids of faces that are not this person's: left alone.")
    person: PersonOut = Field(description="Who they are now.")
    action: ActionOut
