"""Request and response bodies for people, face labels and hand-drawn boxes."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from services.core.catalog.rules import MAX_NAME_LENGTH, NAME_PATTERN, clean_person_name
from services.core.domain import Box
from services.core.errors import InvalidInput
from services.gateway.inputs import Day, Integer, Omittable, StrictBody
from services.gateway.paging import Paged
from services.gateway.schemas import FaceOut
from services.gateway.undo import ActionOut

MIN_BOX_SIDE = 8
MAX_COORDINATE = 2**31 - 1  # far past any photo, and an integer every store keeps


def _clean_name(value: str) -> str:
    try:
        return clean_person_name(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


# The length is counted as given, as the document states it; clean_person_name is the rest of the rule, which
# the document states as a pattern (a test holds them equal).
PersonName = Annotated[
    str,
    StringConstraints(max_length=MAX_NAME_LENGTH),
    AfterValidator(_clean_name),
    Field(description=f"1 to {MAX_NAME_LENGTH} characters, not all spaces, no control or bidirectional control "
                      "characters but whitespace around it; stored in Unicode NFKC without that whitespace. Names "
                      "compare case-insensitively.",
          examples=["Ben Affleck"],
          json_schema_extra={"minLength": 1, "pattern": NAME_PATTERN}),
]


def _true(value: bool) -> bool:
    if not value:
        raise ValueError("must be true, or left out")
    return value


# A flag that is sent only to say yes: false would be a fifth, meaningless way to say nothing.
OnlyTrue = Annotated[bool, AfterValidator(_true), WithJsonSchema({"type": "boolean", "const": True})]


class PersonIn(StrictBody):
    name: PersonName


class PersonChangeIn(StrictBody):
    """Any of: a new name, the never-tag opt-out, the cover face, hidden, the dates the person may be named in."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    name: Omittable[PersonName] = None
    never_tag: Omittable[bool] = Field(None, description="True: no model ever names this person again (their "
                                                         "faces stay unknown unless a person names them).")
    cover_face_id: str | None = Field(None, description="A face of theirs to show for them; null: picked for you.")
    hidden: Omittable[bool] = Field(None, description="True: left out of the people list (still named, still "
                                                      "searchable).")
    active_from: Day | None = Field(None, description="Photos taken before this day are never named this person "
                                                      "by a model; null: no limit.")
    active_to: Day | None = Field(None, description="Photos taken after this day are never named this person by "
                                                    "a model; null: no limit.")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.model_fields_set:
            raise ValueError("give at least one of name, never_tag, cover_face_id, hidden, active_from, active_to")
        if self.active_from and self.active_to and self.active_from > self.active_to:
            raise ValueError("active_from must not be after active_to")
        return self


class PersonMergeIn(StrictBody):
    into: str = Field(description="Id of the person who remains; every face of this person moves to them.")


class PersonOut(BaseModel):
    id: str
    name: str
    created_at: datetime
    face_count: int = Field(description="Faces labelled as this person, by a human or a model.")
    image_count: int = Field(description="Photos showing this person.")
    cover_face_id: str | None = Field(description="A face to show for them, one a human labelled if any.")
    cover_chip_url: str | None
    photos_url: str = Field(description="GET this for the photos showing them.")
    never_tag: bool = Field(description="True: no model names this person (they opted out).")
    hidden: bool = Field(False, description="True: left out of the people list unless asked for.")
    chosen_cover_id: str | None = Field(None, description="The cover face a person chose, if any.")
    active_from: date | None = None
    active_to: date | None = None
    action: ActionOut | None = Field(None, description="After a merge: undo it with its undo_url.")


class FacePage(Paged):
    items: list[FaceOut]


class PeoplePage(Paged):
    items: list[PersonOut]


class FaceLabelIn(StrictBody):
    """Exactly one of the four fields: who this face is, or confirm the model's guess, or unknown."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 1})

    person_id: Omittable[str] = Field(None, description="Name the face as this existing person.")
    name: Omittable[PersonName] = Field(None, description="Name the face; the person is created if nobody has "
                                                          "this name yet (case-insensitively).")
    confirm: Omittable[OnlyTrue] = Field(None, description="Accept the current label (usually the model's "
                                                                "guess) as a person's, so no model changes it again.")
    unknown: Omittable[OnlyTrue] = Field(None, description="A person says this is nobody they know.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        if len(self.model_fields_set) != 1:
            raise ValueError("give exactly one of person_id, name, confirm: true or unknown: true")
        return self


class BoxIn(StrictBody):
    """A box drawn on the upright photo (as shown), in pixels; it must lie inside the photo."""

    left: Integer = Field(ge=0, le=MAX_COORDINATE)
    top: Integer = Field(ge=0, le=MAX_COORDINATE)
    width: Integer = Field(ge=MIN_BOX_SIDE, le=MAX_COORDINATE)
    height: Integer = Field(ge=MIN_BOX_SIDE, le=MAX_COORDINATE)

    def as_box(self) -> Box:
        return Box(left=self.left, top=self.top, width=self.width, height=self.height)


class ManualFaceIn(StrictBody):
    """A box, and who it is if known: person_id or name, not both."""

    model_config = ConfigDict(json_schema_extra={"maxProperties": 2})

    box: BoxIn
    person_id: Omittable[str] = Field(None, description="Who it is, if known: an existing person.")
    name: Omittable[PersonName] = Field(None, description="Who it is, if known: created if new.")

    @model_validator(mode="after")
    def _one_identity(self) -> Self:
        if self.person_id is not None and self.name is not None:
            raise ValueError("give person_id or name, not both")
        return self
