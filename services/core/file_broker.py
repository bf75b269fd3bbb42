"""The embedded broker: kombu's file transport, with messages that appear whole or not at all and that come
back when the worker holding them dies.

kombu writes a message file in place, so a consumer polling the folder can pick it up half written
and fail to parse it. Here each message is written under a dot name (which consumers skip) and
renamed into place once complete; a rename within one folder is atomic.

kombu's file transport also deletes a message as soon as a worker takes it, so late acknowledgement
does nothing and a killed worker's photo waits for the reconciler. Here a taken message is moved into
``leased/`` instead, and its file's time is renewed every fifth of the visibility timeout by the
process holding it; it is deleted on acknowledgement. Any consumer moves a lease nobody renewed for the
visibility timeout back into the queue: a message taken by a worker that died runs again soon after.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import threading
import time
import uuid
from pathlib import Path
from time import monotonic
from typing import Any

from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.transport.virtual.base import Empty
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

from services.core.datagram_fanout import DatagramFanout, listening_socket, socket_folder

SCHEME = "facetagfs"
LEASES = "leased"
SWEEP_SECONDS = 2.0
DOORBELLS = "doorbells"
RING = b"!"


def doorbell_folder(data_folder: str) -> Path:
    return socket_folder(Path(data_folder).parent / DOORBELLS)


class Channel(filesystem.Channel):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # A lease not renewed for this long is taken back (Settings.visibility_timeout).
        self._lease_seconds = float(self.transport_options.get("visibility_timeout", 15))
        self._leased: dict[str, Path] = {}  # delivery tag -> its lease file
        self._lock = threading.Lock()
        self._swept_at = 0.0
        self._closing = threading.Event()
        # Never waits: a consumer whose queue of rings is full has been rung plenty already.
        self._doorbell = DatagramFanout(doorbell_folder(self.data_folder_out), wait=0)
        threading.Thread(target=self._renew_loop, name="broker-leases", daemon=True).start()

    @property
    def _lease_folder(self) -> Path:
        folder = Path(self.data_folder_in) / LEASES
        folder.mkdir(exist_ok=True)
        return folder

    # kombu's two base classes name this parameter differently; this follows the file transport.
    def _put(self, queue: Any, payload: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        with open(partial, "wb") as fh:
            fh.write(str_to_bytes(dumps(payload)))
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, final)
        self._doorbell.send(RING)

    def _get(self, queue: Any) -> Any:  # type: ignore[override]
        self._take_back_expired()
        wanted = f"{queue}.msg"
        for filename in sorted(os.listdir(self.data_folder_in)):
            if filename.partition(".")[2] != wanted:
                continue
            lease = self._lease_folder / filename
            try:
                os.rename(os.path.join(self.data_folder_in, filename), lease)  # only one consumer wins
                os.utime(lease)
                payload = loads(bytes_to_str(lease.read_bytes()))
            except OSError:
                continue  # taken by another consumer a moment ago
            with self._lock:
                self._leased[payload["properties"]["delivery_tag"]] = lease
            return payload
        raise Empty()

    def _release(self, delivery_tag: str) -> None:
        with self._lock:
            lease = self._leased.pop(delivery_tag, None)
        if lease is not None:
            lease.unlink(missing_ok=True)

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._release(delivery_tag)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # a requeue puts a copy back through _restore
        self._release(delivery_tag)

    def _restore(self, message: Any) -> None:
        super()._restore(message)  # kombu puts the unacknowledged message back (a warm shutdown)
        self._release(message.delivery_tag)

    def _take_back_expired(self) -> None:
        now = time.time()
        if now - self._swept_at < SWEEP_SECONDS:
            return
        self._swept_at = now
        mine = {lease.name for lease in self._leased.values()}
        for partial in Path(self.data_folder_in).glob(".*.part"):
            # Its sender died while writing it: that message was never sent (the sender's caller saw it fail).
            with contextlib.suppress(OSError):
                if now - partial.stat().st_mtime > self._lease_seconds:
                    partial.unlink()
        for lease in self._lease_folder.iterdir():
            try:
                expired = lease.name not in mine and now - lease.stat().st_mtime > self._lease_seconds
                if expired:
                    os.rename(lease, os.path.join(self.data_folder_in, lease.name))
                    self._doorbell.send(RING)
            except OSError:
                continue  # acknowledged or taken back by someone else meanwhile

    def _renew_loop(self) -> None:
        while not self._closing.wait(max(0.2, self._lease_seconds / 5)):
            with self._lock:
                held = list(self._leased.values())
            for lease in held:
                with contextlib.suppress(OSError):  # acknowledged meanwhile
                    os.utime(lease)

    def close(self) -> None:
        self._closing.set()
        self._doorbell.close()
        super().close()


class Transport(filesystem.Transport):
    Channel = Channel

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._bell: socket.socket | None = None
        self._bell_exit = contextlib.ExitStack()

    def drain_events(self, connection: Any, timeout: float | None = None, **kwargs: Any) -> Any:
        """kombu's loop, waiting on the doorbell between looks instead of sleeping."""
        bell = self._doorbell_socket()
        cycle = self.cycle
        assert cycle is not None, "kombu sets the cycle when the transport is made"
        started = monotonic()
        while True:
            _drain(bell)  # rings already heard are answered by the look that follows
            try:
                cycle.get(self._deliver, timeout=timeout)
                return
            except Empty:
                wait = self.polling_interval or 1.0
                if timeout is not None:
                    left = timeout - (monotonic() - started)
                    if left <= 0:
                        raise TimeoutError() from None
                    wait = min(wait, left)
                select.select([bell], [], [], wait)

    def _doorbell_socket(self) -> socket.socket:
        # Bound before the first look, so a message queued after that look always rings it.
        if self._bell is None:
            assert self.client is not None, "kombu gives the transport its connection when it is made"
            folder = doorbell_folder(self.client.transport_options["data_folder_in"])
            self._bell = self._bell_exit.enter_context(listening_socket(folder))
        return self._bell

    def close_connection(self, connection: Any) -> None:
        self._bell_exit.close()
        self._bell = None
        super().close_connection(connection)


def _drain(sock: socket.socket) -> None:
    with contextlib.suppress(BlockingIOError):
        while sock.recv(64):
            pass


TRANSPORT_ALIASES[SCHEME] = f"{__name__}:Transport"
