"""A subscriber on a real MQTT broker for tests: every message it gets, as (topic, payload, retained)."""

from __future__ import annotations

import queue
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from services.gateway.live_outputs.mqtt_publisher import BrokerAddress


class Listener:
    """A subscriber on the broker: every message it gets, as (topic, payload, retained)."""

    def __init__(self, address: BrokerAddress, topic: str) -> None:
        self.messages: queue.Queue[tuple[str, str, bool]] = queue.Queue()
        self.connected: queue.Queue[Any] = queue.Queue()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2)
        self.client.username_pw_set(address.username, address.password)
        self.client.on_connect = lambda client, _u, _f, reason, _p: (
            self.connected.put(reason), None if reason.is_failure else client.subscribe(topic, qos=1))
        self.client.on_message = lambda _c, _u, message: self.messages.put(
            (message.topic, message.payload.decode(), bool(message.retain)))
        self.client.connect(address.host, address.port)
        self.client.loop_start()

    def next(self, timeout: float = 10.0) -> tuple[str, str, bool]:
        return self.messages.get(timeout=timeout)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
