"""One face: read it, name it, confirm the model's guess, mark it unknown, or remove it."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response

from services.core.catalog import Catalog
from services.core.domain import FaceRecord, LabelVia
from services.core.errors import Conflict, NotFound
from services.core.queue import CLASSIFY_IMAGE
from services.gateway.correction_schemas import FaceCorrectionOut, FaceNotIn
from services.gateway.deps import OutboxDep, StoresDep
from services.gateway.live_events import face_named
from services.gateway.people_schemas import FaceLabelIn
from services.gateway.presenters import PeopleCache, face_out
from services.gateway.responses import errors
from services.gateway.routes.people import resolve_person
from services.gateway.schemas import FaceOut
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow
from services.gateway.undo import ActionRecorder, actor_of

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
    labelled = await catalog.set_person_label(face.id, person_id, by=actor_of(request), via=LabelVia.editor)
    face_named(request, labelled, "face.name")
    people = PeopleCache(catalog)
    await audit(request, "face.name", "face", face.id,
                before={"person_id": face.person_id, "name": await people.name(face.person_id),
                        "label_source": face.label_source},
                after={"person_id": person_id, "name": await people.name(person_id),
                       "label_source": labelled.label_source})
    return await face_out(labelled, people)


@router.post("/{face_id}/not", response_model=FaceCorrectionOut, responses=errors(409),
             dependencies=[allow(Policy.edit)],
             summary="Say who a face is not: no model, re-tag or cluster names it that person again",
             description="Without `person_id`: the person it is labelled now (409 if it has no label). If the face "
                         "is labelled that person, it becomes unknown. Undo with the returned action's undo_url.")
async def not_person(face_id: str, body: FaceNotIn, stores: StoresDep, outbox: OutboxDep,
                     request: Request) -> FaceCorrectionOut:
    catalog = stores.catalog
    face = await face_or_404(catalog, face_id)
    person_id = body.person_id or face.person_id
    if person_id is None:
        raise Conflict("This face has no name to reject; say who it is not with person_id.")
    people = PeopleCache(catalog)
    name = await people.name(person_id)
    if name is None:
        raise NotFound(f"No person with id {person_id!r}.")
    recorder = ActionRecorder(request, stores, "face.not", f"Not {name}")
    await recorder.remember_faces([face])
    changed = await catalog.add_not_person(face.id, person_id, by=actor_of(request), via=LabelVia.editor)
    if changed.person_id is None:
        await outbox.send(CLASSIFY_IMAGE, face.image_id, (face.id,))  # its next best guess, without them
    return FaceCorrectionOut(face=await face_out(changed, people), action=await recorder.save())


@router.delete("/{face_id}", status_code=204, response_class=Response, dependencies=[allow(Policy.edit)],
               summary="Remove a face that is not a face (or not wanted)")
async def delete_face(face_id: str, stores: StoresDep, request: Request) -> Response:
    face = await face_or_404(stores.catalog, face_id)
    if not await stores.catalog.delete_face(face.id):
        raise NotFound(f"No face with id {face_id!r}.")
    await request.app.state.face_index.forget(face.image_id)
    await audit(request, "face.delete", "face", face.id,
                before={"image_id": face.image_id, "person_id": face.person_id})
    if face.chip_key:
        try:
            await asyncio.to_thread(stores.blobs.delete, face.chip_key)
        except Exception as exc:  # the chip sits under its image and goes with it at the latest
            log.warning("could not delete the chip of face %s: %s", face.id, exc)
    return Response(status_code=204)
