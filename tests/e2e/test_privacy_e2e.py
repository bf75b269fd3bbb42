"""Privacy on a real library of the shared celeb5 photos, on ``facetag serve``: the first admin's password,
erasing a person a trained model learnt (nothing of them left, a model without them published), and
never-tag holding against the real model."""

from __future__ import annotations

import asyncio
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from service_fixtures import REPO_ROOT, Service, base_env, run_cluster, run_embedded
from traces import find_traces

from services.core.access.accounts import INITIAL_PASSWORD_FILE
from services.core.catalog import FaceQuery, open_catalog
from services.core.domain import FaceRecord

pytestmark = pytest.mark.e2e
PER_PERSON = 6


@pytest.fixture(scope="module", params=["embedded", pytest.param("cluster", marks=pytest.mark.servers)])
def library(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, facedata: Path
            ) -> Iterator[Service]:
    """Six training photos of each of the five people imported and named, a model trained, a dataset made;
    on ``facetag serve`` and on the cluster (gateway and workers on real Redis, FerretDB and MinIO)."""
    tmp = tmp_path_factory.mktemp(f"privacy-{request.param}")
    folder = tmp / "people"
    for person in sorted((facedata / "celeb5" / "train").iterdir()):
        (folder / person.name).mkdir(parents=True)
        for photo in sorted(person.iterdir())[:PER_PERSON]:
            shutil.copy(photo, folder / person.name / photo.name)
    if request.param == "embedded":
        running = run_embedded(tmp, model_check_interval=1)
    else:
        urls = [request.getfixturevalue(name) for name in ("redis_url", "mongo_url", "s3_url")]
        running = run_cluster(tmp, *urls, detectors=1, classifiers=1, model_check_interval=1)
    for service in running:
        env = {**base_env(service.data_dir), "FACETAG_API_TOKEN": service.token("editor", ["images:write", "edit"])}
        imported = subprocess.run([sys.executable, "-m", "services.commands.cli", "import", str(folder), "--url",
                                   service.url, "--no-progress"], env=env, cwd=REPO_ROOT, capture_output=True,
                                  text=True, timeout=600)
        assert imported.returncode == 0, imported.stdout + imported.stderr
        for path in ("/v1/admin/train", "/v1/admin/datasets"):
            job = _job(service, service.client.post(path, json={}).json()["id"])
            assert job["state"] == "done", job
        yield service


def _job(service: Service, job_id: str) -> dict[str, Any]:
    return service.poll(f"/v1/jobs/{job_id}", "state", ("done", "failed"), 240)


def _faces_of(service: Service, person_id: str) -> list[FaceRecord]:
    async def read() -> list[FaceRecord]:
        catalog = open_catalog(service.catalog_url)
        try:
            return await catalog.list_faces(FaceQuery(person_id=person_id, limit=10_000))
        finally:
            await catalog.close()

    return asyncio.run(read())


def _person(service: Service, name: str) -> dict[str, Any]:
    found: dict[str, Any] = next(p for p in service.client.get("/v1/people").json()["items"] if p["name"] == name)
    return found


def test_first_start_prints_and_keeps_an_initial_admin_password_only_its_owner_reads(library: Service) -> None:
    path = library.data_dir / INITIAL_PASSWORD_FILE
    if library.catalog_url.startswith("mongodb"):
        # A cluster's gateway makes no account: the operator makes the first admin on the command line.
        assert not path.exists()
        added = subprocess.run([sys.executable, "-m", "services.commands.cli", "users", "add", "admin",
                                "--role", "admin",
                                "--generate"], env=library.env, cwd=REPO_ROOT, capture_output=True, text=True,
                               timeout=60)
        assert added.returncode == 0, added.stderr
        password = added.stdout.split("with the password ")[1].split()[0]
        with httpx.Client(base_url=library.url) as browser:
            signed_in = browser.post("/v1/auth/login", json={"username": "admin", "password": password})
            assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "admin"
        return
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    password = path.read_text().split("password: ")[1].split()[0]
    assert f"sign in as admin with the password {password}" in library.processes[0].log.read_text()
    with httpx.Client(base_url=library.url) as browser:
        signed_in = browser.post("/v1/auth/login", json={"username": "admin", "password": password})
        assert signed_in.status_code == 200 and signed_in.json()["user"]["role"] == "admin"
        changed = browser.post("/v1/auth/password", json={"current_password": password,
                                                          "new_password": "my own long password"},
                               headers={"X-CSRF-Token": signed_in.json()["csrf_token"]})
        assert changed.status_code == 204
    assert not path.exists()  # the file goes once its password is no longer the admin's


def test_erasing_a_person_the_model_learnt_leaves_nothing_and_a_model_without_them_takes_over(
        library: Service) -> None:
    ben = _person(library, "Ben Afflek")
    faces = _faces_of(library, ben["id"])
    assert len(faces) >= PER_PERSON - 1 and all(f.descriptor for f in faces)
    ids = {ben["id"], *(f.id for f in faces)}
    descriptors = [f.descriptor for f in faces if f.descriptor]
    blob_url = library.env.get("FACETAG_BLOB_URL") or f"file://{library.data_dir / 'blobs'}"
    before = find_traces(library.catalog_url, blob_url, ids, descriptors)
    assert any("model" in t for t in before) and any("dataset" in t for t in before), before

    response = library.client.post(f"/v1/people/{ben['id']}/erase")
    assert response.status_code == 200, response.text
    report = response.json()
    assert report["faces_removed"] == len(faces) and report["chips_removed"] == len(faces)
    assert report["models_withdrawn"] == ["v1"] and len(report["datasets_rewritten"]) == 1
    assert report["leftovers"] == []
    retrained = _job(library, report["retrain_job_id"])
    assert retrained["state"] == "done" and retrained["result"]["promoted"], retrained
    models = library.client.get("/v1/admin/models").json()
    assert [m["version"] for m in models["items"]] == ["v2"] and models["current"]["version"] == "v2"
    assert {label["name"] for label in models["items"][0]["labels"]} == {
        "Elton John", "Jerry Seinfeld", "Madonna", "Mindy Kaling"}
    assert find_traces(library.catalog_url, blob_url, ids, descriptors) == []
    assert library.client.get(f"/v1/people/{ben['id']}").status_code == 404
    published = library.client.get("/v1/admin/audit", params={"action": "model.publish"}).json()["items"]
    assert (published[0]["actor"], published[0]["target_id"]) == ("trainer", "v2")


def test_never_tag_keeps_the_real_model_from_naming_a_person(library: Service, facedata: Path) -> None:
    madonna = _person(library, "Madonna")
    assert library.client.patch(f"/v1/people/{madonna['id']}", json={"never_tag": True}).status_code == 200
    photo = sorted((facedata / "celeb5" / "val" / "madonna").iterdir())[0]
    uploaded = library.upload(photo)
    image = library.wait_finished(uploaded.json()["id"])
    assert image["status"] == "done" and image["faces"]
    assert all(face["person"] is None for face in image["faces"]), image["faces"]
    # Her own named faces stay hers: a person named them.
    assert _person(library, "Madonna")["face_count"] >= PER_PERSON - 1


def test_backup_while_running_and_restore_into_a_fresh_folder(library: Service, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "services.commands.cli", "backup", str(tmp_path / "backup"), "--no-progress"]
    made = subprocess.run(command, env=library.env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    if library.catalog_url.startswith("mongodb"):
        assert made.returncode == 1 and "mongodump" in made.stderr  # the cluster's stores have their own tools
        return
    assert made.returncode == 0, made.stderr
    before = {path: library.client.get(path).json() for path in ("/v1/people", "/v1/admin/models")}
    images = library.client.get("/v1/images", params={"limit": 200}).json()

    restored_env = {**library.env, "FACETAG_DATA_DIR": str(tmp_path / "second" / "data")}
    restored_env.pop("FACETAG_CATALOG_URL", None)
    put = subprocess.run([sys.executable, "-m", "services.commands.cli", "restore", str(tmp_path / "backup"),
                          "--no-progress"], env=restored_env, cwd=REPO_ROOT, capture_output=True, text=True,
                         timeout=300)
    assert put.returncode == 0, put.stderr
    again = subprocess.run([sys.executable, "-m", "services.commands.cli", "restore", str(tmp_path / "backup")],
                           env=restored_env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert again.returncode == 1 and "already holds a library" in again.stderr
    for restored in run_embedded(tmp_path / "second"):  # serves tmp_path/second/data, the restored folder
        assert restored.client.get("/v1/people").json() == before["/v1/people"]
        models = restored.client.get("/v1/admin/models").json()
        assert models["current"] == before["/v1/admin/models"]["current"] and models["items"]
        listed = restored.client.get("/v1/images", params={"limit": 200}).json()
        assert [i["id"] for i in listed["items"]] == [i["id"] for i in images["items"]]
        for image in images["items"]:
            same = restored.client.get(f"/v1/images/{image['id']}").json()
            assert [(f["id"], f["person"]) for f in same["faces"]] == [(f["id"], f["person"]) for f in image["faces"]]
            assert restored.client.get(f"/v1/images/{image['id']}/original").status_code == 200
