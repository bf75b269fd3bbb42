"""Upload size limits: refused with 413 and a message, whether the size is declared or only counted."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from services.core.settings import Settings
from services.gateway.app import create_app

LIMIT = 200_000


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    settings = Settings(data_dir=tmp_path, max_upload_bytes=LIMIT, admin_keys="limits-key")
    with TestClient(create_app(settings), base_url="http://localhost",
                    headers={"Authorization": "Bearer limits-key"}) as c:
        yield c


def test_declared_oversize_is_refused_before_reading(client: TestClient) -> None:
    response = client.post("/v1/images", files={"file": ("big.jpg", b"\xff" * (LIMIT + 100_000), "image/jpeg")})
    assert response.status_code == 413
    assert response.json() == {"error": "too_large", "message": response.json()["message"]}
    assert f"{LIMIT:,}" in response.json()["message"]


def test_counted_oversize_is_refused(client: TestClient) -> None:
    response = client.post("/v1/images", files={"file": ("big.jpg", b"\xff" * (LIMIT + 10), "image/jpeg")})
    assert response.status_code == 413 and "upload limit" in response.json()["message"]
    assert client.get("/v1/images").json()["items"] == []


def test_missing_file_field_says_so(client: TestClient) -> None:
    response = client.post("/v1/images", data={"other": "x"})
    assert response.status_code == 422 and "file" in response.json()["message"]


def test_a_declared_oversize_json_body_is_refused_before_reading(client: TestClient) -> None:
    response = client.post("/v1/people", content=b"{" + b" " * 2_000_000 + b"}",
                           headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and "FACETAG_MAX_JSON_BYTES" in response.json()["message"]


def test_a_chunked_150_mb_json_body_is_refused_quickly_without_being_held(client: TestClient) -> None:
    sent = 0

    def chunks() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(150):  # 150 MB if all of it were read
            sent += 1
            yield b"x" * (1024 * 1024)
        yield b'"}'

    started = time.monotonic()
    response = client.post("/v1/people", content=chunks(), headers={"Content-Type": "application/json"})
    assert response.status_code == 413 and response.json()["error"] == "too_large"
    assert time.monotonic() - started < 10
    assert client.get("/v1/people").json()["items"] == []


def test_a_chunked_oversize_upload_is_refused(client: TestClient) -> None:
    boundary = "xyz"
    head = (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n").encode()

    def chunks() -> Iterator[bytes]:
        yield head
        for _ in range(10):
            yield b"\xff" * 100_000

    response = client.post("/v1/images", content=chunks(),
                           headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 413
    assert client.get("/v1/images").json()["items"] == []
