"""Corrections that can be undone as one step: record what they change, put it back on request."""

from __future__ import annotations

import asyncio
from datetime import datetime

from fastapi import Request
from pydantic import BaseModel, Field

from services.core.catalog import FaceQuery
from services.core.domain import Action, FaceLabelState, FaceRecord, LabelSource, Person, new_id
from services.core.errors import Conflict, NotFound
from services.core.stores import Stores
from services.gateway.live_events import corrections
from services.gateway.security.audit import audit
from services.gateway.security.policy import principal_of

READ_CONCURRENCY = 16


class ActionOut(BaseModel):
    id: str
    kind: str
    summary: str
    actor: str
    created_at: datetime
    undone_at: datetime | None
    faces: int = Field(description="Faces the action changed.")
    undo_url: str = Field(description="POST here to undo it.")


class UndoResult(BaseModel):
    action: ActionOut
    faces_restored: int
    faces_left: int = Field(description="Faces changed by someone since: left as they are now.")
    people_restored: int
    people_removed: int


def action_out(action: Action) -> ActionOut:
    return ActionOut(id=action.id, kind=action.kind, summary=action.summary, actor=action.actor,
                     created_at=action.created_at, undone_at=action.undone_at, faces=len(action.faces),
                     undo_url=f"/v1/actions/{action.id}/undo")


def faces_phrase(n: int) -> str:
    return f"{n} face" if n == 1 else f"{n} faces"


def actor_of(request: Request) -> str:
    principal = principal_of(request)
    return principal.name if principal else "anonymous"


def _changed_by_a_person(now: FaceLabelState, left: FaceLabelState | None) -> bool:
    """Whether a person changed the face since the action left it so: then undo leaves it alone. A model's new
    guess is no such change (a "not X" asks for one at once)."""
    if left is None:
        return True
    if sorted(now.not_person_ids) != sorted(left.not_person_ids):
        return True
    return now.label_source == LabelSource.person and (now.person_id, now.label_source) != (left.person_id,
                                                                                           left.label_source)


class ActionRecorder:
    """Collects the state a correction changes; ``save`` stores it as one undoable action."""

    def __init__(self, request: Request, stores: Stores, kind: str, summary: str) -> None:
        self.request, self.stores = request, stores
        self.action = Action(id=new_id(), kind=kind, summary=summary, actor=actor_of(request))
        self._seen: set[str] = set()

    async def remember_faces(self, faces: list[FaceRecord]) -> None:
        """The faces as they are before the change (the first snapshot of a face wins)."""
        for face in faces:
            if face.id not in self._seen:
                self._seen.add(face.id)
                self.action.faces.append(face.label_state())

    def deleted_face(self, face: FaceRecord) -> None:
        self.action.deleted_faces.append(face)

    def created_person(self, person_id: str) -> None:
        self.action.created_people.append(person_id)

    def deleted_person(self, person: Person) -> None:
        self.action.deleted_people.append(person)

    def changed_person(self, before: Person) -> None:
        self.action.people_before.append(before)

    async def save(self) -> ActionOut:
        catalog = self.stores.catalog
        found = await current_faces(self.stores, self.action.faces)
        self.action.faces_after = [face.label_state() for face in found]
        await catalog.add_action(self.action)
        corrections(self.request, self.action.kind, self.action.faces, found, _people_of(self.action))
        await audit(self.request, self.action.kind, "action", self.action.id,
                    after={"summary": self.action.summary, "faces": len(self.action.faces)})
        return action_out(self.action)


async def current_faces(stores: Stores, states: list[FaceLabelState]) -> list[FaceRecord]:
    """These faces as stored now (those deleted meanwhile left out)."""
    limit = asyncio.Semaphore(READ_CONCURRENCY)

    async def now(face_id: str) -> FaceRecord | None:
        async with limit:
            return await stores.catalog.get_face(face_id)

    return [face for face in await asyncio.gather(*(now(s.id) for s in states)) if face is not None]


def _people_of(action: Action) -> set[str]:
    """The people an action created, deleted or changed."""
    return {*action.created_people, *(p.id for p in [*action.deleted_people, *action.people_before])}


async def _add_back(stores: Stores, faces: list[FaceRecord]) -> int:
    """Deleted faces return as they were; a chip the orphan sweep removed meanwhile is made again by re-detection,
    so the face keeps its label but loses the chip link; a face whose photo is gone stays gone."""
    added = 0
    for face in faces:
        if face.chip_key and not await asyncio.to_thread(stores.blobs.exists, face.chip_key):
            face = face.model_copy(update={"chip_key": None})
        if face.person_id is not None and await stores.catalog.get_person(face.person_id) is None:
            face = face.model_copy(update={"person_id": None, "label_source": None})
        try:
            await stores.catalog.add_face(face)
        except NotFound:
            continue
        added += 1
    return added


async def undo(request: Request, stores: Stores, action: Action) -> UndoResult:
    """Put back what ``action`` changed: people first (faces may point at them), then the faces nobody changed
    since, then remove people it created that nobody uses now."""
    catalog = stores.catalog
    if action.undone_at is not None:
        raise Conflict(f"This was undone already, at {action.undone_at.isoformat()}.")
    for person in [*action.deleted_people, *action.people_before]:
        await catalog.restore_person(person)
    left_as = {s.id: s for s in action.faces_after}
    current = await asyncio.gather(*(catalog.get_face(s.id) for s in action.faces))
    now = {face.id: face.label_state() for face in current if face is not None}
    untouched = [s for s in action.faces if s.id in now and not _changed_by_a_person(now[s.id], left_as.get(s.id))]
    restored = await catalog.restore_face_labels(untouched)
    restored += await _add_back(stores, action.deleted_faces)
    removed = 0
    for person_id in action.created_people:
        if not await catalog.list_faces(FaceQuery(person_id=person_id, limit=1)) and \
                await catalog.delete_person(person_id):
            removed += 1
    await catalog.mark_action_undone(action.id)
    corrections(request, "action.undo", list(now.values()), await current_faces(stores, action.faces),
                _people_of(action))
    undone = await catalog.get_action(action.id) or action
    await audit(request, "action.undo", "action", action.id,
                after={"kind": action.kind, "faces_restored": restored, "people_restored":
                       len(action.deleted_people) + len(action.people_before), "people_removed": removed})
    return UndoResult(action=action_out(undone), faces_restored=restored,
                      faces_left=len(now) - len(untouched), people_restored=len(action.deleted_people) +
                      len(action.people_before), people_removed=removed)
