"""A library made by the old stack (dlib HOG + dlib descriptors) moves to the new defaults.

Start the embedded service as it was (FACETAG_DETECTOR=hog, FACETAG_DESCRIPTOR=dlib), import part of
celeb5, correct a few faces by hand and train a dlib model. Restart on the defaults (CenterFace, SFace):
the old model keeps serving until the switch job has described every face again and published a
model on SFace; every human label is kept. Then re-detect the library with CenterFace: again every
human label is kept.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from service_fixtures import REPO_ROOT, Service, base_env, run_embedded

from services.core.catalog import FaceQuery, open_catalog
from services.core.domain import FaceRecord

pytestmark = pytest.mark.e2e
KEY = "switch-admin-key"
ADMIN = {"X-Admin-Key": KEY}
SETTINGS: dict[str, str | int | float] = {"admin_keys": KEY, "model_check_interval": 1}
PER_PERSON = 6


def _faces(service: Service) -> list[FaceRecord]:
    async def read() -> list[FaceRecord]:
        catalog = open_catalog(service.catalog_url)
        await catalog.connect()
        try:
            return await catalog.list_faces(FaceQuery(limit=100_000))
        finally:
            await catalog.close()

    return asyncio.run(read())


def _human_labels(service: Service) -> dict[str, str | None]:
    return {f.id: f.person_id for f in _faces(service) if f.label_source is not None and f.label_source == "person"}


def _job(service: Service, path: str, timeout: float = 400) -> dict[str, Any]:
    response = service.client.post(path, headers=ADMIN)
    assert response.status_code == 202, response.text
    job = service.poll(f"/v1/jobs/{response.json()['id']}", "state", ("done", "failed"), timeout)
    assert job["state"] == "done", job
    return job


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[Path]:
    """A data folder made by the old stack: a few celeb5 photos per person, two hand corrections, model v1."""
    tmp = tmp_path_factory.mktemp("switch")
    folder = tmp / "people"
    for person in sorted((facedata / "celeb5" / "train").iterdir()):
        (folder / person.name).mkdir(parents=True)
        for photo in sorted(person.iterdir())[:PER_PERSON]:
            shutil.copy(photo, folder / person.name / photo.name)
    old = run_embedded(tmp, detector="hog", descriptor="dlib", **SETTINGS)
    service = next(old)
    try:
        result = subprocess.run([sys.executable, "-m", "services.commands.cli", "import", str(folder), "--url",
                                 service.url, "--no-progress"], cwd=REPO_ROOT,
                                env={**base_env(service.data_dir), "FACETAG_API_TOKEN": service.admin_key},
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stdout + result.stderr
        job = _job(service, "/v1/admin/train")
        assert job["result"]["promoted"] and job["result"]["version"] == "v1", job
        models = service.client.get("/v1/admin/models", headers=ADMIN).json()
        assert models["items"][0]["descriptor"] == "dlib-resnet_v1" and models["items"][0]["chip_size"] == 150
        # a person says one face is unknown: a human label too, and it must survive
        face = next(f for f in _faces(service) if f.label_source == "person")
        assert service.client.patch(f"/v1/faces/{face.id}", json={"unknown": True}).status_code == 200
    finally:
        next(old, None)
    yield tmp


@pytest.fixture(scope="module")
def new_service(library: Path) -> Iterator[Service]:
    yield from run_embedded(library, **SETTINGS)


def test_old_model_serves_until_the_switch(new_service: Service, facedata: Path) -> None:
    models = new_service.client.get("/v1/admin/models", headers=ADMIN).json()
    assert models["switch_needed"] is True and models["library_network"] == "dlib-resnet_v1"
    assert models["configured_network"] == "sface-2021dec"
    photo = sorted((facedata / "celeb5" / "val" / "madonna").iterdir())[0]
    image = new_service.wait_finished(new_service.upload(photo).json()["id"])
    face = max(image["faces"], key=lambda f: f["box"]["width"])
    assert face["descriptor_model"] == "dlib-resnet_v1"  # cut and described for the model in service
    assert face["model_version"] == "v1"


def test_switch_keeps_every_human_label_and_serves_sface(new_service: Service, facedata: Path) -> None:
    before = _human_labels(new_service)
    assert len(before) >= 5 * PER_PERSON - 3 and None in before.values()
    job = _job(new_service, "/v1/admin/switch-network")
    result = job["result"]
    assert result["switched"] and result["network"] == "sface-2021dec", result
    assert result["previous_network"] == "dlib-resnet_v1" and result["version"] == "v2"
    assert _human_labels(new_service) == before
    faces = _faces(new_service)
    assert {f.descriptor_model for f in faces} == {"sface-2021dec"}
    assert all(f.descriptor is not None and len(f.descriptor) == 128 and f.quality is not None for f in faces)
    models = new_service.client.get("/v1/admin/models", headers=ADMIN).json()
    assert models["current"]["version"] == "v2" and models["switch_needed"] is False
    assert models["items"][0]["descriptor"] == "sface-2021dec" and models["items"][0]["chip_size"] == 112
    # new photos are cut for SFace and named by the new model
    photo = sorted((facedata / "celeb5" / "val" / "elton_john").iterdir())[0]
    image = new_service.wait_finished(new_service.upload(photo).json()["id"])
    face = max(image["faces"], key=lambda f: f["box"]["width"])
    assert face["descriptor_model"] == "sface-2021dec" and face["model_version"] == "v2"
    # Six photos a person is little to learn from: the honest answer may be unknown, never someone else.
    assert face["person"] is None or face["person"]["name"] == "Elton John", face
    # a second run has nothing left to do
    again = _job(new_service, "/v1/admin/switch-network")
    assert again["result"]["described"] == 0 and "nothing to do" in again["message"]


def test_redetect_keeps_every_human_label(new_service: Service) -> None:
    before = _human_labels(new_service)
    job = _job(new_service, "/v1/admin/redetect")
    assert job["result"]["queued"] >= 5 * PER_PERSON
    after = _faces(new_service)
    assert _human_labels(new_service) == before
    detectors = {f.detector for f in after if f.label_source != "person" and f.origin == "detector"}
    assert detectors <= {"centerface-deface1.5.0+recheck"}
    # faces nobody touched come from CenterFace now, and every face is described by SFace again
    assert {f.descriptor_model for f in after} == {"sface-2021dec"}
