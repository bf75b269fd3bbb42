"""``facetag import`` stopped part-way (Ctrl-C, then ``kill -9``) and run again on ``facetag serve``: no photo is
uploaded twice (counted by the service itself) and every photo ends named after its folder."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from service_fixtures import REPO_ROOT, Service, base_env, embedded_service, upload_answers

from services.commands.import_photos import tidy_person_name
from services.commands.import_state import default_state_file

__all__ = ["embedded_service"]
pytestmark = pytest.mark.e2e

PEOPLE = ("ben_afflek", "elton_john", "jerry_seinfeld", "madonna", "mindy_kaling")
PER_PERSON = 6


def _library(facedata: Path, folder: Path) -> dict[Path, str]:
    """30 celeb5 photos, six per person, in a folder per person: each photo and who it shows."""
    photos = {}
    for person in PEOPLE:
        (folder / person).mkdir(parents=True)
        for photo in sorted((facedata / "celeb5" / "train" / person).glob("*.jpg"))[:PER_PERSON]:
            photos[Path(shutil.copy(photo, folder / person / photo.name))] = tidy_person_name(person)
    return photos


def _start(service: Service, folder: Path) -> subprocess.Popen[str]:
    env = {**base_env(service.data_dir), "FACETAG_API_TOKEN": service.token("editor", ["images:write", "edit"])}
    # One connection, so the uploads take long enough to be stopped in the middle.
    return subprocess.Popen([sys.executable, "-m", "services.commands.cli", "import", str(folder), "--url",
                             service.url, "--no-progress", "--connections", "1"],
                            env=env, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_ctrl_c_as_in_a_terminal)


def _ctrl_c_as_in_a_terminal() -> None:
    """A test run started in the background (``cmd &`` without job control, as CI runners may) hands its
    children SIGINT ignored, and a Python started so never raises KeyboardInterrupt: Ctrl-C as a user's terminal
    delivers it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _uploaded_per_state(service: Service, folder: Path) -> int:
    """Photos the state file says are on the service (a line cut off by a kill is skipped, as the import does)."""
    state = default_state_file(service.data_dir, folder)
    done = set()
    for line in state.read_text().splitlines() if state.exists() else []:
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("image_id"):
            done.add(entry["path"])
    return len(done)


def _stop_after(process: subprocess.Popen[str], service: Service, folder: Path, uploads: int,
                how: signal.Signals) -> None:
    deadline = time.monotonic() + 120
    while _uploaded_per_state(service, folder) < uploads:
        assert process.poll() is None, f"the import ended before {uploads} uploads: {process.communicate()}"
        assert time.monotonic() < deadline, "the import uploaded too slowly"
        time.sleep(0.005)
    os.kill(process.pid, how)
    process.wait(timeout=60)


def _upload_requests(service: Service) -> int:
    """Photos sent whole: POST /v1/images requests the gateway answered with success, 202 (new) or 200 (bytes it
    had already, so sent twice). An upload that ``kill -9`` cut off in the middle of its body is not a photo sent:
    the import cannot know how far it got and sends it again."""
    return sum(count for status, count in _answers(service).items() if status.startswith("2"))


def _answers(service: Service) -> dict[str, int]:
    return upload_answers(service.client.get("/metrics").text)


def test_an_import_stopped_twice_uploads_each_photo_once_and_names_them_all(
        embedded_service: Service, facedata: Path, tmp_path: Path) -> None:
    service = embedded_service
    folder = tmp_path / "library"
    photos = _library(facedata, folder)
    assert len(photos) == len(PEOPLE) * PER_PERSON

    first = _start(service, folder)
    _stop_after(first, service, folder, 5, signal.SIGINT)  # Ctrl-C
    assert first.returncode == 130, first.stderr.read()  # type: ignore[union-attr]
    stopped_at = _upload_requests(service)
    assert 5 <= stopped_at < len(photos), "the first run was not stopped in the middle of its uploads"
    assert "Run the same command again to resume" in first.stderr.read()  # type: ignore[union-attr]

    second = _start(service, folder)
    _stop_after(second, service, folder, 15, signal.SIGKILL)  # no chance to tidy up at all
    assert _upload_requests(service) < len(photos), "the second run was not stopped in the middle of its uploads"

    third = _start(service, folder)
    out, err = third.communicate(timeout=600)
    assert third.returncode == 0, out + err
    digests = [hashlib.sha256(path.read_bytes()).hexdigest() for path in photos]
    assert _upload_requests(service) == len(set(digests)), _answers(service)  # each photo sent once

    found = service.client.post("/v1/search/sha256", json={"sha256": digests}).json()["found"]
    ids = {item["sha256"]: item["id"] for item in found}
    unnamed = []
    for (path, person), digest in zip(photos.items(), digests, strict=True):
        image = service.client.get(f"/v1/images/{ids[digest]}").json()
        names = {f["person"]["name"] for f in image["faces"] if f.get("label_source") == "person" and f["person"]}
        if names != {person}:
            unnamed.append(f"{path.name}: {names or image['status']}, expected {person}")
    assert not unnamed, "\n".join(unnamed)
