"""Catching a worker in the middle of a photo, for tests that kill or stop it there."""

from __future__ import annotations

import re
import time
from pathlib import Path

from PIL import Image
from service_fixtures import Service


def big_group_photo(facedata: Path, tmp_path: Path) -> Path:
    """A large photo with several faces, so each stage takes long enough to stop its worker in the middle."""
    source = facedata / "groups" / "no_gt" / "dlib_bald_guys.jpg"
    img = Image.open(source).convert("RGB")
    scale = 3000 / max(img.size)
    path = tmp_path / "big_group.jpg"
    img.resize((round(img.width * scale), round(img.height * scale))).save(path, quality=90)
    return path


def pid_holding(service: Service, line: str, timeout: float = 60) -> int:
    """The pid of the process whose log has a line matching ``line`` (a regex): the worker holding a task.
    Log lines carry the pid as ``[PID]`` right before the logger name."""
    pattern = re.compile(rf"\[(\d+)\] {line}")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in service.processes:
            if found := pattern.search(p.log.read_text(errors="replace")):
                return int(found.group(1))
        time.sleep(0.05)
    raise AssertionError(f"no process logged {line!r} within {timeout}s\n{service.logs()}")


def detector_holding(service: Service, image_id: str, timeout: float = 60) -> int:
    """The pid of the detector working on the image right now."""
    return pid_holding(service, rf"services\.detector\.pipeline: image {image_id}: detecting", timeout)
