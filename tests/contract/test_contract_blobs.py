"""Blob store contract: every implementation (local folder, S3/MinIO) passes these same tests."""

from __future__ import annotations

import os
import threading

import pytest

from services.core.blobs import BlobStore
from services.core.errors import InvalidInput, NotFound

UNSAFE_KEYS = ["", "/etc/passwd", "../outside", "a/../../b", "a/..", "./a", "a/./b", "a//b", "a/", ".hidden", "a\\b"]


def test_put_get_overwrite(blobs: BlobStore) -> None:
    blobs.put("images/1/original", b"first", "image/jpeg")
    assert blobs.get("images/1/original") == b"first"
    assert blobs.exists("images/1/original")
    blobs.put("images/1/original", b"second")
    assert blobs.get("images/1/original") == b"second"


def test_empty_and_binary_blobs_round_trip(blobs: BlobStore) -> None:
    payload = bytes(range(256)) * 1000 + os.urandom(4096)
    blobs.put("datasets/empty", b"")
    blobs.put("datasets/binary.zip", payload)
    assert blobs.get("datasets/empty") == b""
    assert blobs.get("datasets/binary.zip") == payload


def test_missing_key_is_not_found(blobs: BlobStore) -> None:
    with pytest.raises(NotFound):
        blobs.get("images/none/original")
    assert not blobs.exists("images/none/original")
    blobs.put("images/some/original", b"x")
    assert not blobs.exists("images/some")  # a folder is not a blob
    with pytest.raises(NotFound):
        blobs.get("images/some")


@pytest.mark.parametrize("key", UNSAFE_KEYS)
def test_unsafe_keys_are_invalid_input(blobs: BlobStore, key: str) -> None:
    with pytest.raises(InvalidInput):
        blobs.put(key, b"x")
    with pytest.raises(InvalidInput):
        blobs.get(key)
    with pytest.raises(InvalidInput):
        blobs.exists(key)
    with pytest.raises(InvalidInput):
        blobs.delete(key)


@pytest.mark.parametrize("prefix", ["/", "/etc", "../", "a/../", ".hidden"])
def test_unsafe_prefixes_are_invalid_input(blobs: BlobStore, prefix: str) -> None:
    with pytest.raises(InvalidInput):
        blobs.list(prefix)


def test_delete_and_delete_missing(blobs: BlobStore) -> None:
    blobs.put("faces/f1/chip.png", b"chip")
    blobs.delete("faces/f1/chip.png")
    assert not blobs.exists("faces/f1/chip.png")
    with pytest.raises(NotFound):
        blobs.get("faces/f1/chip.png")
    blobs.delete("faces/f1/chip.png")  # deleting again is not an error
    blobs.delete("never/stored")
    assert blobs.list("") == []


def test_list_by_prefix_is_sorted(blobs: BlobStore) -> None:
    keys = ["images/b/original", "images/a/thumb.jpg", "images/a/original", "images/ab/original", "models/v1/model"]
    for key in keys:
        blobs.put(key, key.encode())
    assert blobs.list("") == sorted(keys)
    assert blobs.list("images/") == sorted(k for k in keys if k.startswith("images/"))
    assert blobs.list("images/a/") == ["images/a/original", "images/a/thumb.jpg"]
    assert blobs.list("images/a") == ["images/a/original", "images/a/thumb.jpg", "images/ab/original"]
    assert blobs.list("images/a/orig") == ["images/a/original"]
    assert blobs.list("images/c/") == []
    assert blobs.list("nothing") == []


def test_delete_prefix_removes_only_that_prefix(blobs: BlobStore) -> None:
    for key in ("images/1/original", "images/1/thumb.jpg", "images/10/original", "images/2/original"):
        blobs.put(key, b"x")
    assert blobs.delete_prefix("images/1/") == 2
    assert blobs.list("") == ["images/10/original", "images/2/original"]
    assert blobs.delete_prefix("images/1/") == 0
    assert blobs.delete_prefix("") == 2
    assert blobs.list("") == []


def test_put_is_atomic_for_concurrent_readers(blobs: BlobStore) -> None:
    """Readers racing a writer see one whole version or the other, never a mix or a partial object."""
    versions = [bytes([n]) * (512 * 1024) for n in (1, 2)]
    blobs.put("models/current/model.onnx", versions[0])
    problems: list[str] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            data = blobs.get("models/current/model.onnx")
            if data not in versions:
                problems.append(f"read {len(data)} bytes that are neither version")

    readers = [threading.Thread(target=read) for _ in range(3)]
    for reader in readers:
        reader.start()
    try:
        for n in range(20):
            blobs.put("models/current/model.onnx", versions[n % 2])
    finally:
        stop.set()
        for reader in readers:
            reader.join()
    assert problems == []
    assert blobs.list("models/") == ["models/current/model.onnx"]  # no temporary files show


def test_ping(blobs: BlobStore) -> None:
    blobs.ping()
