"""The model keeps up by itself (issue 12, item 4), on a real ``facetag serve``: import the celeb5 training
photos with ``facetag import``, name nothing else and never call the train route; the trainer trains on its
own, the status says when it is up to date, and new photos get names."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import REPO_ROOT, Service, base_env, run_embedded

pytestmark = pytest.mark.e2e
# Small on purpose: one training after 40 new names, another once names stop for 4 s.
AUTO = {"auto_train": "true", "auto_train_labels": 40, "auto_train_quiet_seconds": 4, "auto_train_check_seconds": 1,
        "model_check_interval": 1, "stalled_after": 60}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    yield from run_embedded(tmp_path_factory.mktemp("autotrain"), **AUTO)


def _status(service: Service) -> dict[str, Any]:
    response = service.client.get("/v1/model/status")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _wait_up_to_date(service: Service, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        status = _status(service)
        if not seen or seen[-1] != status["message"]:
            seen.append(status["message"])
        if status["up_to_date"] and status["current_version"]:
            return status
        time.sleep(1)
    raise AssertionError(f"never up to date; said: {seen}\n{service.logs()}")


def _spelling(name: str) -> str:
    return name.replace("_", " ").casefold()


def test_imported_names_train_a_model_by_themselves_and_new_photos_get_names(service: Service, facedata: Path
                                                                               ) -> None:
    start = _status(service)
    assert start["current_version"] is None and start["auto_train"] is True
    assert start["up_to_date"] and start["message"] == "No model yet: name some faces"

    env = {**base_env(service.data_dir), "FACETAG_API_TOKEN": service.token("editor", ["images:write", "edit"])}
    imported = subprocess.run([sys.executable, "-m", "services.commands.cli", "import",
                               str(facedata / "celeb5" / "train"),
                               "--url", service.url, "--no-progress"], env=env, cwd=REPO_ROOT, capture_output=True,
                              text=True, timeout=900)
    assert imported.returncode == 0, imported.stdout + imported.stderr

    status = _wait_up_to_date(service)
    assert status["new_labels"] == 0 and status["message"] == "Up to date" and status["training"] is None, status
    jobs = [e for e in service.client.get("/v1/admin/audit", params={"action": "model.train", "limit": 100}
                                          ).json()["items"]]
    assert jobs and all(e["actor"] == "trainer" and e["after"]["trigger"] == "auto" for e in jobs), jobs
    # Debounced: names that come in together give one training, not one per name. How many bursts an import
    # makes depends on the machine's speed (measured: 2 on facetag serve, 14 on a cluster on two busy cores).
    assert len(jobs) * 4 <= 93, f"{len(jobs)} trainings for 93 names"
    models = service.client.get("/v1/admin/models").json()
    assert models["current"]["version"] == status["current_version"]
    current = next(m for m in models["items"] if m["current"])
    assert current["dataset"]["known_faces"] >= AUTO["auto_train_labels"], current["dataset"]

    photos = sorted((facedata / "celeb5" / "val").glob("*/*"))
    ids = {}
    for photo in photos:
        response = service.upload(photo)
        assert response.status_code in (200, 202), response.text
        ids[photo] = response.json()["id"]
    right, wrong = 0, []
    for photo, image_id in ids.items():
        image = service.wait_finished(image_id)
        faces = image["faces"]
        face = max(faces, key=lambda f: f["box"]["width"] * f["box"]["height"]) if faces else None
        got = face["person"]["name"] if face and face["person"] else None
        if got is not None and _spelling(got) == _spelling(photo.parent.name):
            right += 1
            assert face is not None and face["label_source"] == "model"
        else:
            wrong.append((photo.name, photo.parent.name, got))
    # A model that learnt the last people named is published: the one before is scored on the people it knows
    # (before that fix the first model, knowing 3 of the 5, was kept in one run of 4: 15/25 named right).
    assert right >= 23, f"{right}/25 named right with no one pressing Train; wrong: {wrong}; models: {models}"
    # Nothing new since: no further training starts by itself.
    time.sleep(AUTO["auto_train_quiet_seconds"] + 3)  # type: ignore[operator]
    again = _status(service)
    assert again["up_to_date"] and again["current_version"] == status["current_version"], (again, status)
