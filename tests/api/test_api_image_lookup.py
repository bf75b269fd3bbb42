"""POST /v1/search/sha256: which files the service has, asked by the SHA-256 of their bytes."""

from __future__ import annotations

import hashlib
import io

import pytest
from api_client import Api
from PIL import Image

UNKNOWN = hashlib.sha256(b"never uploaded").hexdigest()


def test_known_bytes_are_found_and_unknown_ones_left_out(api: Api) -> None:
    first, second = api.add_image(1), api.add_image(2)
    api.add_image(3)  # not asked about: not answered
    asked = [first.sha256, UNKNOWN, second.sha256.upper(), first.sha256]  # case and repeats do not matter

    response = api.client.post("/v1/search/sha256", json={"sha256": asked})

    assert response.status_code == 200, response.text
    found = {item["sha256"]: item for item in response.json()["found"]}
    assert set(found) == {first.sha256, second.sha256}
    assert found[first.sha256] == {"sha256": first.sha256, "id": first.id, "status": "queued"}


def test_a_photo_uploaded_by_http_is_found_by_the_hash_of_the_file(api: Api) -> None:
    buffer = io.BytesIO()
    Image.effect_noise((96, 96), 60).convert("RGB").save(buffer, "JPEG")
    data = buffer.getvalue()
    uploaded = api.client.post("/v1/images", files={"file": ("noise.jpg", data, "image/jpeg")})
    assert uploaded.status_code == 202, uploaded.text

    response = api.client.post("/v1/search/sha256", json={"sha256": [hashlib.sha256(data).hexdigest()]})

    assert [item["id"] for item in response.json()["found"]] == [uploaded.json()["id"]]


@pytest.mark.parametrize(("body", "words"), [
    ({"sha256": []}, "sha256"),
    ({"sha256": ["abc"]}, "sha256"),
    ({"sha256": ["g" * 64]}, "sha256"),
    ({"sha256": [UNKNOWN + "0"]}, "sha256"),
    ({"sha256": [UNKNOWN] * 1001}, "1000"),
    ({"sha256": UNKNOWN}, "sha256"),
    ({"sha256": [7]}, "sha256"),
    ({"digests": [UNKNOWN]}, "digests"),
    ({}, "sha256"),
])  # fmt: skip
def test_a_bad_lookup_is_422_saying_what_is_wrong(api: Api, body: object, words: str) -> None:
    response = api.client.post("/v1/search/sha256", json=body)
    assert response.status_code == 422, response.text
    assert words in response.json()["message"]
