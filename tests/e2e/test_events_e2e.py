"""GET /v1/events on the running service: an upload's events arrive as server-sent events, on the embedded
default (Unix sockets between serve's processes) and on the cluster (Redis pub/sub between gateway and workers)."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_fixtures import Service

pytestmark = pytest.mark.e2e

WAIT = 120.0  # seconds for a photo to go through detection and classification on a busy machine


class EventStream:
    """The messages of one SSE connection, read on a thread: (event, id, data) as they arrive."""

    def __init__(self, response: httpx.Response) -> None:
        self.messages: queue.Queue[tuple[str, str | None, dict[str, Any]]] = queue.Queue()
        self._response = response
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        event, event_id, data = "message", None, []
        try:
            for line in self._response.iter_lines():
                if line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("id:"):
                    event_id = line[3:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].strip())
                elif not line and data:
                    self.messages.put((event, event_id, json.loads("\n".join(data))))
                    event, event_id, data = "message", None, []
        except httpx.HTTPError:
            pass  # closed by the test

    def next(self, timeout: float = WAIT) -> tuple[str, str | None, dict[str, Any]]:
        return self.messages.get(timeout=timeout)

    def until(self, event: str, image_id: str) -> list[tuple[str, str | None, dict[str, Any]]]:
        """Every message up to and including ``event`` for ``image_id``."""
        seen = []
        while True:
            message = self.next()
            seen.append(message)
            if message[0] == event and message[2].get("image_id") == image_id:
                return seen


@contextmanager
def events(service: Service, *, params: dict[str, str] | None = None, headers: dict[str, str] | None = None
           ) -> Iterator[EventStream]:
    with service.client.stream("GET", "/v1/events", params=params, headers=headers,
                               timeout=httpx.Timeout(10, read=None)) as response:
        assert response.status_code == 200, response.read()
        assert response.headers["content-type"].startswith("text/event-stream")
        stream = EventStream(response)
        assert stream.next(10)[0] == "ready"
        yield stream


def test_an_uploads_events_arrive_in_order_and_a_reconnect_gets_what_it_missed(service: Service,
                                                                                facedata: Path) -> None:
    with events(service, params={"kinds": "photo.queued,photo.detected,photo.done"}) as stream:
        accepted = service.upload(facedata / "facetag_samples" / "ben_mat_4.jpg")
        assert accepted.status_code == 202, accepted.text
        image_id = accepted.json()["id"]
        seen = [m for m in stream.until("photo.done", image_id) if m[2].get("image_id") == image_id]
    assert [m[0] for m in seen] == ["photo.queued", "photo.detected", "photo.done"], seen
    queued, detected, done = (m[2] for m in seen)
    assert all(m[1] == m[2]["id"] for m in seen)  # the SSE id is the event's id
    assert queued["data"]["filename"] == "ben_mat_4.jpg"
    assert detected["data"]["faces"] == done["data"]["faces"] == 2
    assert done["data"]["names"] == []  # nobody is named before a model is trained
    assert service.client.get(f"/v1/images/{image_id}").json()["status"] == "done"  # the event came after

    # Reconnecting after the first event: the two that followed come from the gateway's buffer.
    with events(service, headers={"Last-Event-ID": seen[0][1] or ""}) as again:
        replayed = [again.next(10) for _ in range(2)]
    assert [m[1] for m in replayed] == [seen[1][1], seen[2][1]]


def test_a_reconnect_after_too_long_is_told_to_resync(service: Service) -> None:
    with events(service, headers={"Last-Event-ID": "0" * 32}) as stream:
        event, event_id, data = stream.next(10)
    assert event == "resync" and event_id is None and "no longer buffered" in data["reason"]


def test_the_stream_needs_credentials_and_known_kinds(service: Service) -> None:
    anonymous = httpx.get(f"{service.url}/v1/events", timeout=10)
    assert anonymous.status_code == 401
    unknown = service.client.get("/v1/events", params={"kinds": "photo.done,photo.eaten"})
    assert unknown.status_code == 422
    assert "photo.eaten" in unknown.json()["message"] and "photo.queued" in unknown.json()["message"]
