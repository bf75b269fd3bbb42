"""What GET /v1/events sends a client that falls behind or comes back: the route's stream on a real hub."""

from __future__ import annotations

import json
from pathlib import Path

from services.core.event_hub import EventHub
from services.core.event_socket import SocketTransport
from services.core.events import Event, EventKind
from services.gateway.routes.events import parse_kinds, stream


async def test_a_client_that_fell_behind_is_told_to_resync_then_gets_the_newest(tmp_path: Path) -> None:
    hub = EventHub(SocketTransport(tmp_path), queue_size=5)
    messages = stream(hub, frozenset(), None)
    assert (await anext(messages)).event == "ready"
    sent = [Event(kind=EventKind.photo_done, image_id=str(n)) for n in range(8)]
    for event in sent:  # the client reads nothing meanwhile
        hub.deliver(event)
    resync = await anext(messages)
    assert resync.event == "resync" and resync.id is None
    assert json.loads(str(resync.data)) == {"reason": "the client read too slowly", "dropped": 3}
    kept = [await anext(messages) for _ in range(5)]
    assert [m.id for m in kept] == [e.id for e in sent[3:]]
    assert [m.event for m in kept] == ["photo.done"] * 5
    assert json.loads(str(kept[0].data))["image_id"] == "3"
    await messages.aclose()
    assert hub.subscriber_count == 0  # a closed stream leaves no subscription behind


async def test_a_client_coming_back_gets_the_missed_events_of_its_kinds(tmp_path: Path) -> None:
    hub = EventHub(SocketTransport(tmp_path))
    sent = [Event(kind=kind) for kind in (EventKind.photo_queued, EventKind.face_named, EventKind.photo_done)]
    for event in sent:
        hub.deliver(event)
    messages = stream(hub, parse_kinds("photo.done, photo.queued"), sent[0].id)
    assert (await anext(messages)).event == "ready"
    replayed = await anext(messages)
    assert (replayed.event, replayed.id) == ("photo.done", sent[2].id)
    await messages.aclose()


async def test_a_client_is_told_to_resync_when_the_gateway_lost_events(tmp_path: Path) -> None:
    hub = EventHub(SocketTransport(tmp_path))
    messages = stream(hub, frozenset(), None)
    assert (await anext(messages)).event == "ready"
    hub.lost_events()  # what run() does once its transport is back after an outage
    hub.deliver(Event(kind=EventKind.photo_done))
    resync = await anext(messages)
    assert resync.event == "resync" and "lost its event source" in json.loads(str(resync.data))["reason"]
    assert (await anext(messages)).event == "photo.done"
    await messages.aclose()
