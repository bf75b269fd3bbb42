"""Request and response bodies for people, face labels and hand-drawn boxes."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from services.core.catalog.rules import MAX_NAME_LENGTH, clean_person_name
from services.core.domain import Box
from services.core.errors import InvalidInput
from services.gateway.schemas import FaceOut

MIN_BOX_SIDE = 8
def _clean_name(value: str) -> str:
    try:
        return clean_person_name(value)
    except InvalidInput as exc:
        raise ValueError(str(exc)) from None


PersonName = Annotated[
    str,
    AfterValidator(_clean_name),
    Field(description=f"1 to {MAX_NAME_LENGTH} characters, no control or bidirectional control characters; "
                      "stored in Unicode NFKC without surrounding spaces. Names compare case-insensitively.",
          examples=["Ben Affleck"]),
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class PersonIn(_Strict):
    name: PersonName


class PersonChangeIn(_Strict):
    """A new name, the never-tag opt-out, or both."""

    name: PersonName | None = None
    never_tag: bool | None = Field(None, description="True: no model ever names this person again (their "
                                                     "faces stay unknown unless a person names them).")

    @model_validator(mode="after")
    def _something(self) -> Self:
        if self.name is None and self.never_tag is None:
            raise ValueError("give name and/or never_tag")
        return self


class PersonMergeIn(_Strict):
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


class FacePage(BaseModel):
    items: list[FaceOut]
    offset: int
    limit: int


class FaceLabelIn(_Strict):
    """Exactly one of the four fields: who this face is, or confirm the model's guess, or unknown."""

    person_id: str | None = Field(None, description="Name the face as this existing person.")
    name: PersonName | None = Field(None, description="Name the face; the person is created if nobody has "
                                                      "this name yet (case-insensitively).")
    confirm: bool = Field(False, description="Accept the current label (usually the model's guess) as a "
                                             "person's, so no model changes it again.")
    unknown: bool = Field(False, description="A person says this is nobody they know.")

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        given = [self.person_id is not None, self.name is not None, self.confirm, self.unknown]
        if sum(given) != 1:
            raise ValueError("give exactly one of person_id, name, confirm: true or unknown: true")
        return self


class ManualFaceIn(_Strict):
    box: Box = Field(description="Pixels in the upright photo (as shown); must lie inside it.")
    person_id: str | None = Field(None, description="Who it is, if known: an existing person.")
    name: PersonName | None = Field(None, description="Who it is, if known: created if new.")

    @model_validator(mode="after")
    def _one_identity(self) -> Self:
        if self.person_id is not None and self.name is not None:
            raise ValueError("give person_id or name, not both")
        if self.box.left < 0 or self.box.top < 0:
            raise ValueError("the box must lie inside the photo (left and top at least 0)")
        if self.box.width < MIN_BOX_SIDE or self.box.height < MIN_BOX_SIDE:
            raise ValueError(f"the box must be at least {MIN_BOX_SIDE} pixels wide and high")
        return self
