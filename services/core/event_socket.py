"""The embedded event transport: one Unix datagram socket per subscribing process, in one folder
(``datagram_fanout``).

Why this and not a file queue or a small server: no process to supervise, nothing written per event, and
a subscriber's queue is the kernel's: when it is full the publisher's sender thread (never the task) waits
up to SEND_WAIT for the gateway to read, then drops that event for that gateway only.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from services.core.datagram_fanout import DatagramFanout, listening_socket, socket_folder

MAX_EVENT_BYTES = 60_000
SEND_WAIT = 0.5  # seconds the sender thread waits for a subscriber whose queue is full


def events_folder(data_dir: Path) -> Path:
    return socket_folder(data_dir / "events")


class SocketTransport:
    def __init__(self, data_dir: Path) -> None:
        self.folder = events_folder(data_dir)
        self._fanout = DatagramFanout(self.folder, SEND_WAIT)

    def send(self, payload: bytes) -> None:
        if len(payload) > MAX_EVENT_BYTES:
            raise ValueError(f"event of {len(payload)} bytes is larger than {MAX_EVENT_BYTES}")
        self._fanout.send(payload)

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[bytes]]:
        with listening_socket(self.folder) as sock:
            yield _received(sock)

    def close(self) -> None:
        self._fanout.close()


async def _received(sock: socket.socket) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    while True:
        yield await loop.sock_recv(sock, MAX_EVENT_BYTES)
