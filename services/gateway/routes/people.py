"""People: list, create, rename, delete and merge; their faces."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from services.core import erasure, person_export
from services.core.catalog import Catalog, FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.catalog.rules import name_key
from services.core.cursors import FaceKey, PersonKey, cut, decode
from services.core.domain import FaceRecord, LabelVia, PeopleQuery, Person, PersonDetails, PersonSummary
from services.core.erasure import ErasureReport
from services.core.errors import Conflict, NotFound
from services.core.queue import TRAIN_MODEL
from services.gateway.correction_schemas import SplitIn, SplitOut
from services.gateway.deps import CeleryDep, SettingsDep, StoresDep
from services.gateway.disposition import content_disposition
from services.gateway.inputs import QueryFlag
from services.gateway.job_start import start_job
from services.gateway.live_events import person_changed
from services.gateway.paging import Cursor
from services.gateway.people_schemas import FacePage, PeoplePage, PersonChangeIn, PersonIn, PersonMergeIn, PersonOut
from services.gateway.presenters import PeopleCache, face_out
from services.gateway.responses import ZIP, errors
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow
from services.gateway.undo import ActionOut, ActionRecorder, actor_of, faces_phrase

router = APIRouter(prefix="/v1/people", tags=["people"])
READ, EDIT, ADMIN = [allow(Policy.read)], [allow(Policy.edit)], [allow(Policy.admin)]


def person_out(person: PersonSummary, action: ActionOut | None = None) -> PersonOut:
    cover = person.cover_face_id
    return PersonOut(
        **person.model_dump(include={"id", "name", "created_at", "face_count", "image_count", "cover_face_id",
                                     "never_tag", "hidden", "chosen_cover_id", "active_from", "active_to"}),
        action=action,
        cover_chip_url=f"/v1/faces/{cover}/chip" if cover else None,
        photos_url=f"/v1/images?person={quote(person.name, safe='')}",
    )


async def summary_of(catalog: Catalog, person_id: str) -> PersonSummary:
    for person in (await catalog.people_page(PeopleQuery(ids=[person_id]))).items:
        return person
    raise NotFound(f"No person with id {person_id!r}.")


async def person_or_404(catalog: Catalog, person_id: str) -> Person:
    person = await catalog.get_person(person_id)
    if person is None:
        raise NotFound(f"No person with id {person_id!r}.")
    return person


async def person_named(catalog: Catalog, name: str) -> tuple[Person, bool]:
    """The person with this name (case-insensitively), created if there is none; whether it was created."""
    found = await catalog.find_person(name)
    if found is not None:
        return found, False
    try:
        return await catalog.create_person(name), True
    except Conflict:  # created by someone else a moment ago
        found = await catalog.find_person(name)
        if found is None:
            raise
        return found, False


async def resolve_person(catalog: Catalog, person_id: str | None, name: str | None,
                         recorder: ActionRecorder | None = None) -> str | None:
    """The id a request names a person by: an existing id (404 if unknown) or a name (created if new; an undoable
    action being recorded removes them again on undo)."""
    if person_id is not None:
        return (await person_or_404(catalog, person_id)).id
    if name is not None:
        person, created = await person_named(catalog, name)
        if created and recorder is not None:
            recorder.created_person(person.id)
        return person.id
    return None


@router.get("", response_model=PeoplePage, dependencies=READ,
            summary="People by name, with face and photo counts, a page at a time")
async def list_people(
    stores: StoresDep,
    q: Annotated[str | None, Query(max_length=100, description="Only names containing this text, "
                                                               "case-insensitively (plain text).")] = None,
    hidden: Annotated[QueryFlag, Query(description="true: also people who are hidden.")] = False,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
) -> PeoplePage:
    needle = name_key(q) if q and q.strip() else None
    page = await stores.catalog.people_page(PeopleQuery(after=decode(PersonKey, cursor), limit=limit,
                                                        include_hidden=hidden, name_contains=needle))
    return PeoplePage(items=[person_out(p) for p in page.items], next_cursor=page.next_cursor)


@router.post("", status_code=201, response_model=PersonOut, responses=errors(409), dependencies=EDIT,
             summary="Add a person")
async def create_person(body: PersonIn, stores: StoresDep, response: Response, request: Request) -> PersonOut:
    person = await stores.catalog.create_person(body.name)
    await audit(request, "person.create", "person", person.id, after={"name": person.name})
    person_changed(request, person.id, "person.create")
    response.headers["Location"] = f"/v1/people/{person.id}"
    return person_out(PersonSummary(**person.model_dump()))


@router.get("/{person_id}", response_model=PersonOut, dependencies=READ, summary="One person")
async def get_person(person_id: str, stores: StoresDep) -> PersonOut:
    return person_out(await summary_of(stores.catalog, person_id))


@router.patch("/{person_id}", response_model=PersonOut, responses=errors(409), dependencies=EDIT,
              summary="Rename a person (the new name shows on every face and photo), or set never_tag")
async def change_person(person_id: str, body: PersonChangeIn, stores: StoresDep, request: Request) -> PersonOut:
    person = await person_or_404(stores.catalog, person_id)  # an unknown id is 404 even when the name is taken
    if body.name is not None and body.name != person.name:
        await stores.catalog.rename_person(person_id, body.name)
        await audit(request, "person.rename", "person", person_id, before={"name": person.name},
                    after={"name": body.name})
        person_changed(request, person_id, "person.rename")
    if body.never_tag is not None and body.never_tag != person.never_tag:
        await stores.catalog.set_never_tag(person_id, body.never_tag)
        await audit(request, "person.never_tag", "person", person_id, before={"never_tag": person.never_tag},
                    after={"never_tag": body.never_tag})
        person_changed(request, person_id, "person.never_tag")
    changes = body.model_dump(include=DETAIL_FIELDS & body.model_fields_set)
    if "cover_face_id" in changes:
        await _check_cover(stores.catalog, person_id, changes["cover_face_id"])
        changes["chosen_cover_id"] = changes.pop("cover_face_id")
    if changes:
        before = PersonDetails(**person.model_dump(include=set(PersonDetails.model_fields)))
        after = before.model_copy(update=changes)
        if after != before:
            await stores.catalog.set_person_details(person_id, after)
            await audit(request, "person.details", "person", person_id, before=before.model_dump(mode="json"),
                        after=after.model_dump(mode="json"))
            person_changed(request, person_id, "person.details")
    return person_out(await summary_of(stores.catalog, person_id))


DETAIL_FIELDS = {"cover_face_id", "hidden", "active_from", "active_to"}


async def _check_cover(catalog: Catalog, person_id: str, face_id: str | None) -> None:
    if face_id is None:
        return
    face = await catalog.get_face(face_id)
    if face is None or face.person_id != person_id:
        raise Conflict("The cover must be one of this person's own faces.")


@router.delete("/{person_id}", status_code=204, response_class=Response, dependencies=EDIT,
               summary="Delete a person; their faces become unknown, photos stay (to remove every trace: erase)")
async def delete_person(person_id: str, stores: StoresDep, request: Request) -> Response:
    person = await person_or_404(stores.catalog, person_id)
    recorder = ActionRecorder(request, stores, "person.delete", f"Deleted {person.name}")
    await recorder.remember_faces(await all_faces_of(stores.catalog, person_id))
    recorder.deleted_person(person)
    if not await stores.catalog.delete_person(person_id):
        raise NotFound(f"No person with id {person_id!r}.")
    await audit(request, "person.delete", "person", person_id, before={"name": person.name})
    action = await recorder.save()
    return Response(status_code=204, headers={"Facetag-Undo": action.undo_url})


async def all_faces_of(catalog: Catalog, person_id: str) -> list[FaceRecord]:
    return [face async for face in iter_faces(catalog, FaceQuery(person_id=person_id))]


@router.post("/{person_id}/merge", response_model=PersonOut, responses=errors(409), dependencies=EDIT,
             summary="Merge this person into another: their faces move over and this person is removed")
async def merge_person(person_id: str, body: PersonMergeIn, stores: StoresDep, request: Request) -> PersonOut:
    source = await person_or_404(stores.catalog, person_id)
    target = await person_or_404(stores.catalog, body.into)
    recorder = ActionRecorder(request, stores, "person.merge", f"Merged {source.name} into {target.name}")
    await recorder.remember_faces(await all_faces_of(stores.catalog, person_id))
    recorder.deleted_person(source)
    target = await stores.catalog.merge_people(person_id, body.into)
    await audit(request, "person.merge", "person", person_id, before={"name": source.name},
                after={"into": target.id, "name": target.name})
    return person_out(await summary_of(stores.catalog, target.id), await recorder.save())


@router.post("/{person_id}/split", response_model=SplitOut, responses=errors(409), dependencies=EDIT,
             summary="Move some of this person's faces to another person, or a new one (siblings taken for one)",
             description="Faces that are not this person's are skipped and listed. One undoable action.")
async def split_person(person_id: str, body: SplitIn, stores: StoresDep, request: Request) -> SplitOut:
    catalog = stores.catalog
    source = await person_or_404(catalog, person_id)
    faces = [f for f in await asyncio.gather(*(catalog.get_face(fid) for fid in dict.fromkeys(body.face_ids)))
             if f is not None and f.person_id == person_id]
    moving = {f.id for f in faces}
    skipped = [fid for fid in dict.fromkeys(body.face_ids) if fid not in moving]
    if not faces:
        raise Conflict(f"None of these faces is {source.name}'s; nothing to split off.")
    recorder = ActionRecorder(request, stores, "person.split", "")
    target_id = await resolve_person(catalog, body.person_id, body.name, recorder)
    assert target_id is not None  # the body names someone
    if target_id == person_id:
        raise Conflict("Split the faces off to someone else, not the same person.")
    target = await person_or_404(catalog, target_id)
    recorder.action.summary = f"Moved {faces_phrase(len(faces))} from {source.name} to {target.name}"
    await recorder.remember_faces(faces)
    by = actor_of(request)
    for face in faces:
        with contextlib.suppress(NotFound):  # deleted meanwhile
            await catalog.set_person_label(face.id, target_id, by=by, via=LabelVia.split_off)
    action = await recorder.save()
    return SplitOut(moved=len(faces), skipped=skipped, person=person_out(await summary_of(catalog, target_id)),
                    action=action)


@router.get("/{person_id}/faces", response_model=FacePage, dependencies=READ,
            summary="The faces labelled as this person, by photo")
async def person_faces(
    person_id: str,
    stores: StoresDep,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FacePage:
    await person_or_404(stores.catalog, person_id)
    query = FaceQuery(person_id=person_id, after=decode(FaceKey, cursor), limit=limit + 1, load_descriptor=False)
    faces, next_cursor = cut(await stores.catalog.list_faces(query), limit, query.face_key)
    people = PeopleCache(stores.catalog)
    await people.load({pid for f in faces for pid in (f.person_id, *f.not_person_ids) if pid})
    return FacePage(items=[await face_out(f, people) for f in faces], next_cursor=next_cursor)


@router.get("/{person_id}/export", response_class=FileResponse, responses={200: ZIP}, dependencies=ADMIN,
            summary="Everything stored about a person: every photo they are in, their face boxes, name and dates")
async def export_person(person_id: str, request: Request, stores: StoresDep, settings: SettingsDep) -> FileResponse:
    person = await person_or_404(stores.catalog, person_id)
    exports = settings.data_dir / "exports"
    exports.mkdir(parents=True, exist_ok=True)
    path = await person_export.export_person(stores, person.id, exports)
    await audit(request, "person.export", "person", person.id, after={"name": person.name})
    return FileResponse(path, media_type="application/zip", background=BackgroundTask(path.unlink, missing_ok=True),
                        headers={"Content-Disposition": content_disposition("attachment",
                                                                            f"facetag-{person.name}.zip")})


@router.post("/{person_id}/erase", response_model=ErasureReport, dependencies=ADMIN,
             summary="Erase a person for good: their faces, chips, descriptors, dataset entries and the models "
                     "that learnt them; a model without them is trained",
             description="Their photos stay (others may be in them). The report lists what went, and `leftovers` "
                         "what a check found afterwards (empty when nothing is left).")
async def erase_person(person_id: str, request: Request, stores: StoresDep, celery: CeleryDep) -> ErasureReport:
    report = await erasure.erase_person(stores, person_id)
    if report.models_withdrawn:
        params: dict[str, object] = {"force": True, "trigger": "erasure"}
        report.retrain_job_id = (await start_job(stores, celery, "train", TRAIN_MODEL, params)).id
    await audit(request, "person.erase", "person", report.reference,
                after={"faces_removed": report.faces_removed, "models_withdrawn": report.models_withdrawn,
                       "datasets_rewritten": report.datasets_rewritten})
    person_changed(request, person_id, "person.erase")
    return report
