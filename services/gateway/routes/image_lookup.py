"""Which of these files does the service have? Asked by content hash, so a resumed import uploads nothing twice."""

from __future__ import annotations

from fastapi import APIRouter

from services.gateway.deps import StoresDep
from services.gateway.image_lookup_schemas import ImageLookupIn, ImageLookupOut, KnownImage
from services.gateway.security.policy import Policy, allow

# Under /v1/search, beside search by face: under /v1/images the path would also name a photo, /v1/images/{image_id}.
router = APIRouter(prefix="/v1/search", tags=["images"])


@router.post("/sha256", response_model=ImageLookupOut, summary="Which of these files are uploaded already, by SHA-256",
             dependencies=[allow(Policy.results)])
async def lookup_images(body: ImageLookupIn, stores: StoresDep) -> ImageLookupOut:
    found = await stores.catalog.images_by_sha256(sorted(set(body.sha256)))
    return ImageLookupOut(found=[KnownImage(sha256=i.sha256, id=i.id, status=i.status) for i in found])
