"""Downloads: the original photo, its thumbnail, and each face chip."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Response

from services.core import blob_layout
from services.core.errors import NotFound
from services.core.faces.decode import ACCEPTED_FORMATS
from services.gateway.deps import StoresDep
from services.gateway.disposition import content_disposition
from services.gateway.responses import file_answer
from services.gateway.routes.images import get_image_or_404
from services.gateway.security.policy import Policy, allow

router = APIRouter(tags=["downloads"], dependencies=[allow(Policy.read)])
_CACHE = {"Cache-Control": "private, max-age=86400"}  # blobs of an id never change


async def _blob(stores: StoresDep, key: str, missing: str) -> bytes:
    try:
        return await asyncio.to_thread(stores.blobs.get, key)
    except NotFound:
        raise NotFound(missing) from None


@router.get("/v1/images/{image_id}/original", response_class=Response, summary="The photo as uploaded",
            responses={200: file_answer("The photo's bytes as uploaded.", *sorted(set(ACCEPTED_FORMATS.values())))})
async def download_original(image_id: str, stores: StoresDep) -> Response:
    image = await get_image_or_404(stores, image_id)
    data = await _blob(stores, blob_layout.original(image.id), f"The original of image {image_id} is missing.")
    disposition = content_disposition("inline", image.filename)
    return Response(data, media_type=image.content_type, headers={**_CACHE, "Content-Disposition": disposition})


@router.get("/v1/images/{image_id}/thumbnail", response_class=Response, summary="A small JPEG of the photo",
            responses={200: file_answer("The thumbnail, upright.", "image/jpeg")})
async def download_thumbnail(image_id: str, stores: StoresDep) -> Response:
    image = await get_image_or_404(stores, image_id)
    data = await _blob(stores, blob_layout.thumbnail(image.id),
                       f"The thumbnail of image {image_id} is not made yet (status: {image.status}).")
    return Response(data, media_type="image/jpeg", headers=_CACHE)


@router.get("/v1/faces/{face_id}/chip", response_class=Response, summary="The aligned face chip",
            responses={200: file_answer("The 112-pixel aligned face, as the model sees it.", "image/png")})
async def download_chip(face_id: str, stores: StoresDep) -> Response:
    face = await stores.catalog.get_face(face_id)
    if face is None:
        raise NotFound(f"No face with id {face_id!r}.")
    if not face.chip_key:
        raise NotFound(f"The chip of face {face_id} is not made yet.")
    return Response(await _blob(stores, face.chip_key, f"The chip of face {face_id} is missing."),
                    media_type="image/png", headers=_CACHE)
