"""Starting and stopping the gateway's live outputs with the app: webhook deliveries always, MQTT when
``FACETAG_MQTT_URL`` is set."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

from services.core.event_hub import EventHub
from services.core.settings import Settings
from services.core.webhooks import WebhookStore, open_webhook_store
from services.gateway.live_outputs.mqtt_publisher import BrokerAddress, MqttPublisher
from services.gateway.live_outputs.webhook_dispatch import WebhookDispatcher


@dataclass
class LiveOutputs:
    store: WebhookStore
    dispatcher: WebhookDispatcher
    mqtt: MqttPublisher | None
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    async def start(cls, settings: Settings, hub: EventHub) -> LiveOutputs:
        store = open_webhook_store(settings.catalog_url)
        await store.connect()
        mqtt_url = settings.mqtt_url.get_secret_value()
        mqtt = None
        if mqtt_url:
            mqtt = MqttPublisher(BrokerAddress.parse(mqtt_url), settings.mqtt_topic_prefix, store)
            mqtt.start()
        outputs = cls(store=store, dispatcher=WebhookDispatcher(store, settings), mqtt=mqtt)
        outputs.tasks = [asyncio.create_task(outputs.dispatcher.consume(hub)),
                         asyncio.create_task(outputs.dispatcher.run_retries())]
        if mqtt is not None:
            outputs.tasks.append(asyncio.create_task(mqtt.consume(hub)))
        return outputs

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.dispatcher.close()
        if self.mqtt is not None:
            await asyncio.to_thread(self.mqtt.stop)
        await self.store.close()
