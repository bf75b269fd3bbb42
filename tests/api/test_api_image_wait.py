"""GET /v1/images/{id}?wait=: one request that is answered when the photo finishes, instead of polling."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from api_client import Api

from services.core.domain import ImageStatus
from services.core.event_bus import EventBus
from services.core.event_hub import EventHub
from services.core.events import Event, EventKind


def finish_later(api: Api, image_id: str, status: ImageStatus, kind: EventKind, after: float) -> threading.Thread:
    """What a classifier does, ``after`` seconds from now: the catalog says finished, then the event says so."""
    def finish() -> None:
        time.sleep(after)
        api.run(api.catalog.set_image_status, image_id, status, None)
        bus: EventBus = api.client.app.state.event_bus  # type: ignore[attr-defined]
        bus.publish(Event(kind=kind, image_id=image_id))

    thread = threading.Thread(target=finish)
    thread.start()
    return thread


def hub_listening(api: Api) -> None:
    hub: EventHub = api.client.app.state.event_hub  # type: ignore[attr-defined]
    api.run(asyncio.wait_for, hub.listening.wait(), 10)


@pytest.mark.parametrize(("status", "kind"), [(ImageStatus.done, EventKind.photo_done),
                                              (ImageStatus.failed, EventKind.photo_failed)])
def test_a_waiting_request_is_answered_when_the_photo_finishes(api: Api, status: ImageStatus, kind: EventKind) -> None:
    hub_listening(api)
    image = api.add_image(1)
    api.run(api.catalog.set_image_status, image.id, ImageStatus.classifying, None)
    other = api.add_image(2)
    finish_later(api, other.id, ImageStatus.done, EventKind.photo_done, 0.2)  # another photo's news: still waiting
    finisher = finish_later(api, image.id, status, kind, 1.0)
    asked = time.monotonic()
    response = api.client.get(f"/v1/images/{image.id}", params={"wait": 40})
    waited = time.monotonic() - asked
    finisher.join()
    assert response.status_code == 200, response.text
    assert response.json()["status"] == status.value
    assert 0.9 < waited < 20, f"answered after {waited:.1f} s; the photo finished after 1 s"


def test_a_finished_photo_is_answered_at_once_and_an_unfinished_one_when_the_time_is_up(api: Api) -> None:
    hub_listening(api)
    done = api.add_image(1)
    api.run(api.catalog.set_image_status, done.id, ImageStatus.done, None)
    asked = time.monotonic()
    assert api.client.get(f"/v1/images/{done.id}", params={"wait": 30}).json()["status"] == "done"
    assert time.monotonic() - asked < 10

    busy = api.add_image(2)
    api.run(api.catalog.set_image_status, busy.id, ImageStatus.detecting, None)
    response = api.client.get(f"/v1/images/{busy.id}", params={"wait": 0.5})
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "detecting"


@pytest.mark.parametrize("wait", ["61", "-1", "soon", "nan"])
def test_a_wait_out_of_range_is_refused_with_the_limits(api: Api, wait: str) -> None:
    image = api.add_image(1)
    response = api.client.get(f"/v1/images/{image.id}", params={"wait": wait})
    assert response.status_code == 422, response.text
    assert "wait" in response.text


def test_waiting_for_a_photo_that_does_not_exist_is_a_404(api: Api) -> None:
    response = api.client.get("/v1/images/no-such-photo", params={"wait": 5})
    assert response.status_code == 404
    assert "no-such-photo" in response.text
