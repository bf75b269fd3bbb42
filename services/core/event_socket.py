"""The embedded event transport: one Unix datagram socket per subscribing process, in one folder.

Each subscriber (a gateway's hub) binds ``<folder>/<pid>-<random>.sock``; a publisher sends each event
to every socket in the folder. Why this and not a file queue or a small server:
- no process of its own to start or supervise, and nothing written to disk per event;
- a datagram arrives whole or not at all, so an event needs no framing;
- a subscriber's queue is the kernel's: when it is full the publisher's sender thread (never the
  task) waits up to SEND_WAIT for the gateway to read, then drops that event for that gateway only;
- a socket whose owner died answers ECONNREFUSED at once, so the publisher removes it: stale sockets
  clean themselves up.
The folder listing is cached until the folder changes (its mtime) or for a second, so a send is one
stat plus one ``sendto`` per subscriber (bench/event_bus.py measures it).

A socket path must fit in 108 bytes; when ``<data_dir>/events`` is too deep for that, the folder is a
private one under the temporary directory, named after the data folder, so every process of one
service still finds the same place.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".sock"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating zero
RECEIVE_BUFFER = 1 << 20  # bytes; Linux also caps the queue at net.unix.max_dgram_qlen datagrams
MAX_EVENT_BYTES = 60_000
SEND_WAIT = 0.5  # seconds the sender thread waits for a subscriber whose queue is full
# A folder's mtime ticks coarsely: a socket bound in the same tick as the last listing would go unseen,
# so the listing is also taken again after this many seconds.
LISTING_SECONDS = 1.0


def events_folder(data_dir: Path) -> Path:
    folder = data_dir / "events"
    if len(str(folder)) + len(f"/{2**22}-{'0' * 12}{SUFFIX}") <= MAX_SOCKET_PATH:
        return folder
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"facetag-events-{os.getuid()}-{digest}"


def _private_folder(folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():  # someone else's folder in a shared /tmp: do not talk to it
        raise PermissionError(f"{folder} belongs to another user")
    return folder


class SocketTransport:
    def __init__(self, data_dir: Path) -> None:
        self.folder = events_folder(data_dir)
        self._sender: socket.socket | None = None
        self._listing: tuple[int, float, list[str]] = (-1, 0.0, [])

    def send(self, payload: bytes) -> None:
        if len(payload) > MAX_EVENT_BYTES:
            raise ValueError(f"event of {len(payload)} bytes is larger than {MAX_EVENT_BYTES}")
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            # Blocking, with a kernel timeout: the kernel then waits for room in the subscriber's queue
            # (Linux queues only net.unix.max_dgram_qlen datagrams, 10 by default) instead of refusing.
            seconds = int(SEND_WAIT)
            self._sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                                    struct.pack("ll", seconds, int((SEND_WAIT - seconds) * 1e6)))
        for path in self._subscribers():
            try:
                self._sender.sendto(payload, path)
            except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            except BlockingIOError:  # its gateway did not read for SEND_WAIT: it is stuck, the others are not
                log.debug("subscriber %s is not reading; it misses an event", path)

    def _subscribers(self) -> list[str]:
        try:
            changed = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return []  # no gateway has listened yet
        mtime, listed_at, names = self._listing
        if changed != mtime or time.monotonic() - listed_at > LISTING_SECONDS:
            names = [str(self.folder / n) for n in os.listdir(self.folder) if n.endswith(SUFFIX)]
            self._listing = (changed, time.monotonic(), names)
        return names

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[bytes]]:
        folder = _private_folder(self.folder)
        path = folder / f"{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.setblocking(False)
            sock.bind(str(path))
            try:
                yield _received(sock)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None



async def _received(sock: socket.socket) -> AsyncIterator[bytes]:
    loop = asyncio.get_running_loop()
    while True:
        yield await loop.sock_recv(sock, MAX_EVENT_BYTES)
