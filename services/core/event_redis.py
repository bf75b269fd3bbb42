"""The cluster event transport: Redis pub/sub on the broker's Redis.

Pub/sub keeps nothing: a gateway gets the events published while it is subscribed, which is what a
live stream needs (missed ones are the hub's replay buffer's business). Redis shares channels across
its numbered databases, so the channel carries the database number: two services on one Redis with
different databases do not hear each other.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub

SEND_TIMEOUT = 2.0  # seconds; the sender thread waits this long at most before counting an event lost


class RedisTransport:
    def __init__(self, url: str) -> None:
        self.url = url
        self._client: redis.Redis | None = None
        db = redis.connection.parse_url(url).get("db", 0)
        self.channel = f"facetag.events.{db}"

    def send(self, payload: bytes) -> None:
        if self._client is None:
            self._client = redis.Redis.from_url(self.url, socket_timeout=SEND_TIMEOUT,
                                                socket_connect_timeout=SEND_TIMEOUT)
        self._client.publish(self.channel, payload)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[bytes]]:
        # No read timeout: a quiet channel is normal; a dead connection fails the keep-alive check.
        client = aioredis.Redis.from_url(self.url, socket_connect_timeout=SEND_TIMEOUT, health_check_interval=15)
        try:
            async with client.pubsub() as pubsub:
                await pubsub.subscribe(self.channel)
                yield _messages(pubsub)
        finally:
            await client.aclose()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


async def _messages(pubsub: PubSub) -> AsyncIterator[bytes]:
    async for message in pubsub.listen():
        if message["type"] == "message":
            yield message["data"]
