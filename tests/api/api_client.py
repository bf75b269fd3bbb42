"""``Api``: a TestClient on a fresh gateway plus direct access to its stores, for the API tests."""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from fastapi.testclient import TestClient

from services.core import blob_layout
from services.core.blobs import BlobStore
from services.core.catalog import Catalog
from services.core.domain import Box, FaceOrigin, FaceRecord, ImageRecord, ReviewHint, new_id

T = TypeVar("T")
EPOCH = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
API_KEY = "api-tests-admin-key"  # the admin key of the gateway under test: the client sends it


@dataclass
class Api:
    """A TestClient on a fresh gateway, plus direct access to its stores."""

    client: TestClient
    sent: list[tuple[str, tuple[object, ...]]] = field(default_factory=list)

    @property
    def catalog(self) -> Catalog:
        catalog: Catalog = self.client.app.state.stores.catalog  # type: ignore[attr-defined]
        return catalog

    @property
    def blobs(self) -> BlobStore:
        blobs: BlobStore = self.client.app.state.stores.blobs  # type: ignore[attr-defined]
        return blobs

    def run(self, fn: Callable[..., Awaitable[T]], *args: Any) -> T:
        """Run a catalog coroutine on the app's own event loop (the stores are bound to it)."""
        assert self.client.portal is not None
        return self.client.portal.call(fn, *args)

    def add_image(self, n: int = 0, *, minutes: int | None = None, width: int = 640, height: int = 480,
                  with_blobs: bool = True) -> ImageRecord:
        """Image number ``n``, uploaded ``minutes`` (default ``n``) after EPOCH, with its blobs."""
        uploaded = EPOCH + timedelta(minutes=n if minutes is None else minutes)
        image = ImageRecord(id=new_id(), sha256=hashlib.sha256(f"image-{n}".encode()).hexdigest(),
                            filename=f"photo-{n}.jpg", content_type="image/jpeg", width=width, height=height,
                            size_bytes=1000, uploaded_at=uploaded, updated_at=uploaded)
        stored, created = self.run(self.catalog.add_image, image)
        assert created
        if with_blobs:
            self.blobs.put(blob_layout.original(stored.id), b"original", "image/jpeg")
            self.blobs.put(blob_layout.thumbnail(stored.id), b"thumb", "image/jpeg")
        return stored

    def add_face(self, image_id: str, left: int, *, top: int = 10, size: int = 50, chip: bool = True,
                 **fields: Any) -> FaceRecord:
        """A detected face (as the detector worker stores it), with a chip blob unless told otherwise."""
        face_id = new_id()
        chip_key = blob_layout.chip(image_id, face_id) if chip else None
        if chip_key:
            self.blobs.put(chip_key, b"chip", "image/png")
        face = FaceRecord(id=face_id, image_id=image_id, box=Box(left=left, top=top, width=size, height=size),
                          detection_score=0.9, origin=FaceOrigin.detector, chip_key=chip_key, **fields)
        return self.run(self.catalog.add_face, face)

    def model_label(self, face_id: str, person_id: str | None, confidence: float = 0.8,
                    version: str = "v3", review: ReviewHint | None = None) -> bool:
        return self.run(self.catalog.set_model_label, face_id, person_id, version, confidence, review)

    def person(self, name: str) -> dict[str, Any]:
        response = self.client.post("/v1/people", json={"name": name})
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def name_face(self, face_id: str, name: str) -> dict[str, Any]:
        response = self.client.patch(f"/v1/faces/{face_id}", json={"name": name})
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def image(self, image_id: str) -> dict[str, Any]:
        response = self.client.get(f"/v1/images/{image_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def search(self, **params: Any) -> list[str]:
        """Ids of the photos GET /v1/images returns for these query parameters."""
        response = self.client.get("/v1/images", params=params)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]
