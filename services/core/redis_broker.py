"""The cluster broker: kombu's Redis transport, with a lease the worker holding a message keeps renewing.

kombu's Redis transport keeps every message handed to a worker in an ``unacked`` hash, with the time
it was handed out in a sorted set, and any consumer puts back messages older than the visibility
timeout. One timeout then has to fit every task: short, and a long training run (or a retry waiting
for its countdown) is handed out twice; long, and a photo whose worker was killed waits for it.
Here the process holding a message moves its time forward every fifth of the timeout while it holds
it, so the timeout only has to cover missed renewals: a message held by a dead worker comes back
within about the timeout plus one sweep, however long the task itself takes.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from kombu.transport import redis as kombu_redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

TRANSPORT = f"{__name__}:Transport"
SWEEP_SECONDS = 2  # how often a consumer looks for expired leases
FIRST_LEASE_PATIENCE = 120.0  # seconds a taken message waits for Redis to come back and record its lease


def transport_options(visibility_timeout: int) -> dict[str, object]:
    return {
        "visibility_timeout": visibility_timeout,
        # Look for expired leases on every sweep, every SWEEP_SECONDS (kombu: every 100 s by default).
        "unacked_restore_interval": SWEEP_SECONDS,
        "unacked_restore_throttle": 1,
        # A consumer killed during its sweep must not block everyone else's for kombu's 5 minutes.
        "unacked_mutex_expire": max(10, visibility_timeout),
    }


class QoS(kombu_redis.QoS):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._renewer: threading.Thread | None = None
        self.closing = threading.Event()

    def append(self, message: Any, delivery_tag: Any) -> None:
        self._record_lease(message, delivery_tag)
        if self._renewer is None:  # only consumers hold messages; a publisher never starts it
            self._renewer = threading.Thread(target=self._renew_loop, name="broker-leases", daemon=True)
            self._renewer.start()

    def _record_lease(self, message: Any, delivery_tag: Any) -> None:
        """Write the message's lease, waiting for Redis if it just went away.

        BRPOP has already taken the message off its list, so until the lease is written Redis holds it
        nowhere: kombu would drop it if Redis died in between. Redis keeps its append-only file, so
        once it is back the write succeeds and the message is safe again.
        """
        deadline = time.monotonic() + FIRST_LEASE_PATIENCE
        pause = 0.1
        while True:
            try:
                super().append(message, delivery_tag)
                return
            except (RedisConnectionError, RedisTimeoutError) as exc:
                if time.monotonic() > deadline or self.closing.is_set():
                    raise
                if pause == 0.1:
                    log.warning("Redis went away while a message was taken (%s); waiting to record its lease", exc)
                time.sleep(pause)
                pause = min(1.0, pause * 2)

    def _held(self) -> list[Any]:
        while True:
            try:
                return [tag for tag in self._delivered if tag not in self._dirty]
            except RuntimeError:  # the consumer thread changed them meanwhile; look again
                continue

    def _renew_loop(self) -> None:
        # A client on the channel's plain pool: the asynchronous pool's connections belong to the event loop.
        client = self.channel._create_client()
        while not self.closing.wait(max(0.2, self.visibility_timeout / 5)):
            held = self._held()
            if not held:
                continue
            now = time.time()
            try:
                # XX: only tags still there, so a message acknowledged meanwhile is not brought back.
                client.zadd(self.unacked_index_key, dict.fromkeys(held, now), xx=True)
            except Exception as exc:  # Redis away: the next round tries again, the lease lasts meanwhile
                log.warning("could not renew %d broker leases: %s", len(held), exc)


class Channel(kombu_redis.Channel):
    QoS = QoS

    def close(self) -> None:
        if self._qos is not None:
            self._qos.closing.set()
        super().close()


class Transport(kombu_redis.Transport):
    Channel = Channel
