"""The gateway's own live events: names people give and changes to people, as the event hub receives them
(over the embedded transport, from the gateway's own bus)."""

from __future__ import annotations

import asyncio

from api_client import Api

from services.core.event_hub import EventHub, Subscription
from services.core.events import Event, EventKind


def subscribe(api: Api) -> Subscription:
    hub: EventHub = api.client.app.state.event_hub  # type: ignore[attr-defined]
    api.run(asyncio.wait_for, hub.listening.wait(), 10)
    return hub.subscribe({EventKind.face_named, EventKind.person_changed})


def received(api: Api, events: Subscription, count: int) -> list[Event]:
    async def take() -> list[Event]:
        return [await asyncio.wait_for(anext(events), 10) for _ in range(count)]

    return api.run(take)


def test_names_and_people_changes_are_announced_and_so_is_their_undo(api: Api) -> None:
    face = api.add_face(api.add_image(1).id, 10)
    with subscribe(api) as events:
        ann = api.person("Ann")
        (created,) = received(api, events, 1)
        assert (created.kind, created.person_id, created.data) == (EventKind.person_changed, ann["id"],
                                                                   {"change": "person.create"})

        api.name_face(face.id, "Ann")
        (named,) = received(api, events, 1)
        assert (named.kind, named.face_id, named.image_id, named.person_id) == (
            EventKind.face_named, face.id, face.image_id, ann["id"])
        assert named.data == {"by": "person", "change": "face.name"}

        bob = api.person("Bob")
        received(api, events, 1)
        merged = api.client.post(f"/v1/people/{ann['id']}/merge", json={"into": bob["id"]})
        assert merged.status_code == 200, merged.text
        moved, *people = received(api, events, 3)
        assert (moved.kind, moved.face_id, moved.person_id, moved.data["change"]) == (
            EventKind.face_named, face.id, bob["id"], "person.merge")
        assert {(e.kind, e.person_id) for e in people} == {(EventKind.person_changed, ann["id"]),
                                                           (EventKind.person_changed, bob["id"])}

        undone = api.client.post(merged.json()["action"]["undo_url"])
        assert undone.status_code == 200, undone.text
        back, *_ = received(api, events, 3)
        assert (back.face_id, back.person_id, back.data["change"]) == (face.id, ann["id"], "action.undo")
