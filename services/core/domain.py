"""Domain records shared by the gateway, the workers and the stores."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from services.core.cursors import ImageKey, PersonKey


def utcnow() -> datetime:
    # Stores keep millisecond precision (MongoDB dates), so records do too.
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    return uuid.uuid4().hex


class ImageStatus(StrEnum):
    queued = "queued"
    detecting = "detecting"
    classifying = "classifying"
    done = "done"
    failed = "failed"


class LabelSource(StrEnum):
    person = "person"  # a human set or confirmed it: a model never overwrites it
    model = "model"


class LabelVia(StrEnum):
    """Where a person's label was given: it tells reviewers and the audit how a name got there."""

    editor = "editor"  # the photo's face editor, one face at a time
    review = "review"  # the review queue
    cluster = "cluster"  # naming a whole cluster of unnamed faces
    bulk = "bulk"  # a selection of faces in the gallery or on a person's page
    split_off = "split"  # moved out of a person into another
    import_ = "import"  # facetag import, from folder names
    undo = "undo"


class ReviewReason(StrEnum):
    """Why a person's answer about a face would teach the model much."""

    borderline = "borderline"  # near the line between a name and unknown
    close_call = "close_call"  # two people almost equally close
    few_examples = "few_examples"  # the model knows the person from few faces


class ReviewHint(BaseModel):
    """What the classifier saw that makes a face worth asking a person about."""

    score: float = Field(ge=0.0, le=1.0)  # higher: the answer teaches more
    reason: ReviewReason
    nearest_id: str | None = None  # the closest person it may be (the guess, or who it would be if nearer)
    runner_up_id: str | None = None  # the second closest person


class FaceOrigin(StrEnum):
    detector = "detector"
    manual = "manual"  # a box drawn by hand


class JobState(StrEnum):
    queued = "queued"
    running = "running"
    done = "done"
    failed = "failed"


class Box(BaseModel):
    """Pixel box in the upright (EXIF-oriented) image."""

    left: int
    top: int
    width: int = Field(gt=0)
    height: int = Field(gt=0)

    @property
    def right(self) -> int:
        return self.left + self.width

    @property
    def bottom(self) -> int:
        return self.top + self.height

    def iou(self, other: Box) -> float:
        ix = max(0, min(self.right, other.right) - max(self.left, other.left))
        iy = max(0, min(self.bottom, other.bottom) - max(self.top, other.top))
        inter = ix * iy
        union = self.width * self.height + other.width * other.height - inter
        return inter / union if union else 0.0


class Point(BaseModel):
    x: float
    y: float


class ImageRecord(BaseModel):
    id: str
    sha256: str
    filename: str = ""
    content_type: str = ""
    width: int = 0
    height: int = 0
    size_bytes: int = 0
    status: ImageStatus = ImageStatus.queued
    error: str | None = None
    attempts: int = 0
    face_count: int = 0
    uploaded_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    taken_at: datetime | None = None  # when the photo was taken, from its EXIF, if it says


class FaceRecord(BaseModel):
    """One face on one image, with its label and where that label came from.

    ``person_id`` None means unknown. ``label_source`` None means no one has labelled it yet
    (not even a model); ``person`` labels are never changed by a model.
    """

    id: str
    image_id: str
    box: Box
    landmarks: list[Point] = Field(default_factory=list)
    detection_score: float = 0.0
    origin: FaceOrigin = FaceOrigin.detector
    descriptor: list[float] | None = None
    chip_key: str | None = None
    person_id: str | None = None
    label_source: LabelSource | None = None
    model_version: str | None = None
    confidence: float | None = None
    labelled_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    # What made this face: detector and descriptor network (name-version), and how usable it is (0-1).
    quality: float | None = None
    detector: str | None = None
    descriptor_model: str | None = None
    # Provenance of a person's label: who gave it and where.
    labelled_by: str | None = None
    label_via: LabelVia | None = None
    # People a person said this face is not: no model, re-tag or cluster names it any of them again.
    not_person_ids: list[str] = Field(default_factory=list)
    review: ReviewHint | None = None  # set with a model's label; cleared when a person labels the face

    @property
    def human_labelled(self) -> bool:
        return self.label_source == LabelSource.person

    def label_state(self) -> FaceLabelState:
        return FaceLabelState(**self.model_dump(include=set(FaceLabelState.model_fields)))


class FaceLabelState(BaseModel):
    """Everything about a face's identity that a correction can change, to put back on undo."""

    id: str
    person_id: str | None = None
    label_source: LabelSource | None = None
    model_version: str | None = None
    confidence: float | None = None
    labelled_at: datetime | None = None
    labelled_by: str | None = None
    label_via: LabelVia | None = None
    not_person_ids: list[str] = Field(default_factory=list)
    review: ReviewHint | None = None


class PersonDetails(BaseModel):
    """What a person's page lets people set besides the name."""

    chosen_cover_id: str | None = None  # a face of theirs chosen as cover; else one is picked
    hidden: bool = False  # left out of the people list (still searchable, still named)
    # Photos taken outside these days (inclusive) are never named this person by a model.
    active_from: date | None = None
    active_to: date | None = None


class Person(PersonDetails):
    id: str
    name: str
    created_at: datetime = Field(default_factory=utcnow)
    never_tag: bool = False  # the person opted out: no model ever names them


class PersonSummary(Person):
    face_count: int = 0
    image_count: int = 0
    cover_face_id: str | None = None


class Action(BaseModel):
    """A correction that can be undone as one step: the state it changed, as it was before."""

    id: str
    kind: str  # e.g. "person.merge", "cluster.name", "faces.bulk"
    summary: str  # for people: "Named 34 faces Ben Affleck"
    actor: str
    created_at: datetime = Field(default_factory=utcnow)
    undone_at: datetime | None = None
    faces: list[FaceLabelState] = Field(default_factory=list)
    # How the action left them: undo puts back only faces nobody changed since.
    faces_after: list[FaceLabelState] = Field(default_factory=list)
    deleted_people: list[Person] = Field(default_factory=list)  # recreated, same id, on undo
    created_people: list[str] = Field(default_factory=list)  # removed on undo if nobody else uses them
    people_before: list[Person] = Field(default_factory=list)  # renamed or changed: put back as they were
    deleted_faces: list[FaceRecord] = Field(default_factory=list)  # added again on undo


class Job(BaseModel):
    id: str
    kind: str
    state: JobState = JobState.queued
    progress: float = 0.0  # 0..1
    message: str = ""
    params: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class ImageQuery(BaseModel):
    """Filters for listing images; every filter given must hold (AND)."""

    model_config = ConfigDict(extra="forbid")  # a misspelt filter is an error, not a filter quietly left out

    status: ImageStatus | None = None
    person_ids: list[str] = Field(default_factory=list)  # photos showing all of these people
    has_unknown: bool | None = None  # has at least one face with person_id None
    uploaded_from: datetime | None = None  # from/to: both ends inclusive; naive times are UTC
    uploaded_to: datetime | None = None
    after: ImageKey | None = None  # the page starts after this image (keyset: no rows are skipped over)
    limit: int = Field(50, ge=1, le=500)


class PeopleQuery(BaseModel):
    """People by name, a page at a time."""

    model_config = ConfigDict(extra="forbid")

    after: PersonKey | None = None
    limit: int | None = Field(None, ge=1)  # None: everyone
    include_hidden: bool = True
    ids: list[str] | None = None  # only these people
    name_contains: str | None = None  # a name key (see catalog.rules.name_key) the name's key contains, as text


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page; ``next_cursor`` (opaque) asks for the next, None at the end."""

    items: list[T]
    next_cursor: str | None = None
