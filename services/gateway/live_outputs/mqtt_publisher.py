"""Live events to an MQTT broker, for home automation (Home Assistant, Frigate, Double Take).

Each event goes to ``PREFIX/events/KIND`` (e.g. ``facetag/events/photo.done``) as its JSON, QoS 1, not retained.
``PREFIX/status`` holds ``online`` (retained) while a gateway is connected; the broker sets it to ``offline`` when
the gateway goes away (its last will), and a gateway stopping says so itself. With several gateways each event is
published once: the gateway that claims it in the webhook store publishes it.

paho-mqtt runs its own network thread and reconnects by itself; ``publish`` only queues, so the event loop never
waits on the broker. While it is unreachable, up to ``QUEUED_WHILE_AWAY`` events wait; older ones are dropped.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from services.core.domain import new_id, utcnow
from services.core.event_hub import EventHub
from services.core.events import Event
from services.core.webhooks.model import Delivery, DeliveryState
from services.core.webhooks.store import WebhookStore

log = logging.getLogger(__name__)

QUEUED_WHILE_AWAY = 1000
KEEPALIVE_SECONDS = 30
CLAIM_TARGET = "mqtt"


@dataclass(frozen=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool
    username: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """From ``mqtt://[user:password@]host[:port]`` or ``mqtts://...``; ValueError naming what is wrong
        (never the password)."""
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts"):
            raise ValueError("FACETAG_MQTT_URL must start with mqtt:// or mqtts://")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("FACETAG_MQTT_URL has a port that is not a number from 1 to 65535") from None
        if not parts.hostname:
            raise ValueError("FACETAG_MQTT_URL has no host")
        tls = parts.scheme == "mqtts"
        return cls(host=parts.hostname, port=port or (8883 if tls else 1883), tls=tls,
                   username=unquote(parts.username) if parts.username else None,
                   password=unquote(parts.password) if parts.password is not None else None)

    def __str__(self) -> str:  # what logs show: never the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.username + '@' if self.username else ''}" \
               f"{self.host}:{self.port}"


class MqttPublisher:
    def __init__(self, address: BrokerAddress, prefix: str, store: WebhookStore) -> None:
        self.address = address
        self.prefix = prefix.rstrip("/")
        self.store = store
        self.status_topic = f"{self.prefix}/status"
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"facetag-gateway-{new_id()[:12]}")
        if address.username is not None:
            client.username_pw_set(address.username, address.password)
        if address.tls:
            client.tls_set()
        client.will_set(self.status_topic, "offline", qos=1, retain=True)
        client.max_queued_messages_set(QUEUED_WHILE_AWAY)
        client.on_connect = self._connected
        client.on_disconnect = self._disconnected
        self.client = client

    def start(self) -> None:
        self.client.connect_async(self.address.host, self.address.port, keepalive=KEEPALIVE_SECONDS)
        self.client.loop_start()

    def stop(self) -> None:
        if self.client.is_connected():  # else the broker already holds "offline" (the will) or never saw us
            self.client.publish(self.status_topic, "offline", qos=1, retain=True).wait_for_publish(2)
        self.client.disconnect()
        self.client.loop_stop()

    def topic_of(self, event: Event) -> str:
        return f"{self.prefix}/events/{event.kind.value}"

    async def handle(self, event: Event) -> None:
        now = utcnow()
        claim = Delivery(id=Delivery.id_for(event.id, CLAIM_TARGET), event_id=event.id, kind=event.kind,
                         target=CLAIM_TARGET, url=str(self.address), body="", state=DeliveryState.delivered,
                         next_attempt_at=None, delivered_at=now, lease_until=now, created_at=now)
        if await self.store.claim_delivery(claim):
            self.client.publish(self.topic_of(event), event.model_dump_json(), qos=1)

    async def consume(self, hub: EventHub) -> None:
        with hub.subscribe() as events:
            async for event in events:
                try:
                    await self.handle(event)
                except Exception as exc:
                    log.warning("could not publish event %s to MQTT: %s", event.id, exc)

    def _connected(self, client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("MQTT broker %s refused the connection: %s", self.address, reason)
            return
        log.info("publishing live events to MQTT broker %s under %s/", self.address, self.prefix)
        client.publish(self.status_topic, "online", qos=1, retain=True)

    def _disconnected(self, _client: mqtt.Client, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("lost the MQTT broker %s (%s); reconnecting", self.address, reason)
