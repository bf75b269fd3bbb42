"""The API keeps the contract its OpenAPI document states, fuzzed by schemathesis against a live ``facetag serve``.

Schemathesis reads ``/openapi.json`` and sends what it calls valid (which must be taken) and what it calls
invalid (which must be refused with a 4xx), in every phase (examples, coverage of boundaries, fuzzing,
stateful sequences that follow the ids one answer gives to the next), with every check (``--checks all``):
no 5xx, only documented statuses, content types, headers and bodies, a 401 without credentials, a 405 with
``Allow`` for a method a path does not take, a deleted thing gone. The service holds real photos, their
faces, people (one named on a face), a user with a token and a finished dataset; half the ids it puts in
paths and bodies are theirs, so requests reach more than the 404 of an unknown id.

It is deterministic (a fixed seed, one worker) and bounded for CI: FACETAG_FUZZ_EXAMPLES examples per
operation (default 20; 3 for operations that start heavy background work, see ``schemathesis.toml``), about
two minutes in all on two busy cores, service start and photos included. A longer run, e.g. before a
release, with another seed (FACETAG_FUZZ_SEED)::

    FACETAG_FUZZ_EXAMPLES=200 FACETAG_FUZZ_SEED=7 .venv/bin/pytest tests/e2e/test_api_contract_fuzz.py

A failure prints schemathesis's own report: each failure with a curl line to reproduce it, and the seed.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.e2e

CONFIG = Path(__file__).with_name("schemathesis.toml")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
EXAMPLES = int(os.environ.get("FACETAG_FUZZ_EXAMPLES", "20"))
SEED = int(os.environ.get("FACETAG_FUZZ_SEED", "20241130"))
# Seconds for the schemathesis run: about 90 plus 2 per example at most, so only a hung run comes near it.
TIMEOUT = 120 + 12 * EXAMPLES
KNOWN_ID_SHARE = 0.5  # of the ids schemathesis puts in paths and bodies; the rest it makes up


@dataclass
class Library:
    service: Service
    known: dict[str, list[str]]  # ids (and names) that exist, by the parameters that take them


def _seed(service: Service, facedata: Path) -> dict[str, list[str]]:
    """Photos analysed, a face named, a person without faces, a viewer with a token, a finished dataset."""
    uploads = [service.upload(photo) for photo in sorted((facedata / "facetag_samples").glob("*.jpg"))]
    assert all(response.status_code == 202 for response in uploads), [r.text for r in uploads]
    images = [service.wait_finished(response.json()["id"]) for response in uploads]
    assert all(image["status"] == "done" for image in images), images
    faces = [face["id"] for image in images for face in image["faces"]]
    named = service.client.patch(f"/v1/faces/{faces[0]}", json={"name": "Ben Affleck"})
    assert named.status_code == 200, named.text
    alone = service.client.post("/v1/people", json={"name": "Grace Hopper"})
    assert alone.status_code == 201, alone.text
    service.token("viewer", ["read"])
    dataset = service.client.post("/v1/admin/datasets", json={"label_sources": ["person", "model"]})
    assert dataset.status_code == 202, dataset.text
    assert service.poll(f"/v1/jobs/{dataset.json()['id']}", "state", ("done", "failed"), 120)["state"] == "done"
    people = service.client.get("/v1/people").json()["items"]
    users = service.client.get("/v1/admin/users").json()["items"]  # a handful: one page
    return {
        "image": [image["id"] for image in images],
        "face": faces,
        "person": [person["id"] for person in people],
        "name": [person["name"] for person in people],
        "user": [user["id"] for user in users],
        "username": [user["username"] for user in users],
        "token": [token["id"] for token in service.client.get("/v1/tokens", params={"all": "true"}).json()["items"]],
        "job": [dataset.json()["id"]],
    }


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory, facedata: Path) -> Iterator[Library]:
    for service in run_embedded(tmp_path_factory.mktemp("contract"), stalled_after=20):
        yield Library(service, _seed(service, facedata))


# Where each kind of known id goes: schemathesis parameter keys (location.name) by dictionary.
USES = {
    "image": ["path.image_id"],
    "face": ["path.face_id"],
    "person": ["path.person_id", "body.person_id", "body.into"],
    "name": ["body.name"],
    "user": ["path.user_id"],
    "username": ["body.for_user"],
    "token": ["path.token_id"],
    "job": ["path.job_id"],
}


def write_config(known: dict[str, list[str]], folder: Path) -> Path:
    """tests/e2e/schemathesis.toml, and the ids that exist as dictionaries schemathesis draws from."""
    lines = [CONFIG.read_text(), "", "# Made by the test: ids that exist in the fuzzed service."]
    for kind, values in known.items():
        lines += [f"[dictionaries.{kind}]", f"values = {json.dumps(values)}"]
    lines.append("[parameters]")
    for kind, keys in USES.items():
        lines += [f'"{key}" = {{ dictionary = "{kind}", probability = {KNOWN_ID_SHARE} }}' for key in keys]
    path = folder / "schemathesis.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def schemathesis_command(config: Path, url: str, key: str) -> list[str]:
    return [
        str(SCHEMATHESIS), "--config-file", str(config), "--no-color",
        "run", f"{url}/openapi.json",
        "--header", f"Authorization: Bearer {key}",
        "--checks", "all",
        "--mode", "all",
        "--max-examples", str(EXAMPLES),
        "--seed", str(SEED),
        # One worker: the operations run in one order, so a seed replays the same requests on the same state.
        "--workers", "1",
        # Nothing remembered between runs: the seed alone decides what is sent.
        "--generation-database", "none",
        "--request-timeout", "60",
    ]


@pytest.mark.timeout(TIMEOUT + 240)  # and starting the service with its photos, which the module fixture does
def test_the_api_keeps_its_openapi_contract(library: Library, tmp_path: Path) -> None:
    service = library.service
    command = schemathesis_command(write_config(library.known, tmp_path), service.url, service.admin_key)
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=TIMEOUT,
                         env={**os.environ, "NO_COLOR": "1"})
    if run.returncode != 0:
        shown = shlex.join(command).replace(service.admin_key, "$ADMIN_KEY")
        pytest.fail(f"schemathesis found the API breaking its contract (exit {run.returncode}).\n"
                    f"Reproduce against a `facetag serve` of your own: {shown}\n\n"
                    f"{run.stdout}\n{run.stderr}\n--- service logs ---\n{service.logs()}", pytrace=False)
