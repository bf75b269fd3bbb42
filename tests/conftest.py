"""Session fixtures for real servers and the shared face photos.

Each server starts only when a test first asks for its fixture, once per session, and stops at the end.
A missing binary skips those tests, or fails them when FACETAG_REQUIRE_SERVERS=1 (CI). A missing
shared photo folder skips, or fails when FACETAG_REQUIRE_SHARED=1 (CI).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest

# tests/ has no __init__.py, so pytest puts it on sys.path: keep it that way for this import to work.
import servers

REPO_ROOT = Path(__file__).resolve().parent.parent


def _required(variable: str) -> bool:
    return os.environ.get(variable, "").strip().lower() in {"1", "true", "yes"}


def _skip_or_fail(message: str, require_variable: str) -> NoReturn:
    if _required(require_variable):
        pytest.fail(f"{message} ({require_variable} is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


def _binary(name: str) -> Path:
    path = servers.find_binary(name)
    if path is None:
        _skip_or_fail(
            f"{name} not found in {servers.server_cache_bin()} or on PATH; run scripts/install-servers",
            "FACETAG_REQUIRE_SERVERS",
        )
    return path


def _serve(name: str, start: Callable[[Path], servers.RunningServer]) -> Iterator[str]:
    server = start(_binary(name))
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """``redis://127.0.0.1:P/0`` of a real Redis started for this session."""
    yield from _serve("redis-server", servers.start_redis)


@pytest.fixture(scope="session")
def mongo_url() -> Iterator[str]:
    """``mongodb://127.0.0.1:P/facetag_test`` of a real FerretDB (MongoDB protocol) for this session."""
    yield from _serve("ferretdb", servers.start_ferretdb)


@pytest.fixture(scope="session")
def s3_url() -> Iterator[str]:
    """``s3://ACCESS:SECRET@127.0.0.1:P/facetag-test`` of a real MinIO (plain http), bucket created."""
    yield from _serve("minio", servers.start_minio)


@pytest.fixture(scope="session")
def mqtt_url() -> Iterator[str]:
    """``mqtt://facetag:PASSWORD@127.0.0.1:P`` of a real Mosquitto that lets in only that user."""
    yield from _serve("mosquitto", servers.start_mosquitto)


@pytest.fixture(scope="session")
def facedata() -> Path:
    """The shared folder of real face photos (``../shared/facedata``, or ``$FACETAG_FACEDATA``)."""
    override = os.environ.get("FACETAG_FACEDATA")
    path = Path(override) if override else REPO_ROOT.parent / "shared" / "facedata"
    if not path.is_dir() or not any(path.iterdir()):
        _skip_or_fail(
            f"shared face photos not found at {path} (missing or empty); "
            "put them there or point FACETAG_FACEDATA at them",
            "FACETAG_REQUIRE_SHARED",
        )
    return path.resolve()


CATALOGS = ["sqlite", pytest.param("mongo", marks=pytest.mark.servers)]


@pytest.fixture(params=CATALOGS)
def catalog_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL naming an empty catalog no other test sees: a SQLite file, or a FerretDB database of its
    own that is dropped afterwards. Tests using it run on both catalog implementations."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    base = urlsplit(request.getfixturevalue("mongo_url"))
    url = urlunsplit(base._replace(path=f"/facetag_{uuid.uuid4().hex[:16]}"))
    yield url
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        client.drop_database(client.get_default_database().name)
    finally:
        client.close()


def _durable_redis() -> servers.RunningServer:
    """A Redis writing every command to its append-only file, as a production Redis should."""
    return servers.start_redis(_binary("redis-server"), ["--appendonly", "yes", "--appendfsync", "always"])


@pytest.fixture
def crashable_redis() -> Iterator[servers.RunningServer]:
    """A durable Redis for one test alone, to crash and start again."""
    server = _durable_redis()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def own_servers() -> Iterator[dict[str, servers.RunningServer]]:
    """A durable Redis, FerretDB and MinIO for one module alone, for tests that crash and restart them
    (``crash``, ``start_again``)."""
    started: dict[str, servers.RunningServer] = {}
    try:
        started["redis"] = _durable_redis()
        started["mongo"] = servers.start_ferretdb(_binary("ferretdb"))
        started["minio"] = servers.start_minio(_binary("minio"))
        yield started
    finally:
        for server in started.values():
            server.stop()
