"""Load for the service benchmarks: distinct photos of a chosen size, and completion learned by push.

The service stores each distinct file once (by content hash), so a benchmark that uploads more photos
than the shared set has, or the same set at several client counts, needs new bytes for the same
pictures: each copy here is the photo resized to the asked pixel count with a unique JPEG comment, so
its faces, and so its cost, are the photo's.

Clients learn that a photo is done from the gateway's event stream (``GET /v1/events``), as a program
that cares about latency would, not by asking each photo's status over and over: polling by many clients
loads the very service being measured.
"""

from __future__ import annotations

import io
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from PIL import Image


def resized_jpeg(photo: Path, megapixels: float) -> bytes:
    """``photo`` scaled (up or down) to about ``megapixels``, as a JPEG."""
    with Image.open(photo) as image:
        rgb = image.convert("RGB")
    if megapixels > 0:
        scale = (megapixels * 1e6 / (rgb.width * rgb.height)) ** 0.5
        size = (max(1, round(rgb.width * scale)), max(1, round(rgb.height * scale)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=90)
    return out.getvalue()


def with_comment(jpeg: bytes, text: str) -> bytes:
    """The same picture with a JPEG comment segment (COM) after the start marker: other bytes, same pixels."""
    payload = text.encode()
    return jpeg[:2] + b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


class PhotoSupply:
    """Endless distinct uploads of a fixed set of pictures: the set's photos in turn, each copy unique."""

    def __init__(self, photos: list[Path], megapixels: float) -> None:
        self.pictures = [resized_jpeg(photo, megapixels) for photo in photos]
        self.names = [photo.stem for photo in photos]
        self._served = 0
        self._lock = threading.Lock()
        self._run = time.time_ns()

    def take(self, count: int) -> list[tuple[str, bytes]]:
        with self._lock:
            start, self._served = self._served, self._served + count
        taken = []
        for n in range(start, start + count):
            i = n % len(self.pictures)
            taken.append((f"{self.names[i]}-{n}.jpg", with_comment(self.pictures[i], f"facetag bench {self._run} {n}")))
        return taken


@dataclass
class DoneWatcher:
    """Follows the gateway's event stream and notes when each photo became done or failed."""

    url: str
    token: str
    finished: dict[str, tuple[float, str]] = field(default_factory=dict)  # image id -> (monotonic time, kind)
    _changed: threading.Condition = field(default_factory=threading.Condition)
    _ready: threading.Event = field(default_factory=threading.Event)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> DoneWatcher:
        threading.Thread(target=self._listen, name="done-watcher", daemon=True).start()
        if not self._ready.wait(30):
            raise RuntimeError("the gateway's event stream did not open within 30 s")
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()

    def _listen(self) -> None:
        headers = {"Authorization": f"Bearer {self.token}"}
        params = {"kinds": "photo.done,photo.failed"}
        with httpx.Client(base_url=self.url, timeout=httpx.Timeout(30, read=None)) as client, \
                client.stream("GET", "/v1/events", params=params, headers=headers) as response:
            response.raise_for_status()
            for kind, data in _sse_messages(response.iter_lines()):
                if self._stop.is_set():
                    return
                if kind == "ready":
                    self._ready.set()
                elif kind in ("photo.done", "photo.failed"):
                    image_id = json.loads(data)["image_id"]
                    with self._changed:
                        self.finished.setdefault(image_id, (time.monotonic(), kind))
                        self._changed.notify_all()

    def wait(self, image_id: str, timeout: float) -> tuple[float, str]:
        """When ``image_id`` finished (monotonic time) and how (photo.done or photo.failed)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while image_id not in self.finished:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"photo {image_id} not finished after {timeout:.0f} s")
                self._changed.wait(left)
            return self.finished[image_id]


def _sse_messages(lines: Iterator[str]) -> Iterator[tuple[str, str]]:
    """(event, data) of each server-sent event; comments and ids are skipped."""
    kind, data = "message", ""
    for line in lines:
        if not line:
            if data:
                yield kind, data
            kind, data = "message", ""
        elif line.startswith("event:"):
            kind = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
