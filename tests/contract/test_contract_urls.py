"""Choosing a store by URL, and what a user sees when a store is missing or unreachable."""

from __future__ import annotations

import re
import socket
import uuid
from pathlib import Path

import pytest
from minio import Minio

from services.core.blobs import open_blobs
from services.core.blobs.local import LocalBlobStore
from services.core.blobs.s3 import S3BlobStore
from services.core.catalog import open_catalog
from services.core.catalog.mongo import MongoCatalog
from services.core.catalog.sqlite import SQLiteCatalog
from services.core.errors import StoreUnavailable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # nothing listens here once the socket is closed


def test_catalog_urls(tmp_path: Path) -> None:
    sqlite = open_catalog(f"sqlite://{tmp_path}/a.db")
    assert isinstance(sqlite, SQLiteCatalog) and sqlite.path == tmp_path / "a.db"
    four_slashes = open_catalog(f"sqlite:///{tmp_path}/b.db")  # what sqlite:///<absolute path> gives
    assert isinstance(four_slashes, SQLiteCatalog) and four_slashes.path == tmp_path / "b.db"
    mongo = open_catalog("mongodb://db.example:27017/gallery")
    assert isinstance(mongo, MongoCatalog) and mongo.database_name == "gallery"
    assert isinstance(open_catalog("mongodb://db.example:27017"), MongoCatalog)


@pytest.mark.parametrize(
    "url", ["", "postgres://x/y", "sqlite://relative.db", "sqlite:///", "mongodb://", "http://x", "/data/f.db"]
)
def test_bad_catalog_urls_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match="sqlite:///") as caught:
        open_catalog(url)
    assert "mongodb://" in str(caught.value)


def test_bad_catalog_url_messages_hide_passwords() -> None:
    with pytest.raises(ValueError) as caught:
        open_catalog("postgres://user:hunter2@db/x")
    assert "hunter2" not in str(caught.value)


def test_blob_urls(tmp_path: Path) -> None:
    local = open_blobs(f"file://{tmp_path}/blobs")
    assert isinstance(local, LocalBlobStore) and local.root == tmp_path / "blobs"
    s3 = open_blobs("s3://key:s%2Fcret@minio.local:9000/photos/deploy-a?secure=true&region=eu-1")
    assert isinstance(s3, S3BlobStore)
    assert (s3.endpoint, s3.bucket, s3.prefix) == ("minio.local:9000", "photos", "deploy-a/")


@pytest.mark.parametrize(
    "url", ["", "file://relative/blobs", "file:///", "s3://key:secret@host:9000", "s3://", "ftp://x/y", "/data"]
)
def test_bad_blob_urls_name_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match="file:///") as caught:
        open_blobs(url)
    assert "s3://" in str(caught.value) and "secret" not in str(caught.value)


async def test_unusable_sqlite_location_is_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    catalog = SQLiteCatalog(blocker / "catalog.db")
    with pytest.raises(StoreUnavailable, match="a-file"):
        await catalog.connect()
    with pytest.raises(StoreUnavailable, match="a-file"):
        await catalog.get_image("x")


async def test_unreachable_mongo_is_unavailable() -> None:
    catalog = MongoCatalog(f"mongodb://127.0.0.1:{_closed_port()}/x", server_timeout_ms=300)
    try:
        with pytest.raises(StoreUnavailable, match=re.escape("127.0.0.1")):
            await catalog.ping()
        with pytest.raises(StoreUnavailable):
            await catalog.get_image("x")
    finally:
        await catalog.close()


def test_unreachable_s3_is_unavailable_and_names_the_endpoint() -> None:
    port = _closed_port()
    store = S3BlobStore(f"s3://key:secret123@127.0.0.1:{port}/bucket", connect_timeout=0.5)
    for call in (store.ping, lambda: store.get("a"), lambda: store.put("a", b"x"), lambda: store.list("")):
        with pytest.raises(StoreUnavailable, match=re.escape(f"127.0.0.1:{port}")):
            call()


@pytest.mark.servers
def test_s3_creates_a_missing_bucket_on_first_use(s3_url: str) -> None:
    bucket = f"contract-{uuid.uuid4().hex[:12]}"
    url = s3_url.rsplit("/", 1)[0] + f"/{bucket}"
    store = open_blobs(url)
    store.put("a/b", b"data")
    assert store.get("a/b") == b"data"
    access, secret, endpoint = _s3_parts(s3_url)
    client = Minio(endpoint, access, secret, secure=False)
    assert client.bucket_exists(bucket)
    store.delete_prefix("")
    client.remove_bucket(bucket)


@pytest.mark.servers
def test_s3_wrong_credentials_are_unavailable_with_a_clear_message(s3_url: str) -> None:
    access, _, endpoint = _s3_parts(s3_url)
    store = open_blobs(f"s3://{access}:wrong-secret@{endpoint}/facetag-test")
    with pytest.raises(StoreUnavailable, match="credentials"):
        store.get("a")


def _s3_parts(url: str) -> tuple[str, str, str]:
    credentials, _, rest = url[len("s3://") :].partition("@")
    access, _, secret = credentials.partition(":")
    return access, secret, rest.split("/", 1)[0]
