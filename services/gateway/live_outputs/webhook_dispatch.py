"""Webhook and callback deliveries: claimed once per event and target across gateways, sent signed, retried.

Every gateway sees every event. For each hook that wants the event's kind (and for a photo's callback_url on
``photo.done`` or ``photo.failed``) the gateway claims the delivery in the webhook store; the store lets only one
gateway make it, and that one sends the first attempt at once. A failed attempt is saved with its next time
(``FACETAG_WEBHOOK_RETRY_DELAYS``); every gateway looks for due retries and takes each under a lease, so a
restarted or dead gateway's pending deliveries are resumed by whichever runs. After the last delay, a delivery
is failed for good and shows so in the hook's delivery log.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import httpx

from services.core.domain import utcnow
from services.core.event_hub import EventHub
from services.core.events import Event, EventKind
from services.core.settings import Settings
from services.core.webhooks.model import CALLBACK_PREFIX, Delivery, DeliveryState
from services.core.webhooks.store import WebhookStore
from services.gateway.live_outputs.sender import Outcome, new_client, post_signed
from services.gateway.live_outputs.targets import RefusedTarget, check_public

log = logging.getLogger(__name__)

CALLBACK_KINDS = frozenset({EventKind.photo_done, EventKind.photo_failed})
KEEP_LOG = timedelta(days=7)  # finished deliveries stay in the log this long, upload callbacks too
PRUNE_EVERY = timedelta(hours=1)
TAKE_AT_ONCE = 20
PARALLEL_SENDS = 16


class WebhookDispatcher:
    def __init__(self, store: WebhookStore, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        self.store = store
        self.settings = settings
        self.delays = settings.webhook_retry_delay_list
        self.client = client or new_client(settings.webhook_timeout)
        # Held while sending: a gateway that dies mid-attempt frees its deliveries for another this much later.
        self.lease = timedelta(seconds=settings.webhook_timeout * 3 + 5)
        self.poll_seconds = min(max(min(self.delays) / 2, 0.2), 5.0)
        self._sending = asyncio.Semaphore(PARALLEL_SENDS)
        self._tasks: set[asyncio.Task[None]] = set()

    async def handle(self, event: Event) -> None:
        """Claim this event's deliveries; the ones this gateway won are sent at once."""
        body = event.model_dump_json()
        targets = [(hook.id, hook.url) for hook in await self.store.list_hooks()
                   if not hook.paused and event.kind in hook.kinds]
        if event.kind in CALLBACK_KINDS and event.image_id is not None:
            callback = await self.store.get_callback(event.image_id)
            if callback is not None:
                targets.append((callback.target, callback.url))
        for target, url in targets:
            now = utcnow()
            delivery = Delivery(id=Delivery.id_for(event.id, target), event_id=event.id, kind=event.kind,
                                target=target, url=url, body=body, next_attempt_at=now,
                                lease_until=now + self.lease, created_at=now)
            if await self.store.claim_delivery(delivery):
                self._start(delivery)

    async def consume(self, hub: EventHub) -> None:
        """Handle every event the hub receives, until cancelled."""
        with hub.subscribe() as events:
            async for event in events:
                if dropped := events.take_dropped():
                    log.warning("webhooks fell behind: %d events were not delivered", dropped)
                try:
                    await self.handle(event)
                except Exception as exc:  # a store hiccup loses this event's deliveries, not the dispatcher
                    log.warning("could not claim deliveries of event %s: %s", event.id, exc)

    async def run_retries(self) -> None:
        """Take and send due deliveries (retries, and those a stopped gateway left) until cancelled; prune the
        log now and then."""
        pruned_at = utcnow() - PRUNE_EVERY
        while True:
            try:
                now = utcnow()
                for delivery in await self.store.take_due_deliveries(now, now + self.lease, TAKE_AT_ONCE):
                    self._start(delivery)
                if now - pruned_at >= PRUNE_EVERY:
                    await self.store.prune_deliveries(now - KEEP_LOG)
                    pruned_at = now
            except Exception as exc:
                log.warning("webhook retries: %s", exc)
            await asyncio.sleep(self.poll_seconds)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.client.aclose()

    def _start(self, delivery: Delivery) -> None:
        task = asyncio.create_task(self._attempt(delivery))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _attempt(self, delivery: Delivery) -> None:
        async with self._sending:
            try:
                outcome = await self._send(delivery)
            except Exception as exc:
                outcome = Outcome(None, f"{type(exc).__name__}: {exc}")
            try:
                await self.store.save_delivery(self._after(delivery, outcome))
            except Exception as exc:  # its lease runs out and it is tried again
                log.warning("could not save the delivery %s: %s", delivery.id, exc)

    async def _send(self, delivery: Delivery) -> Outcome:
        if delivery.target.startswith(CALLBACK_PREFIX):
            callback = await self.store.get_callback(delivery.target.removeprefix(CALLBACK_PREFIX))
            if callback is None:
                return Outcome(None, "the photo's callback is gone", final=True)
            secret, address = callback.signing_key, None
            if not self.settings.callback_allow_private:
                try:
                    address = await check_public(delivery.url, "callback_url")
                except RefusedTarget as exc:
                    return Outcome(None, str(exc), final=True)
        else:
            hook = await self.store.get_hook(delivery.target)
            if hook is None:
                return Outcome(None, "the webhook was deleted", final=True)
            secret, address = hook.secret, None
        return await post_signed(self.client, delivery.url, delivery.body, secret, delivery.event_id, delivery.kind,
                                 address=address)

    def _after(self, delivery: Delivery, outcome: Outcome) -> Delivery:
        now = utcnow()
        attempts = delivery.attempts + 1
        changes: dict[str, object] = {"attempts": attempts, "last_status": outcome.status,
                                      "last_error": outcome.error, "lease_until": now}
        if outcome.error is None:
            changes |= {"state": DeliveryState.delivered, "delivered_at": now, "next_attempt_at": None}
        elif outcome.final or attempts > len(self.delays):
            changes |= {"state": DeliveryState.failed, "next_attempt_at": None}
            log.warning("gave up delivering %s to %s after %d attempts: %s", delivery.kind, delivery.target,
                        attempts, outcome.error)
        else:
            changes["next_attempt_at"] = now + timedelta(seconds=self.delays[attempts - 1])
        return delivery.model_copy(update=changes)
