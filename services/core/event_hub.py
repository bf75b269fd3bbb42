"""The gateway side of the event bus: one transport subscription per process, fanned out in memory.

Usage (the SSE route, the webhook and MQTT dispatchers)::

    with hub.subscribe({EventKind.photo_done}) as events:
        async for event in events:
            ...

- ``subscribe(kinds)``: ``None`` or empty means every kind. The subscription only sees events
  received after it was made, plus, with ``after=<event id>``, the buffered ones that came after that
  event (a reconnecting SSE client's Last-Event-ID).
- Each subscription holds at most ``queue_size`` events. A consumer that falls behind loses the
  oldest ones, never the gateway's memory: ``take_dropped()`` says how many were lost since it was
  last asked, so the consumer can tell its own client to resync.
- ``replay_complete`` is False when ``after`` named an event no longer (or never) in the buffer: the
  consumer cannot know what it missed.
- The hub is started and stopped with the app (``run()`` as a background task); while the
  transport is down it retries, logging one warning per outage. Events published meanwhile are lost:
  ``next_or_gap()`` (instead of iterating) answers None once the hub is back, for consumers that tell
  their own clients to resync; plain iteration just goes on.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Iterable
from types import TracebackType

from pydantic import ValidationError

from services.core.event_bus import EventTransport
from services.core.events import Event, EventKind

log = logging.getLogger(__name__)

REPLAY_BUFFER = 500  # recent events kept for reconnecting clients
SUBSCRIBER_QUEUE = 200  # events one slow subscriber may hold before the oldest are dropped
RETRY_SECONDS = (0.5, 1.0, 2.0, 5.0)


class Subscription:
    """An async iterator of the events a consumer asked for; use it as a context manager."""

    def __init__(self, hub: EventHub, kinds: frozenset[EventKind], queue_size: int) -> None:
        self.kinds = kinds
        self.replay_complete = True
        self._hub = hub
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue(queue_size)  # None: a gap in the stream
        self._dropped = 0

    def wants(self, event: Event) -> bool:
        return not self.kinds or event.kind in self.kinds

    def take_dropped(self) -> int:
        """Events lost to a full queue since the last call."""
        dropped, self._dropped = self._dropped, 0
        return dropped

    def offer(self, event: Event | None) -> None:
        """Queue an event (None: events were lost before it), dropping the oldest when full."""
        if self._queue.full():
            self._queue.get_nowait()
            self._dropped += 1
        self._queue.put_nowait(event)

    async def next_or_gap(self) -> Event | None:
        """The next event, or None where the hub lost events (its transport was down)."""
        return await self._queue.get()

    def __aiter__(self) -> AsyncIterator[Event]:
        return self

    async def __anext__(self) -> Event:
        while (event := await self._queue.get()) is None:
            continue
        return event

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._hub.unsubscribe(self)


class EventHub:
    def __init__(self, transport: EventTransport, *, replay_buffer: int = REPLAY_BUFFER,
                 queue_size: int = SUBSCRIBER_QUEUE) -> None:
        self._transport = transport
        self._recent: deque[Event] = deque(maxlen=replay_buffer)
        self._subscriptions: set[Subscription] = set()
        self._queue_size = queue_size
        self.listening = asyncio.Event()  # set while the transport subscription is up

    def subscribe(self, kinds: Iterable[EventKind] | None = None, *, after: str | None = None) -> Subscription:
        subscription = Subscription(self, frozenset(kinds or ()), self._queue_size)
        if after is not None:
            ids = [event.id for event in self._recent]
            if after in ids:
                for event in list(self._recent)[ids.index(after) + 1:]:
                    if subscription.wants(event):
                        subscription.offer(event)
            else:
                subscription.replay_complete = False
        self._subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self._subscriptions.discard(subscription)

    @property
    def subscriber_count(self) -> int:
        return len(self._subscriptions)

    def deliver(self, event: Event) -> None:
        """Hand one event to every interested subscription (what the transport listener calls)."""
        self._recent.append(event)
        for subscription in self._subscriptions:
            if subscription.wants(event):
                subscription.offer(event)

    def lost_events(self) -> None:
        """Tell every subscription that events were lost here (``next_or_gap`` answers None)."""
        for subscription in self._subscriptions:
            subscription.offer(None)

    async def run(self) -> None:
        """Listen on the transport until cancelled, reconnecting after failures."""
        failures = 0
        while True:
            try:
                async with self._transport.listen() as stream:
                    self.listening.set()
                    if failures:
                        log.info("live events are received again")
                        self.lost_events()
                    failures = 0
                    async for payload in stream:
                        self._receive(payload)
            except Exception as exc:  # not a cancellation: that is a BaseException, and ends the loop
                self.listening.clear()  # at once: what is published from now on is not heard until it is set
                if failures == 0:
                    log.warning("live events unavailable (%s: %s); retrying", type(exc).__name__, exc)
                await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
                failures += 1
            finally:
                self.listening.clear()

    def _receive(self, payload: bytes) -> None:
        try:
            event = Event.model_validate_json(payload)
        except ValidationError as exc:
            log.warning("ignored a malformed event: %s", exc.errors()[0]["msg"])
            return
        self.deliver(event)
