"""Domain records shared by the gateway, the workers and the stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field


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

    @property
    def human_labelled(self) -> bool:
        return self.label_source == LabelSource.person


class Person(BaseModel):
    id: str
    name: str
    created_at: datetime = Field(default_factory=utcnow)
    never_tag: bool = False  # the person opted out: no model ever names them


class PersonSummary(Person):
    face_count: int = 0
    image_count: int = 0
    cover_face_id: str | None = None


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

    status: ImageStatus | None = None
    person_ids: list[str] = Field(default_factory=list)  # photos showing all of these people
    has_unknown: bool | None = None  # has at least one face with person_id None
    uploaded_from: datetime | None = None  # from/to: both ends inclusive; naive times are UTC
    uploaded_to: datetime | None = None
    offset: int = Field(0, ge=0)
    limit: int = Field(50, ge=1, le=500)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    offset: int
    limit: int
