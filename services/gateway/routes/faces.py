"""One face: read it, name it, confirm the model's guess, mark it unknown, or remove it."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response

from services.core.catalog import Catalog
from services.core.domain import FaceRecord
from services.core.errors import Conflict, NotFound
from services.gateway.deps import StoresDep
from services.gateway.people_schemas import FaceLabelIn
from services.gateway.presenters import PeopleCache, face_out
from services.gateway.responses import errors
from services.gateway.routes.people import resolve_person
from services.gateway.schemas import FaceOut
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/faces", tags=["faces"])


async def face_or_404(catalog: Catalog, face_id: str) -> FaceRecord:
    face = await catalog.get_face(face_id)
    if face is None:
        raise NotFound(f"No face with id {face_id!r}.")
    return face


@router.get("/{face_id}", response_model=FaceOut, summary="One face and its label",
            dependencies=[allow(Policy.read)])
async def get_face(face_id: str, stores: StoresDep) -> FaceOut:
    return await face_out(await face_or_404(stores.catalog, face_id), PeopleCache(stores.catalog))


@router.patch(
    "/{face_id}",
    response_model=FaceOut,
    responses=errors(409),
    dependencies=[allow(Policy.edit)],
    summary="Say who a face is, confirm the model's guess, or mark it unknown",
    description="Send exactly one of `person_id`, `name`, `confirm: true` or `unknown: true`. "
                "The result is a person's label: no model changes it afterwards.",
)
async def label_face(face_id: str, body: FaceLabelIn, stores: StoresDep, request: Request) -> FaceOut:
    catalog = stores.catalog
    face = await face_or_404(catalog, face_id)
    if body.confirm:
        if face.label_source is None:
            raise Conflict("This face has no label to confirm yet; name it or mark it unknown instead.")
        person_id = face.person_id
    elif body.unknown:
        person_id = None
    else:
        person_id = await resolve_person(catalog, body.person_id, body.name)
    labelled = await catalog.set_person_label(face.id, person_id)
    people = PeopleCache(catalog)
    await audit(request, "face.name", "face", face.id,
                before={"person_id": face.person_id, "name": await people.name(face.person_id),
                        "label_source": face.label_source},
                after={"person_id": person_id, "name": await people.name(person_id),
                       "label_source": labelled.label_source})
    return await face_out(labelled, people)


@router.delete("/{face_id}", status_code=204, response_class=Response, dependencies=[allow(Policy.edit)],
               summary="Remove a face that is not a face (or not wanted)")
async def delete_face(face_id: str, stores: StoresDep, request: Request) -> Response:
    face = await face_or_404(stores.catalog, face_id)
    if not await stores.catalog.delete_face(face.id):
        raise NotFound(f"No face with id {face_id!r}.")
    await audit(request, "face.delete", "face", face.id,
                before={"image_id": face.image_id, "person_id": face.person_id})
    if face.chip_key:
        try:
            await asyncio.to_thread(stores.blobs.delete, face.chip_key)
        except Exception as exc:  # the chip sits under its image and goes with it at the latest
            log.warning("could not delete the chip of face %s: %s", face.id, exc)
    return Response(status_code=204)
