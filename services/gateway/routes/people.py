"""People: list, create, rename, delete and merge; their faces."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response

from services.core.catalog import Catalog, FaceQuery
from services.core.catalog.rules import name_key
from services.core.domain import Person, PersonSummary
from services.core.errors import Conflict, NotFound
from services.gateway.deps import StoresDep
from services.gateway.people_schemas import FacePage, PersonIn, PersonMergeIn, PersonOut
from services.gateway.presenters import PeopleCache, face_out
from services.gateway.schemas import ErrorOut

router = APIRouter(prefix="/v1/people", tags=["people"])
_ERRORS: dict[int | str, dict[str, object]] = {code: {"model": ErrorOut} for code in (404, 409, 422, 503)}


def person_out(person: PersonSummary) -> PersonOut:
    cover = person.cover_face_id
    return PersonOut(
        **person.model_dump(include={"id", "name", "created_at", "face_count", "image_count", "cover_face_id"}),
        cover_chip_url=f"/v1/faces/{cover}/chip" if cover else None,
        photos_url=f"/v1/images?person={quote(person.name, safe='')}",
    )


async def summary_of(catalog: Catalog, person_id: str) -> PersonSummary:
    for person in await catalog.list_people():
        if person.id == person_id:
            return person
    raise NotFound(f"No person with id {person_id!r}.")


async def person_or_404(catalog: Catalog, person_id: str) -> Person:
    person = await catalog.get_person(person_id)
    if person is None:
        raise NotFound(f"No person with id {person_id!r}.")
    return person


async def person_named(catalog: Catalog, name: str) -> Person:
    """The person with this name (case-insensitively), created if there is none."""
    found = await catalog.find_person(name)
    if found is not None:
        return found
    try:
        return await catalog.create_person(name)
    except Conflict:  # created by someone else a moment ago
        found = await catalog.find_person(name)
        if found is None:
            raise
        return found


async def resolve_person(catalog: Catalog, person_id: str | None, name: str | None) -> str | None:
    """The id a request names a person by: an existing id (404 if unknown) or a name (created if new)."""
    if person_id is not None:
        return (await person_or_404(catalog, person_id)).id
    if name is not None:
        return (await person_named(catalog, name)).id
    return None


@router.get("", response_model=list[PersonOut], summary="Everyone, by name, with face and photo counts")
async def list_people(
    stores: StoresDep,
    q: Annotated[str | None, Query(max_length=100, description="Only names containing this text, "
                                                               "case-insensitively (plain text).")] = None,
) -> list[PersonOut]:
    people = await stores.catalog.list_people()
    if q and q.strip():
        needle = name_key(q)
        people = [p for p in people if needle in name_key(p.name)]
    return [person_out(p) for p in people]


@router.post("", status_code=201, response_model=PersonOut, responses=_ERRORS, summary="Add a person")
async def create_person(body: PersonIn, stores: StoresDep, response: Response) -> PersonOut:
    person = await stores.catalog.create_person(body.name)
    response.headers["Location"] = f"/v1/people/{person.id}"
    return person_out(PersonSummary(**person.model_dump()))


@router.get("/{person_id}", response_model=PersonOut, responses=_ERRORS, summary="One person")
async def get_person(person_id: str, stores: StoresDep) -> PersonOut:
    return person_out(await summary_of(stores.catalog, person_id))


@router.patch("/{person_id}", response_model=PersonOut, responses=_ERRORS,
              summary="Rename a person; the new name shows on every face and photo")
async def rename_person(person_id: str, body: PersonIn, stores: StoresDep) -> PersonOut:
    await person_or_404(stores.catalog, person_id)  # an unknown id is 404 even when the name is taken
    await stores.catalog.rename_person(person_id, body.name)
    return person_out(await summary_of(stores.catalog, person_id))


@router.delete("/{person_id}", status_code=204, response_class=Response, responses=_ERRORS,
               summary="Delete a person; their faces become unknown, photos stay")
async def delete_person(person_id: str, stores: StoresDep) -> Response:
    if not await stores.catalog.delete_person(person_id):
        raise NotFound(f"No person with id {person_id!r}.")
    return Response(status_code=204)


@router.post("/{person_id}/merge", response_model=PersonOut, responses=_ERRORS,
             summary="Merge this person into another: their faces move over and this person is removed")
async def merge_person(person_id: str, body: PersonMergeIn, stores: StoresDep) -> PersonOut:
    target = await stores.catalog.merge_people(person_id, body.into)
    return person_out(await summary_of(stores.catalog, target.id))


@router.get("/{person_id}/faces", response_model=FacePage, responses=_ERRORS,
            summary="The faces labelled as this person, by photo")
async def person_faces(
    person_id: str,
    stores: StoresDep,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> FacePage:
    await person_or_404(stores.catalog, person_id)
    faces = await stores.catalog.list_faces(FaceQuery(person_id=person_id, offset=offset, limit=limit))
    people = PeopleCache(stores.catalog)
    return FacePage(items=[await face_out(f, people) for f in faces], offset=offset, limit=limit)
