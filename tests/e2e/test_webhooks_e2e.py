"""Live events leave the embedded service (facetag serve) over HTTP and MQTT: an upload's photo.done reaches an
admin's webhook and the upload's callback_url, each correctly signed; a receiver that fails twice gets retries and
the delivery log shows them; and the events arrive at a real Mosquitto."""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from mqtt_listener import Listener
from service_fixtures import Service, run_embedded
from webhook_receiver import Receiver

from services.core.webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_KIND_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    callback_key,
    verify,
)
from services.gateway.live_outputs.mqtt_publisher import BrokerAddress

pytestmark = pytest.mark.e2e
PREFIX = "facetag-e2e"


@dataclass
class Run:
    service: Service
    good: Receiver
    flaky: Receiver
    hooks: dict[str, dict[str, str]]
    token: str
    image_id: str
    mqtt: Listener


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory, mqtt_url: str, facedata: Path) -> Iterator[Run]:
    """One service, two receivers (one fails twice first), an MQTT listener, and one photo uploaded with a
    callback_url."""
    with Receiver() as good, Receiver([500, 500]) as flaky:
        listener = Listener(BrokerAddress.parse(mqtt_url), f"{PREFIX}/events/#")
        services = run_embedded(tmp_path_factory.mktemp("webhooks"), stalled_after=60,
                                callback_allow_private="true",  # the receivers are on loopback
                                webhook_retry_delays="0.5,1,1", mqtt_url=mqtt_url, mqtt_topic_prefix=PREFIX)
        service = next(services)
        try:
            hooks = {}
            for name, receiver in (("good", good), ("flaky", flaky)):
                made = service.client.post("/v1/admin/webhooks", json={"url": receiver.url, "kinds": ["photo.done"],
                                                                       "description": name})
                assert made.status_code == 201, made.text
                hooks[name] = made.json()
            token = service.token("editor", ["images:write"])
            with (facedata / "facetag_samples" / "jerry.jpg").open("rb") as photo:
                uploaded = service.client.post("/v1/images", files={"file": ("jerry.jpg", photo, "image/jpeg")},
                                               data={"callback_url": f"{good.url}/callback"},
                                               headers={"Authorization": f"Bearer {token}"})
            assert uploaded.status_code == 202, uploaded.text
            image_id = uploaded.json()["id"]
            assert service.wait_finished(image_id)["status"] == "done"
            yield Run(service, good, flaky, hooks, token, image_id, listener)
        finally:
            listener.close()
            services.close()


def _signed(request: object, secret: str) -> bool:
    headers, body = request.headers, request.body  # type: ignore[attr-defined]
    return verify(secret, headers[TIMESTAMP_HEADER], body, headers[SIGNATURE_HEADER])


def test_the_webhook_and_the_callback_get_the_photos_done_event_signed(run: Run) -> None:
    [hooked] = run.good.wait_for(1, path="/hook")
    [called] = run.good.wait_for(1, path="/hook/callback")
    for request, secret in ((hooked, run.hooks["good"]["secret"]), (called, callback_key(run.token))):
        event = json.loads(request.body)
        assert (event["kind"], event["image_id"]) == ("photo.done", run.image_id)
        assert request.headers[EVENT_KIND_HEADER] == "photo.done" and request.headers[EVENT_ID_HEADER] == event["id"]
        assert _signed(request, secret)
        assert not _signed(request, "some other secret")
    assert json.loads(hooked.body)["id"] == json.loads(called.body)["id"]  # one event, two receivers


def test_a_failing_receiver_gets_retries_and_the_log_shows_them(run: Run) -> None:
    attempts = run.flaky.wait_for(3)
    assert [request.answered for request in attempts] == [500, 500, 204]
    assert len({request.headers[EVENT_ID_HEADER] for request in attempts}) == 1
    hook_id = run.hooks["flaky"]["id"]
    deadline = time.monotonic() + 10
    while True:  # the last attempt's result is saved just after the receiver answered it
        [delivery] = run.service.client.get(f"/v1/admin/webhooks/{hook_id}/deliveries").json()["items"]
        if delivery["state"] != "pending" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (delivery["kind"], delivery["state"], delivery["attempts"], delivery["last_status"]) == (
        "photo.done", "delivered", 3, 204)
    assert delivery["delivered_at"] is not None and delivery["last_error"] is None


def test_the_events_arrive_at_mosquitto(run: Run) -> None:
    seen: list[tuple[str, dict[str, object]]] = []
    try:
        while not any(topic.endswith("/photo.done") for topic, _ in seen):
            topic, payload, _ = run.mqtt.next(timeout=30)
            seen.append((topic, json.loads(payload)))
    except queue.Empty:
        raise AssertionError(f"no photo.done on MQTT; saw {seen}") from None
    mine = [(topic, event) for topic, event in seen if event.get("image_id") == run.image_id]
    assert f"{PREFIX}/events/photo.queued" in [topic for topic, _ in mine]
    assert f"{PREFIX}/events/photo.done" in [topic for topic, _ in mine]
