"""People who may be one person entered twice, offered for merging; "not the same" is remembered.

Registered before the people router, so ``/v1/people/duplicates`` is this list and not a person's id.
"""

from __future__ import annotations

import time
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from services.core.catalog import Catalog
from services.core.domain import PeopleQuery, PersonSummary
from services.core.duplicates import Candidate, Centres, face_centres, find_duplicates
from services.gateway.deps import StoresDep
from services.gateway.fixed_paths import refuse_other_methods
from services.gateway.inputs import StrictBody
from services.gateway.people_schemas import PersonOut
from services.gateway.responses import errors
from services.gateway.routes.people import person_or_404, person_out
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

PATH = "/v1/people/duplicates"
router = APIRouter(prefix=PATH, tags=["people"])
CENTRES_SECONDS = 30.0


# Otherwise PATCH and DELETE would reach the people router's /{person_id}, as if "duplicates" were an id.
refuse_other_methods(router, PATH, "GET")


class DuplicateReasonOut(BaseModel):
    kind: Literal["name", "face"] = Field(description="name: the names are alike; face: their named faces are.")
    score: float = Field(description="name: how alike the normalised names are, 0-100 (token-sort ratio, higher is "
                                     "closer); face: the distance between the two people's mean face descriptors "
                                     "(lower is closer).")
    threshold: float = Field(description="name: the least score offered; face: the largest distance offered (the "
                                         "descriptor network's threshold for taking a face for a person).")


class DuplicateOut(BaseModel):
    merge: PersonOut = Field(description="The one to merge (fewer faces; the later one on a tie).")
    into: PersonOut = Field(description="The one to keep.")
    reasons: list[DuplicateReasonOut] = Field(description="Why they are offered: one or both of name and face.")
    message: str = Field(examples=["Ben Afflek and Ben Affleck may be the same person"])


class NotSameIn(StrictBody):
    first_id: str = Field(min_length=1, max_length=100, description="A person's id.")
    second_id: str = Field(min_length=1, max_length=100, description="Another person's id.")


@router.get("", response_model=list[DuplicateOut], dependencies=[allow(Policy.read)],
            summary="People who may be the same person (similar names or faces), most likely first",
            description="Pairs someone said are not the same person are never listed again. Merge one with "
                        "`POST /v1/people/{merge.id}/merge` into `into.id`.")
async def list_duplicates(
    request: Request,
    stores: StoresDep,
    limit: Annotated[int, Query(ge=1, le=500, description="At most this many pairs.")] = 50,
) -> list[DuplicateOut]:
    everyone = await stores.catalog.all_people()
    pairs = find_duplicates([(p.id, p.name) for p in everyone], await stores.catalog.not_same_pairs(),
                            await _centres(request, stores.catalog))[:limit]
    # Counts only for the people offered (one indexed aggregate), not for everyone.
    shown = sorted({person_id for candidate in pairs for person_id in candidate.pair})
    people = {p.id: p for p in (await stores.catalog.people_page(PeopleQuery(ids=shown))).items} if shown else {}
    return [_out(candidate, people) for candidate in pairs if all(p in people for p in candidate.pair)]  # none gone


async def _centres(request: Request, catalog: Catalog) -> Centres:
    """The people's mean face descriptors, read again at most every CENTRES_SECONDS: reading every named face
    takes seconds in a large library (measured 6 s for 10,000 on SQLite), and the People page asks on every
    change. Names, "not the same" and who exists are always read fresh, so a merged person is never offered."""
    cached: tuple[float, Centres] | None = getattr(request.app.state, "duplicate_centres", None)
    if cached is not None and time.monotonic() - cached[0] < CENTRES_SECONDS:
        return cached[1]
    centres = await face_centres(catalog)
    request.app.state.duplicate_centres = (time.monotonic(), centres)
    return centres


def _out(candidate: Candidate, people: dict[str, PersonSummary]) -> DuplicateOut:
    # Kept: the one with more faces, else the older one (the name people have used longer).
    into, merge = sorted((people[person_id] for person_id in candidate.pair),
                         key=lambda p: (-p.face_count, p.created_at, p.id))
    return DuplicateOut(
        merge=person_out(merge),
        into=person_out(into),
        reasons=[DuplicateReasonOut(kind=r.kind, score=r.score, threshold=r.threshold) for r in candidate.reasons],
        message=f"{merge.name} and {into.name} may be the same person",
    )


@router.post("/not-same", status_code=204, response_class=Response, responses=errors(404),
             dependencies=[allow(Policy.edit)],
             summary="Say two people are not the same person: they are never offered for merging again")
async def not_same(body: NotSameIn, stores: StoresDep, request: Request) -> Response:
    first = await person_or_404(stores.catalog, body.first_id)
    second = await person_or_404(stores.catalog, body.second_id)
    await stores.catalog.mark_not_same(first.id, second.id)
    await audit(request, "person.not_same", "person", first.id,
                after={"not_same_as": second.id, "names": [first.name, second.name]})
    return Response(status_code=204)
