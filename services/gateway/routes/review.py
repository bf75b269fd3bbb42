"""The review queue: the faces whose answer teaches the model most, answered one key at a time."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.core.catalog import FaceQuery
from services.core.cursors import ReviewKey, cut, decode
from services.core.domain import LabelVia
from services.core.errors import Conflict
from services.core.queue import CLASSIFY_IMAGE
from services.gateway.deps import OutboxDep, StoresDep
from services.gateway.paging import Cursor
from services.gateway.presenters import PeopleCache, face_out
from services.gateway.responses import errors
from services.gateway.review_schemas import Answer, ReviewAnswerIn, ReviewAnswerOut, ReviewItem, ReviewPage
from services.gateway.routes.faces import face_or_404
from services.gateway.routes.people import resolve_person
from services.gateway.security.policy import Policy, allow
from services.gateway.undo import ActionRecorder, actor_of

router = APIRouter(prefix="/v1/review", tags=["review"])


@router.get("", response_model=ReviewPage, dependencies=[allow(Policy.read)],
            summary="Faces to review, the ones whose answer teaches the model most first",
            description="Faces near the line between a name and unknown, between two people, or guessed as "
                        "someone the model knows from few faces; each with the guess, its confidence and why "
                        "it is asked. Answering (or naming the face anywhere) takes it out of the queue.")
async def review_queue(stores: StoresDep, cursor: Cursor = None,
                       limit: Annotated[int, Query(ge=1, le=100)] = 20) -> ReviewPage:
    people = PeopleCache(stores.catalog)
    query = FaceQuery(to_review=True, after=decode(ReviewKey, cursor), limit=limit + 1, load_descriptor=False)
    faces, next_cursor = cut(await stores.catalog.list_faces(query), limit, query.face_key)
    await people.load({pid for f in faces for pid in (f.person_id, f.review and f.review.nearest_id,
                                                      f.review and f.review.runner_up_id, *f.not_person_ids) if pid})
    items = []
    for face in faces:
        if face.review is None:
            continue
        items.append(ReviewItem(
            face=await face_out(face, people), guess=await people.ref(face.person_id),
            nearest=await people.ref(face.person_id or face.review.nearest_id), confidence=face.confidence,
            score=face.review.score, reason=face.review.reason, runner_up=await people.ref(face.review.runner_up_id),
            photo_url=f"/photo.html?id={face.image_id}", thumbnail_url=f"/v1/images/{face.image_id}/thumbnail"))
    return ReviewPage(items=items, next_cursor=next_cursor)


@router.post("/{face_id}", response_model=ReviewAnswerOut, responses=errors(409), dependencies=[allow(Policy.edit)],
             summary="Answer for one face: yes (the guess is right), no (it is not them), a name, or unknown",
             description="`no` is sticky: no model names the face that person again, and the face is named afresh "
                         "without them. 409 for yes or no when the model has no guess.")
async def answer(face_id: str, body: ReviewAnswerIn, stores: StoresDep, outbox: OutboxDep,
                 request: Request) -> ReviewAnswerOut:
    catalog, by = stores.catalog, actor_of(request)
    face = await face_or_404(catalog, face_id)
    people = PeopleCache(catalog)
    asked = face.person_id or (face.review.nearest_id if face.review else None)
    asked_name = await people.name(asked)
    if body.answer in (Answer.yes, Answer.no) and (asked is None or asked_name is None):
        raise Conflict("The model has no guess for this face: answer with a name, or unknown.")
    recorder = ActionRecorder(request, stores, f"review.{body.answer.value}", "")
    await recorder.remember_faces([face])
    if body.answer == Answer.no:
        assert asked is not None
        changed = await catalog.add_not_person(face.id, asked, by=by, via=LabelVia.review)
        await outbox.send(CLASSIFY_IMAGE, face.image_id, (face.id,))  # its next best guess, without them
        recorder.action.summary = f"Not {asked_name}"
    else:
        person_id = None if body.answer == Answer.unknown else asked
        if body.answer == Answer.name:
            person_id = await resolve_person(catalog, body.person_id, body.name, recorder)
        changed = await catalog.set_person_label(face.id, person_id, by=by, via=LabelVia.review)
        named = await people.name(person_id)
        recorder.action.summary = f"Named {named}" if named else "Marked unknown"
    return ReviewAnswerOut(face=await face_out(changed, people), action=await recorder.save())
