"""Several faces at once, from a selection in the gallery or on a person's page: one undoable action."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request

from services.core.domain import FaceRecord, LabelVia
from services.core.errors import NotFound
from services.core.queue import CLASSIFY_IMAGE
from services.core.stores import Stores
from services.gateway.correction_schemas import BatchChange, FaceBatchIn, FaceBatchOut
from services.gateway.deps import OutboxDep, StoresDep
from services.gateway.fixed_paths import refuse_other_methods
from services.gateway.presenters import PeopleCache
from services.gateway.routes.people import resolve_person
from services.gateway.security.policy import Policy, allow
from services.gateway.undo import ActionRecorder, actor_of, faces_phrase

log = logging.getLogger(__name__)
router = APIRouter(prefix="/v1/faces", tags=["faces"])
VERBS = {BatchChange.confirm: "Confirmed", BatchChange.reject: "Rejected the names of",
         BatchChange.unknown: "Marked unknown", BatchChange.delete: "Deleted"}


async def _found(stores: Stores, face_ids: list[str]) -> list[FaceRecord]:
    faces = await asyncio.gather(*(stores.catalog.get_face(fid) for fid in dict.fromkeys(face_ids)))
    return [f for f in faces if f is not None]


@router.post("/batch", response_model=FaceBatchOut, dependencies=[allow(Policy.edit)],
             summary="Confirm, reject, move, mark unknown or delete several faces as one undoable action",
             description="Faces that do not exist, or have no label to confirm or reject, are skipped and listed. "
                         "Deleted faces come back on undo.")
async def change_faces(body: FaceBatchIn, stores: StoresDep, outbox: OutboxDep, request: Request) -> FaceBatchOut:
    catalog, by = stores.catalog, actor_of(request)
    faces = await _found(stores, body.face_ids)
    if body.change in (BatchChange.confirm, BatchChange.reject):
        faces = [f for f in faces if f.person_id is not None or
                 (body.change == BatchChange.confirm and f.label_source is not None)]
    chosen = {f.id for f in faces}
    skipped = [fid for fid in dict.fromkeys(body.face_ids) if fid not in chosen]
    if not faces:
        return FaceBatchOut(changed=0, skipped=skipped, action=None)
    recorder = ActionRecorder(request, stores, f"faces.{body.change.value}", "")
    target = await resolve_person(catalog, body.person_id, body.name, recorder) \
        if body.change == BatchChange.move else None
    if target is not None:
        recorder.action.summary = f"Named {faces_phrase(len(faces))} {await PeopleCache(catalog).name(target)}"
    else:
        recorder.action.summary = f"{VERBS[body.change]} {faces_phrase(len(faces))}"
    await recorder.remember_faces(faces)
    changed = 0
    for face in faces:
        try:
            if body.change == BatchChange.delete:
                recorder.deleted_face(face)
                changed += await catalog.delete_face(face.id)
                continue
            if body.change == BatchChange.reject:
                assert face.person_id is not None
                await catalog.add_not_person(face.id, face.person_id, by=by, via=LabelVia.bulk)
                await outbox.send(CLASSIFY_IMAGE, face.image_id, (face.id,))  # its next best guess, without them
            else:
                person = face.person_id if body.change == BatchChange.confirm else target
                await catalog.set_person_label(face.id, person, by=by, via=LabelVia.bulk)
            changed += 1
        except NotFound:  # deleted by someone else meanwhile
            skipped.append(face.id)
    return FaceBatchOut(changed=changed, skipped=skipped, action=await recorder.save())


refuse_other_methods(router, "/v1/faces/batch", "POST")  # not a face with the id "batch"
