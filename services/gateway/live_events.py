"""The live events the gateway itself causes: uploads, names people give, changes to people.

Publishing never fails a request (see ``EventBus.publish``); these helpers only say what happened.
"""

from __future__ import annotations

from fastapi import Request

from services.core.domain import FaceLabelState, FaceRecord
from services.core.event_bus import EventBus
from services.core.events import Event, EventKind


def publish(request: Request, event: Event) -> None:
    bus: EventBus = request.app.state.event_bus
    bus.publish(event)


def face_named(request: Request, face: FaceRecord, change: str) -> None:
    """``face`` as it is now, named by a person: named, renamed, confirmed or marked unknown (``person_id``
    None). ``change``: what did it, e.g. face.name, review.confirm, person.merge, action.undo."""
    publish(request, Event(kind=EventKind.face_named, image_id=face.image_id, face_id=face.id,
                           person_id=face.person_id, data={"by": "person", "change": change}))


def person_changed(request: Request, person_id: str, change: str) -> None:
    """``change``: what was done, e.g. person.create, person.rename, person.merge, person.delete."""
    publish(request, Event(kind=EventKind.person_changed, person_id=person_id, data={"change": change}))


def corrections(request: Request, change: str, before: list[FaceLabelState], after: list[FaceRecord],
                people: set[str]) -> None:
    """After one correction (or its undo): each face whose name changed, then each person it touched (those
    named before or after on those faces, plus ``people``: created, deleted or restored)."""
    was = {state.id: state for state in before}
    for face in after:
        old = was.get(face.id)
        if old is None or (old.person_id, old.label_source) != (face.person_id, face.label_source):
            face_named(request, face, change)
    touched = people | {s.person_id for s in before if s.person_id} | {f.person_id for f in after if f.person_id}
    for person_id in sorted(touched):
        person_changed(request, person_id, change)
