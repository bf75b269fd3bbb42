"""``facetag import`` on ``facetag serve`` with real celeb5 photos: folder names are tidied into people's names,
and a folder matches the person someone already named in the UI however the folder spells it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from service_fixtures import REPO_ROOT, Service, base_env, embedded_service

__all__ = ["embedded_service"]
pytestmark = pytest.mark.e2e


def _copy(facedata: Path, person: str, folder: Path, count: int) -> None:
    folder.mkdir(parents=True)
    for photo in sorted((facedata / "celeb5" / "train" / person).iterdir())[:count]:
        shutil.copy(photo, folder / photo.name)


def _import(service: Service, folder: Path) -> subprocess.CompletedProcess[str]:
    env = {**base_env(service.data_dir), "FACETAG_API_TOKEN": service.token("editor", ["images:write", "edit"])}
    return subprocess.run([sys.executable, "-m", "services.commands.cli", "import", str(folder), "--url", service.url,
                           "--no-progress"], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)


def test_import_names_people_tidily_and_joins_the_person_named_in_the_ui(
        embedded_service: Service, facedata: Path, tmp_path: Path) -> None:
    service = embedded_service
    typed = service.client.post("/v1/people", json={"name": "Ben Afflek"})  # as someone types it on the People page
    assert typed.status_code == 201, typed.text
    folder = tmp_path / "people"
    _copy(facedata, "ben_afflek", folder / "ben_afflek", 2)
    _copy(facedata, "mindy_kaling", folder / "mindy.kaling", 1)
    _copy(facedata, "jerry_seinfeld", folder / "JERRY_SEINFELD", 1)

    imported = _import(service, folder)

    assert imported.returncode == 0, imported.stdout + imported.stderr
    people = {p["name"]: p for p in service.client.get("/v1/people").json()["items"]}
    assert set(people) == {"Ben Afflek", "Mindy Kaling", "Jerry Seinfeld"}, imported.stdout
    assert people["Ben Afflek"]["id"] == typed.json()["id"]  # one person, not "Ben Afflek" and "ben_afflek"
    assert people["Ben Afflek"]["face_count"] == 2
    assert (people["Mindy Kaling"]["face_count"], people["Jerry Seinfeld"]["face_count"]) == (1, 1)
    assert "of 3 people" in imported.stdout and "Ben Afflek: 2" in imported.stdout

    # Imported again under another spelling of the same folder: the faces are found already named, nobody is added.
    (folder / "ben_afflek").rename(folder / "Ben-Afflek")
    again = _import(service, folder)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already named before: 4" in again.stdout
    assert {p["name"] for p in service.client.get("/v1/people").json()["items"]} == set(people)
