"""What the HTTP API returns: the shapes in the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from services.core.domain import Box, FaceOrigin, ImageStatus, LabelSource, LabelVia, Point
from services.gateway.paging import Paged


class ErrorOut(BaseModel):
    error: str = Field(description="Stable error code, e.g. not_found, truncated, too_large.")
    message: str = Field(description="What is wrong and what to do, for a person.")


class PersonRef(BaseModel):
    id: str
    name: str


class FaceOut(BaseModel):
    id: str
    image_id: str
    box: Box
    landmarks: list[Point]
    detection_score: float
    origin: FaceOrigin
    person: PersonRef | None = Field(description="None: unknown.")
    label_source: LabelSource | None = Field(description="person: set or confirmed by a human; model: guessed.")
    model_version: str | None
    confidence: float | None
    chip_url: str | None
    quality: float | None = Field(description="0-1 from size, sharpness and pose; None for faces analysed before "
                                              "quality was measured.")
    low_quality: bool = Field(description="Below FACETAG_MIN_FACE_QUALITY: a model never names it and training "
                                          "never learns from it.")
    detector: str | None = Field(description="The detector that found it (name-version); None when drawn by hand.")
    descriptor_model: str | None = Field(description="The network that described it (name-version).")
    labelled_at: datetime | None = Field(None, description="When the current label was given.")
    labelled_by: str | None = Field(None, description="Who gave a person's label.")
    label_via: LabelVia | None = Field(None, description="Where a person's label was given: editor, review, "
                                                         "cluster, bulk, split, import or undo.")
    not_people: list[PersonRef] = Field(default_factory=list, description="People a person said this face is not: "
                                        "no model names it any of them.")


class ImageOut(BaseModel):
    id: str
    status: ImageStatus
    error: str | None
    filename: str
    content_type: str
    width: int
    height: int
    size_bytes: int
    face_count: int
    uploaded_at: datetime
    taken_at: datetime | None = Field(None, description="When the photo was taken, from its EXIF, if it says.")
    updated_at: datetime
    url: str
    original_url: str
    thumbnail_url: str
    faces: list[FaceOut]


class ImagePage(Paged):
    items: list[ImageOut]


class WorkerHealth(BaseModel):
    name: str
    model_version: str | None = Field(description="None: descriptors only, no trained model yet.")
    provider: str | None = Field(description="The ONNX Runtime execution provider it runs on.")
    model_error: str | None = Field(description="Why the newest model was refused, if it was.")
    seen_at: datetime


class Health(BaseModel):
    status: str
    version: str
    catalog: str
    blobs: str
    broker: str
    workers: list[WorkerHealth] = Field(description="Classifier workers heard from in the last 10 minutes.")


class Readiness(BaseModel):
    ready: bool
    checks: dict[str, str]
