"""Publishing live events from any process: fire and forget, never in the way of a photo.

``EventBus.publish`` only puts the event on a bounded in-process queue; one sender thread per process
hands it to the transport. A task therefore never waits on the network, and nothing a transport does
(Redis down, nobody listening) reaches the caller: events are a courtesy to clients, photos and names
never depend on them. A lost event is logged at warning once per outage, not once per event.

The transport follows the broker: Redis pub/sub on the broker's Redis in a cluster, Unix datagram
sockets in ``<data_dir>/events`` between the processes of the embedded ``facetag serve``
(see ``event_socket``). Subscribers live in the gateway (``event_hub.EventHub``).
"""

from __future__ import annotations

import logging
import os
import queue
import threading
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Protocol

from services.core.events import Event
from services.core.settings import Settings

log = logging.getLogger(__name__)

PENDING_LIMIT = 1000  # events a process holds while its transport is slow or down; beyond, they are dropped


class EventTransport(Protocol):
    """How event bytes get from publishers to the gateways' hubs."""

    def send(self, payload: bytes) -> None:
        """Deliver one event to every current subscriber; called on the sender thread, may raise."""

    def listen(self) -> AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Subscribe; inside the context, events as they are published from then on. Raises when the
        transport fails (the hub retries)."""
        ...

    def close(self) -> None:
        """Release the publishing side."""


def transport_for(settings: Settings) -> EventTransport:
    if settings.embedded_broker:
        from services.core.event_socket import SocketTransport

        return SocketTransport(settings.data_dir)
    from services.core.event_redis import RedisTransport

    return RedisTransport(settings.broker_url)


class EventBus:
    """One per process: ``publish`` from anywhere (async code, worker threads), it returns at once."""

    def __init__(self, transport: EventTransport) -> None:
        self.transport = transport
        self._pending: queue.Queue[bytes | None] = queue.Queue(PENDING_LIMIT)
        self._sender: threading.Thread | None = None
        self._sender_pid = 0
        self._lock = threading.Lock()
        self._outage = False  # a warning was logged and nothing has gone through since

    @classmethod
    def for_settings(cls, settings: Settings) -> EventBus:
        return cls(transport_for(settings))

    def publish(self, event: Event) -> None:
        try:
            payload = event.model_dump_json().encode()
            self._ensure_sender()
            self._pending.put_nowait(payload)
        except queue.Full:
            self._lost(f"{PENDING_LIMIT} events already wait for the transport")
        except Exception as exc:  # publishing must never fail the caller's work
            self._lost(f"{type(exc).__name__}: {exc}")

    def close(self, timeout: float = 2.0) -> None:
        """Send what is pending (waiting at most ``timeout``), then stop the sender."""
        sender = self._sender
        if sender is not None and sender.is_alive() and self._sender_pid == os.getpid():
            try:
                self._pending.put(None, timeout=timeout)
                sender.join(timeout)
            except queue.Full:
                pass
        self.transport.close()

    def _ensure_sender(self) -> None:
        # A forked child has the thread object but not the thread: start its own.
        if self._sender is not None and self._sender_pid == os.getpid():
            return
        with self._lock:
            if self._sender is None or self._sender_pid != os.getpid():
                self._sender_pid = os.getpid()
                self._sender = threading.Thread(target=self._send_loop, name="event-sender", daemon=True)
                self._sender.start()

    def _send_loop(self) -> None:
        while (payload := self._pending.get()) is not None:
            try:
                self.transport.send(payload)
            except Exception as exc:
                self._lost(f"{type(exc).__name__}: {exc}")
                continue
            if self._outage:
                self._outage = False
                log.info("live events are delivered again")

    def _lost(self, reason: str) -> None:
        if not self._outage:
            self._outage = True
            log.warning("live events are being dropped (%s); photos are not affected", reason)
