"""Live events published to a real Mosquitto (started by tests/servers.py with a password file): each event on
PREFIX/events/KIND, once however many gateways see it, and a retained online/offline status."""

from __future__ import annotations

import asyncio
import queue
import time
from collections.abc import Iterator

import pytest
from mqtt_listener import Listener
from servers import free_port

from services.core.events import Event, EventKind
from services.core.webhooks import WebhookStore
from services.gateway.live_outputs.mqtt_publisher import BrokerAddress, MqttPublisher

PREFIX = "facetag-test"


@pytest.fixture
def address(mqtt_url: str) -> BrokerAddress:
    return BrokerAddress.parse(mqtt_url)


@pytest.fixture
def listener(address: BrokerAddress) -> Iterator[Listener]:
    made = Listener(address, f"{PREFIX}/#")
    assert not made.connected.get(timeout=10).is_failure
    yield made
    made.close()


def _skip_status(listener: Listener) -> tuple[str, str, bool]:
    while True:
        message = listener.next()
        if message[0] != f"{PREFIX}/status":
            return message


async def test_events_arrive_once_with_an_online_then_offline_status(address: BrokerAddress, store: WebhookStore,
                                                                      listener: Listener) -> None:
    gateways = [MqttPublisher(address, PREFIX, store) for _ in range(2)]
    for gateway in gateways:
        gateway.start()
    assert await asyncio.to_thread(listener.next) == (f"{PREFIX}/status", "online", False)
    event = Event(kind=EventKind.photo_done, image_id="img1", data={"faces": 1, "names": ["Ada"]})
    await asyncio.gather(*(gateway.handle(event) for gateway in gateways))
    topic, payload, retained = await asyncio.to_thread(_skip_status, listener)
    assert (topic, retained) == (f"{PREFIX}/events/photo.done", False)
    assert Event.model_validate_json(payload) == event
    await asyncio.sleep(0.5)
    rest = [listener.messages.get_nowait() for _ in range(listener.messages.qsize())]
    assert [m for m in rest if m[0] != f"{PREFIX}/status"] == []  # two gateways, one message
    for gateway in gateways:
        await asyncio.to_thread(gateway.stop)
    statuses = [await asyncio.to_thread(listener.next) for _ in gateways]
    assert statuses == [(f"{PREFIX}/status", "offline", False)] * 2


async def test_a_new_subscriber_reads_the_retained_status(address: BrokerAddress, store: WebhookStore) -> None:
    gateway = MqttPublisher(address, PREFIX, store)
    gateway.start()
    try:
        deadline = time.monotonic() + 10
        while True:  # the status is published once connected
            late = Listener(address, f"{PREFIX}/status")
            try:
                topic, payload, retained = await asyncio.to_thread(late.next, 2.0)
            except queue.Empty:
                assert time.monotonic() < deadline, "no retained status"
                continue
            finally:
                late.close()
            if payload == "online":
                break
        assert (topic, retained) == (f"{PREFIX}/status", True)
    finally:
        await asyncio.to_thread(gateway.stop)


def test_the_broker_refuses_a_wrong_password(address: BrokerAddress) -> None:
    wrong = BrokerAddress(address.host, address.port, False, address.username, "not the password")
    intruder = Listener(wrong, "#")
    try:
        assert intruder.connected.get(timeout=10).is_failure
    finally:
        intruder.close()


def test_broker_urls_are_read_and_shown_without_the_password() -> None:
    parsed = BrokerAddress.parse("mqtt://ha%40home:p%3Ass@broker.lan")
    assert (parsed.host, parsed.port, parsed.username, parsed.password) == ("broker.lan", 1883, "ha@home", "p:ss")
    assert "p:ss" not in str(parsed) and "p%3Ass" not in str(parsed)
    assert BrokerAddress.parse("mqtts://broker.lan").port == 8883
    for bad in ("http://broker.lan", "mqtt://", "mqtt://broker.lan:notaport"):
        with pytest.raises(ValueError, match="FACETAG_MQTT_URL"):
            BrokerAddress.parse(bad)


async def test_a_gateway_whose_broker_is_away_publishes_and_stops_without_error(store: WebhookStore) -> None:
    away = BrokerAddress("127.0.0.1", free_port(), False, "facetag", "whatever")
    gateway = MqttPublisher(away, PREFIX, store)
    gateway.start()
    await gateway.handle(Event(kind=EventKind.photo_done))  # queued for when the broker is back
    await asyncio.to_thread(gateway.stop)
