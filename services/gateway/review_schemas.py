"""Bodies of the review queue: the faces worth asking about, and a person's answer."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Self

from pydantic import BaseModel, ConfigDict, Field, Strict, model_validator

from services.core.domain import ReviewReason
from services.gateway.inputs import Omittable, StrictBody
from services.gateway.paging import Paged
from services.gateway.people_schemas import PersonName
from services.gateway.schemas import FaceOut, PersonRef
from services.gateway.undo import ActionOut


class ReviewItem(BaseModel):
    face: FaceOut
    guess: PersonRef | None = Field(description="Who the model thinks it is; None: it thinks nobody it knows.")
    nearest: PersonRef | None = Field(description="Who it is asked about: the guess, or for a face the model "
                                                  "left unknown, the person it comes closest to.")
    confidence: float | None = Field(description="How sure the model is of that guess, 0-1.")
    score: float = Field(description="How much the answer would teach the model, 0-1; the queue is in this order.")
    reason: ReviewReason = Field(description="borderline: near the line between a name and unknown; close_call: "
                                             "two people almost equally close; few_examples: the model knows "
                                             "this person from few faces.")
    runner_up: PersonRef | None = Field(description="The second closest person.")
    photo_url: str
    thumbnail_url: str


class ReviewPage(Paged):
    items: list[ReviewItem]


class Answer(StrEnum):
    yes = "yes"  # it is the person asked about (the guess, or the nearest person of an unknown face)
    no = "no"  # it is not the guessed person (a sticky "not X")
    name = "name"  # it is this person (name or person_id)
    unknown = "unknown"  # nobody we know


class ReviewAnswerIn(StrictBody):
    """`yes`, `no` or `unknown` alone; `name` with exactly one of `name` or `person_id`."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1, "maxProperties": 2})

    answer: Annotated[Answer, Strict(False)]  # enums come as their JSON strings
    name: Omittable[PersonName] = None
    person_id: Omittable[str] = None

    @model_validator(mode="after")
    def _who(self) -> Self:
        given = (self.name is not None) + (self.person_id is not None)
        if self.answer == Answer.name and given != 1:
            raise ValueError("answer name needs exactly one of name or person_id")
        if self.answer != Answer.name and given:
            raise ValueError("name and person_id go only with answer: name")
        return self


class ReviewAnswerOut(BaseModel):
    face: FaceOut
    action: ActionOut = Field(description="Undo this answer with its undo_url.")
