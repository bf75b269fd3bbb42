"""The admin API in-process: keys, jobs, the registry endpoints, rollback and refusal of a damaged file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from learning_data import BuiltModel

from services.core import registry as reg
from services.core.blobs import open_blobs
from services.core.settings import Settings
from services.gateway.app import create_app

KEY = "k-123"
ADMIN = {"X-Admin-Key": KEY}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path / "data", admin_keys=f"other-key, {KEY}")
    with TestClient(create_app(settings), base_url="http://localhost") as test_client:
        yield test_client


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/v1/admin/models"), ("post", "/v1/admin/train"), ("post", "/v1/admin/datasets"),
    ("put", "/v1/admin/models/current"), ("get", "/v1/admin/workers"), ("get", "/v1/admin/models/v1"),
    ("get", "/v1/admin/datasets/x/download"), ("post", "/v1/admin/switch-network"), ("post", "/v1/admin/redetect"),
])
def test_every_admin_endpoint_needs_a_key(client: TestClient, method: str, path: str) -> None:
    missing = client.request(method, path)
    assert missing.status_code == 401
    assert missing.json()["error"] == "unauthorized" and "Authorization: Bearer" in missing.json()["message"]
    wrong = client.request(method, path, headers={"X-Admin-Key": "nope"})
    assert wrong.status_code == 401 and "not valid" in wrong.json()["message"]
    bearer = client.request(method, path, headers={"Authorization": "Bearer nope"})
    assert bearer.status_code == 401


def test_no_keys_configured_says_how_to_switch_it_on(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "d", admin_keys=""))
    with TestClient(app, base_url="http://localhost") as client:
        response = client.get("/v1/admin/models", headers=ADMIN)
        assert response.status_code == 401 and "FACETAG_ADMIN_KEYS" in response.json()["message"]


def test_train_and_dataset_jobs_are_queued(client: TestClient) -> None:
    response = client.post("/v1/admin/train", json={"force": True}, headers={"Authorization": f"Bearer {KEY}"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "train" and job["state"] == "queued" and job["params"]["force"] is True
    assert response.headers["Location"] == f"/v1/jobs/{job['id']}"
    assert client.get(f"/v1/jobs/{job['id']}", headers=ADMIN).json()["id"] == job["id"]
    assert client.get("/v1/jobs/nope", headers=ADMIN).status_code == 404
    bad = client.post("/v1/admin/train", json={"threshold": -1}, headers=ADMIN)
    assert bad.status_code == 422
    dataset = client.post("/v1/admin/datasets", json={"since": "2024-01-01T00:00:00Z"}, headers=ADMIN)
    assert dataset.status_code == 202 and dataset.json()["params"]["since"].startswith("2024-01-01")
    not_ready = client.get(f"/v1/admin/datasets/{dataset.json()['id']}/download", headers=ADMIN)
    assert not_ready.status_code == 409 and "queued" in not_ready.json()["message"]


def test_models_rollback_and_damaged_file(client: TestClient, tmp_path: Path, built_models: list[BuiltModel]
                                          ) -> None:
    listing = client.get("/v1/admin/models", headers=ADMIN).json()
    assert listing["current"] is None and listing["items"] == [] and listing["switch_needed"] is False
    registry = reg.Registry(open_blobs(f"file://{tmp_path / 'data' / 'blobs'}"))
    for i, model in enumerate(built_models, start=1):
        registry.write_version(model.manifest(f"v{i}"), model.data)
    registry.set_current("v2", "trained")
    listing = client.get("/v1/admin/models", headers=ADMIN).json()
    assert listing["current"]["version"] == "v2"
    assert [(m["version"], m["current"]) for m in listing["items"]] == [("v2", True), ("v1", False)]
    rollback = client.put("/v1/admin/models/current", json={"version": "v1", "reason": "v2 mislabels"},
                          headers=ADMIN)
    assert rollback.status_code == 200 and rollback.json()["version"] == "v1"
    assert registry.current().reason == "v2 mislabels"  # type: ignore[union-attr]
    assert client.get("/v1/admin/models/v1", headers=ADMIN).json()["current"] is True
    missing = client.put("/v1/admin/models/current", json={"version": "v9"}, headers=ADMIN)
    assert missing.status_code == 404
    registry.blobs.put(reg.model_key("v2"), b"garbage")
    damaged = client.put("/v1/admin/models/current", json={"version": "v2"}, headers=ADMIN)
    assert damaged.status_code == 409 and "damaged" in damaged.json()["message"]
    assert registry.current().version == "v1"  # type: ignore[union-attr]
    assert client.get("/v1/admin/workers", headers=ADMIN).json() == {"items": []}
