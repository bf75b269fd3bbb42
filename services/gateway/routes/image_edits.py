"""Edits to a photo: add a face box drawn by hand, delete the photo."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response

from services.core import blob_layout
from services.core.domain import FaceOrigin, FaceRecord, LabelSource, new_id, utcnow
from services.core.errors import Conflict, StoreUnavailable
from services.core.queue import PREPARE_FACE, send
from services.gateway.deps import CeleryDep, StoresDep
from services.gateway.people_schemas import ManualFaceIn
from services.gateway.presenters import PeopleCache, face_out
from services.gateway.responses import errors
from services.gateway.routes.images import get_image_or_404
from services.gateway.routes.people import resolve_person
from services.gateway.schemas import FaceOut
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/images", tags=["images"], dependencies=[allow(Policy.edit)])


@router.post(
    "/{image_id}/faces",
    status_code=201,
    response_model=FaceOut,
    responses=errors(409),
    summary="Add a face the detector missed, with a box drawn by hand",
    description="The chip and descriptor are computed in the background; `chip_url` is null until then. "
                "Give `person_id` or `name` to name it at once (a person's label).",
)
async def add_manual_face(image_id: str, body: ManualFaceIn, stores: StoresDep, celery: CeleryDep,
                          response: Response, request: Request) -> FaceOut:
    catalog = stores.catalog
    image = await get_image_or_404(stores, image_id)
    box = body.box.as_box()
    if image.width and image.height and (box.right > image.width or box.bottom > image.height):
        # A well-formed box that does not fit this photo: a clash with what is stored, as an unknown id is.
        raise Conflict(f"The box reaches past the photo, which is {image.width}x{image.height} pixels.")
    person_id = await resolve_person(catalog, body.person_id, body.name)
    labelled = person_id is not None
    face = await catalog.add_face(FaceRecord(
        id=new_id(), image_id=image.id, box=box, origin=FaceOrigin.manual, detection_score=1.0,
        person_id=person_id, label_source=LabelSource.person if labelled else None,
        labelled_at=utcnow() if labelled else None,
    ))
    try:
        await asyncio.to_thread(send, celery, PREPARE_FACE, face.id, image.id)
    except Exception as exc:  # without its task the face would never get a chip: take it back
        await catalog.delete_face(face.id)
        log.warning("could not queue face %s of image %s: %s", face.id, image.id, exc)
        raise StoreUnavailable("The face could not be queued for analysis.") from exc
    response.headers["Location"] = f"/v1/faces/{face.id}"
    await audit(request, "face.add", "face", face.id, after={"image_id": image.id, "person_id": person_id})
    return await face_out(face, PeopleCache(catalog))


@router.delete("/{image_id}", status_code=204, response_class=Response,
               summary="Delete a photo with its thumbnail, faces and chips")
async def delete_image(image_id: str, stores: StoresDep, request: Request) -> Response:
    image = await get_image_or_404(stores, image_id)
    # Blobs first: if this fails half-way the record is still there and deleting again finishes the job.
    await asyncio.to_thread(stores.blobs.delete_prefix, blob_layout.image_prefix(image.id))
    await stores.catalog.delete_image(image.id)
    await request.app.state.face_index.forget(image.id)
    await audit(request, "image.delete", "image", image.id, before={"filename": image.filename})
    return Response(status_code=204)
