"""Small builders for catalog records, so each test states only what it is about."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from services.core.domain import Box, FaceOrigin, FaceRecord, ImageRecord, new_id

EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def image(n: int = 0, *, minutes: int | None = None, image_id: str | None = None, **fields: object) -> ImageRecord:
    """Image number ``n``: its own content hash, uploaded ``minutes`` (default ``n``) after EPOCH."""
    uploaded = EPOCH + timedelta(minutes=n if minutes is None else minutes)
    values: dict[str, object] = {
        "id": image_id or new_id(),
        "sha256": hashlib.sha256(f"image-{n}".encode()).hexdigest(),
        "filename": f"photo-{n}.jpg",
        "content_type": "image/jpeg",
        "width": 640,
        "height": 480,
        "size_bytes": 1000 + n,
        "uploaded_at": uploaded,
        "updated_at": uploaded,
    }
    values.update(fields)
    return ImageRecord.model_validate(values)


def face(image_id: str, left: int, *, top: int = 10, size: int = 50, **fields: object) -> FaceRecord:
    values: dict[str, object] = {
        "id": new_id(),
        "image_id": image_id,
        "box": Box(left=left, top=top, width=size, height=size),
        "detection_score": 0.9,
        "origin": FaceOrigin.detector,
    }
    values.update(fields)
    return FaceRecord.model_validate(values)
