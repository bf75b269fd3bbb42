"""The harness itself: each fixture gives a real, working server, and failures are reported plainly."""

from __future__ import annotations

import io
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import redis

# tests/ has no __init__.py, so pytest puts it on sys.path: keep it that way for this import to work.
import servers
from minio import Minio
from motor.motor_asyncio import AsyncIOMotorClient

pytestmark = pytest.mark.servers


def test_redis_set_get(redis_url: str) -> None:
    assert redis_url.startswith("redis://127.0.0.1:") and redis_url.endswith("/0")
    client = redis.Redis.from_url(redis_url)
    try:
        key = f"harness:{uuid.uuid4().hex}"
        client.set(key, b"value", ex=60)
        assert client.get(key) == b"value"
    finally:
        client.close()


async def test_ferretdb_insert_find(mongo_url: str) -> None:
    assert mongo_url.startswith("mongodb://127.0.0.1:") and mongo_url.endswith("/facetag_test")
    client: AsyncIOMotorClient[dict[str, object]] = AsyncIOMotorClient(
        mongo_url, serverSelectionTimeoutMS=5000
    )
    try:
        database = client.get_default_database()
        assert database.name == "facetag_test"
        collection = database[f"harness_{uuid.uuid4().hex}"]
        await collection.insert_one({"_id": "a", "name": "Ada", "faces": 2})
        await collection.insert_one({"_id": "b", "name": "Bob", "faces": 0})
        found = await collection.find_one({"faces": {"$gt": 1}})
        assert found == {"_id": "a", "name": "Ada", "faces": 2}
        await collection.drop()
    finally:
        client.close()


def test_minio_put_get(s3_url: str) -> None:
    parts = urlsplit(s3_url)
    assert parts.scheme == "s3" and parts.hostname == "127.0.0.1"
    assert parts.username and parts.password and parts.port
    bucket = parts.path.strip("/")
    assert bucket == "facetag-test"
    client = Minio(f"{parts.hostname}:{parts.port}", parts.username, parts.password, secure=False)
    assert client.bucket_exists(bucket), "the fixture must create the bucket"
    name = f"harness/{uuid.uuid4().hex}.bin"
    payload = bytes(range(256)) * 64
    client.put_object(bucket, name, io.BytesIO(payload), len(payload), content_type="application/x-test")
    response = client.get_object(bucket, name)
    try:
        assert response.read() == payload
    finally:
        response.close()
        response.release_conn()
    client.remove_object(bucket, name)


def test_facedata_is_a_folder_of_files(facedata: Path) -> None:
    assert facedata.is_dir()
    assert any(path.is_file() for path in facedata.rglob("*"))


def test_failed_start_reports_the_log_tail() -> None:
    """A server that cannot start raises with its own error text, and leaves no folder behind."""
    binary = servers.find_binary("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed; run scripts/install-servers")
    with (pytest.raises(servers.ServerStartError) as caught,
          pytest.warns(UserWarning, match="failed, trying again on a fresh port") as retries):
        servers.start_redis(binary, extra_args=["--no-such-directive-for-facetag", "1"], timeout=10)
    # Each retry said why; the last failure is the error itself.
    assert [f"attempt {n} of 3" in str(w.message) for n, w in enumerate(retries, 1)] == [True, True]
    message = str(caught.value)
    assert "exited with code" in message
    assert "no-such-directive-for-facetag" in message  # Redis names the bad directive in its log


def test_stop_ends_the_process_and_removes_its_folder() -> None:
    binary = servers.find_binary("redis-server")
    if binary is None:
        pytest.skip("redis-server not installed; run scripts/install-servers")
    server = servers.start_redis(binary)
    assert server.workdir.is_dir()
    server.stop()
    assert server.process.poll() is not None
    assert not server.workdir.exists()
    server.stop()  # a second stop is harmless
