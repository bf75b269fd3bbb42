"""docker-compose.yml and the image recipe: checked against the Compose specification's JSON schema
(from the compose-go module, via scripts/install-servers), by ``docker compose config`` where Docker is
installed, and by structure."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKERS = ("detector", "classifier")
SINGLETONS = ("trainer", "beat")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_follows_the_compose_specification(compose: dict[str, Any], schema_file: Callable[[str], Path]) -> None:
    schema = json.loads(schema_file("compose-spec.json").read_text())
    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert not errors, "docker-compose.yml breaks the Compose specification:\n" + "\n".join(errors)
    misspelt = {**compose, "services": {**compose["services"], "redis": {**compose["services"]["redis"],
                                                                         "restart_policy": "always"}}}
    assert not validator.is_valid(misspelt), "the schema check must catch an unknown key"


def _has_docker_compose() -> bool:
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "compose", "version"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _has_docker_compose(), reason="no Docker Compose here; the schema check stands in")
def test_docker_compose_accepts_it() -> None:
    env = {**os.environ, "MINIO_ROOT_PASSWORD": "only-for-config-rendering"}
    checked = subprocess.run(["docker", "compose", "-f", str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                             capture_output=True, text=True, env=env)
    assert checked.returncode == 0, checked.stderr


def test_has_the_whole_cluster(compose: dict[str, Any]) -> None:
    assert {"redis", "mongo", "minio", "minio-bucket", "gateway", *WORKERS, *SINGLETONS} <= set(compose["services"])


def test_facetag_services_share_one_image_built_from_deploy(compose: dict[str, Any]) -> None:
    for name in ("gateway", *WORKERS, *SINGLETONS):
        service = compose["services"][name]
        assert service["build"]["dockerfile"] == "deploy/Dockerfile" and service["build"]["context"] == "."
        assert service["image"] == "facetag:latest"
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, re.MULTILINE):
        for path in source.split():
            assert (ROOT / path).exists(), f"Dockerfile copies {path}, which is not in the repository"
    assert "facetag models prepare" in dockerfile


@pytest.mark.parametrize("worker", WORKERS)
def test_workers_scale_by_replicas(compose: dict[str, Any], worker: str) -> None:
    service = compose["services"][worker]
    assert "container_name" not in service and "ports" not in service
    assert service["command"] == ["facetag", "worker", worker]


def test_services_reach_the_stores_by_service_name(compose: dict[str, Any]) -> None:
    env = compose["services"]["gateway"]["environment"]
    assert env["FACETAG_CATALOG_URL"].startswith("mongodb://mongo:27017/")
    assert env["FACETAG_BROKER_URL"].startswith("redis://redis:6379/")
    assert "@minio:9000/facetag" in env["FACETAG_BLOB_URL"]
    bucket_job = " ".join(compose["services"]["minio-bucket"]["command"])
    assert "mc mb --ignore-existing facetag/facetag" in bucket_job
    depends = compose["services"]["gateway"]["depends_on"]
    assert depends["minio-bucket"]["condition"] == "service_completed_successfully"


def test_only_the_gateway_publishes_a_port(compose: dict[str, Any]) -> None:
    published = {name for name, s in compose["services"].items() if s.get("ports") and not s.get("profiles")}
    assert published == {"gateway"}


def test_trainer_and_schedule(compose: dict[str, Any]) -> None:
    assert compose["services"]["trainer"]["command"] == ["facetag", "worker", "trainer"]
    assert compose["services"]["beat"]["command"] == ["facetag", "beat"]
    assert "FACETAG_TRAIN_SCHEDULE" in compose["services"]["beat"]["environment"]


def test_nothing_listens_on_the_network_by_default_and_no_password_is_built_in(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            assert str(port).startswith(("${FACETAG_BIND:-127.0.0.1}:", "127.0.0.1:")), f"{name} publishes {port}"
    text = (ROOT / "docker-compose.yml").read_text()
    assert "change-me" not in text and "MINIO_ROOT_PASSWORD:?" in text
    env = compose["services"]["gateway"]["environment"]
    assert {"FACETAG_PUBLIC_URL", "FACETAG_TRUSTED_HOSTS"} <= set(env)


@pytest.mark.parametrize("worker", (*WORKERS, "trainer"))
def test_workers_are_healthy_when_their_readyz_says_so(compose: dict[str, Any], worker: str) -> None:
    service = compose["services"][worker]
    port = service["environment"]["FACETAG_METRICS_PORT"]
    check = " ".join(service["healthcheck"]["test"])
    assert service["healthcheck"]["test"][0] == "CMD" and f"http://127.0.0.1:{port}/readyz" in check
    assert service["expose"] == [port] and "FACETAG_METRICS_TOKEN" in service["environment"]
