"""What keeps ``facetag serve`` from leaving processes or a second copy behind.

- Children get a parent-death signal (Linux ``prctl(PR_SET_PDEATHSIG)``): if serve dies in any way,
  even ``kill -9``, the kernel sends each child SIGTERM, and they stop as on Ctrl-C.
- One serve per data folder: serve holds an exclusive ``flock`` on ``<data>/serve.lock`` (released by
  the kernel when it dies; children do not inherit it). A second serve is refused, naming the first.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import signal
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from services.core.errors import FacetagError

PR_SET_PDEATHSIG = 1
LOCK_FILE = "serve.lock"


class AlreadyServing(FacetagError):
    """Another facetag serve uses this data folder."""


def die_with_parent() -> Callable[[], None]:
    """A ``preexec_fn`` for children: they get SIGTERM when this process dies (Linux; elsewhere a no-op)."""
    parent = os.getpid()

    def arm() -> None:
        if not sys.platform.startswith("linux"):
            return
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died between fork and prctl: nobody would tell us
            os._exit(1)

    return arm


class ServeLock:
    """The data folder's lock, held for as long as this object lives (or until ``release``)."""

    def __init__(self, data_dir: Path, address: str) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = self._holder()
            os.close(self._fd)
            raise AlreadyServing(f"another facetag serve is using {data_dir}: {holder}. Stop it first (or give "
                                 "this one another --data folder).") from None
        os.ftruncate(self._fd, 0)
        os.write(self._fd, json.dumps({"pid": os.getpid(), "address": address,
                                       "started_at": datetime.now(UTC).isoformat(timespec="seconds")}).encode())

    def _holder(self) -> str:
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return "its details are unreadable"
        return f"pid {info.get('pid', '?')}, {info.get('address', '?')}, since {info.get('started_at', '?')}"

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
