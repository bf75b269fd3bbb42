"""One process tells several others on this machine something, through a folder of Unix datagram sockets.

Each listener binds ``<folder>/<pid>-<random>.sock``; a sender sends each datagram to every socket in the
folder. Used by the embedded event transport (events to gateways) and by the embedded broker (a doorbell
that wakes idle workers when a task is queued). Why sockets in a folder:
- no process of its own to start or supervise, and nothing written to disk per message;
- a datagram arrives whole or not at all, so a message needs no framing;
- a socket whose owner died answers ECONNREFUSED at once, so the sender removes it: stale sockets clean
  themselves up.
The folder listing is cached until the folder changes (its mtime) or for a second, so a send is one
stat plus one ``sendto`` per listener (bench/event_bus.py measures it).

A socket path must fit in 108 bytes; when the folder asked for is too deep for that, a private one under
the temporary directory is used instead, named after it, so every process still finds the same place.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import struct
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)

SUFFIX = ".sock"
MAX_SOCKET_PATH = 107  # sun_path holds 108 bytes with the terminating zero
RECEIVE_BUFFER = 1 << 20  # bytes; Linux also caps the queue at net.unix.max_dgram_qlen datagrams
# A folder's mtime ticks coarsely: a socket bound in the same tick as the last listing would go unseen,
# so the listing is also taken again after this many seconds.
LISTING_SECONDS = 1.0
BIND_TRIES = 5


def socket_folder(wanted: Path) -> Path:
    """``wanted``, or a stand-in for it under the temporary directory when its socket paths would be too long."""
    if len(str(wanted)) + len(f"/{2**22}-{'0' * 12}{SUFFIX}") <= MAX_SOCKET_PATH:
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"facetag-{wanted.name}-{os.getuid()}-{digest}"


def _private_folder(folder: Path) -> Path:
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if folder.stat().st_uid != os.getuid():  # someone else's folder in a shared /tmp: do not talk to it
        raise PermissionError(f"{folder} belongs to another user")
    return folder


class DatagramFanout:
    """Sends to every listener in ``folder``. ``wait``: seconds to wait for a listener whose queue is full
    before that listener misses the message (0: never wait)."""

    def __init__(self, folder: Path, wait: float) -> None:
        self.folder = folder
        self.wait = wait
        self._sender: socket.socket | None = None
        self._listing: tuple[int, float, list[str]] = (-1, 0.0, [])

    def send(self, payload: bytes) -> None:
        if self._sender is None:
            self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            if self.wait > 0:
                # Blocking, with a kernel timeout: the kernel then waits for room in the listener's queue
                # (Linux queues only net.unix.max_dgram_qlen datagrams, 10 by default) instead of refusing.
                seconds = int(self.wait)
                self._sender.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO,
                                        struct.pack("ll", seconds, int((self.wait - seconds) * 1e6)))
            else:
                self._sender.setblocking(False)
        for path in self._listeners():
            try:
                self._sender.sendto(payload, path)
            except (ConnectionRefusedError, FileNotFoundError):  # its process is gone
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)
            except BlockingIOError:  # it did not read for ``wait``: it is stuck (or has plenty queued already)
                log.debug("listener %s is not reading; it misses a message", path)

    def _listeners(self) -> list[str]:
        try:
            changed = os.stat(self.folder).st_mtime_ns
        except FileNotFoundError:
            return []  # nobody has listened yet
        mtime, listed_at, names = self._listing
        if changed != mtime or time.monotonic() - listed_at > LISTING_SECONDS:
            names = [str(self.folder / n) for n in os.listdir(self.folder) if n.endswith(SUFFIX)]
            self._listing = (changed, time.monotonic(), names)
        return names

    def close(self) -> None:
        if self._sender is not None:
            self._sender.close()
            self._sender = None


@contextlib.contextmanager
def listening_socket(folder: Path) -> Iterator[socket.socket]:
    """A non-blocking socket bound in ``folder`` that receives what senders to it send, removed on exit; the
    last listener to leave removes the folder too (stand-ins under the temporary directory would pile up)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.setblocking(False)
        path = _bind(sock, folder)
        try:
            yield sock
        finally:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            with contextlib.suppress(OSError):  # not empty: others still listen
                folder.rmdir()


def _bind(sock: socket.socket, folder: Path) -> Path:
    for _ in range(BIND_TRIES):
        path = _private_folder(folder) / f"{os.getpid()}-{uuid.uuid4().hex[:12]}{SUFFIX}"
        try:
            sock.bind(str(path))
            return path
        except FileNotFoundError:  # the last listener removed the folder between our mkdir and bind
            continue
    raise FileNotFoundError(f"{folder} kept disappearing while a socket was bound in it")
