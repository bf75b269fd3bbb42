"""Upload to tags through the queues, as a user sees it: on the embedded default and on the cluster."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import time
from pathlib import Path

import pytest
from PIL import Image
from service_fixtures import Service
from worker_faults import big_group_photo, detector_holding

from services.core.catalog import FaceQuery, open_catalog
from services.core.domain import FaceRecord

pytestmark = pytest.mark.e2e

# Every face, and how many of them are good enough to be named: ben_mat_1 has a woman half turned away
# behind Ben and Matt, ben.jpg a film poster's masked face behind Ben. Both are found, and marked low quality.
EXPECTED_FACES = {"ben_mat_1.jpg": (3, 2), "ben_mat_2.jpg": (2, 2), "ben_mat_3.jpg": (2, 2), "ben_mat_4.jpg": (2, 2),
                  "ben.jpg": (2, 1)}


def test_every_sample_photo_goes_through_to_done(service: Service, facedata: Path) -> None:
    samples = sorted((facedata / "facetag_samples").glob("*.jpg"))
    accepted = {}
    for photo in samples:
        response = service.upload(photo)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status"] == "queued" and body["faces"] == []  # answered before detection
        assert response.headers["location"] == f"/v1/images/{body['id']}"
        accepted[photo.name] = body["id"]
    for name, image_id in accepted.items():
        image = service.wait_finished(image_id)
        assert image["status"] == "done", image
        assert image["face_count"] == len(image["faces"]) >= 1, name
        if name in EXPECTED_FACES:
            good = [f for f in image["faces"] if not f["low_quality"]]
            assert (len(image["faces"]), len(good)) == EXPECTED_FACES[name], name
        for face in image["faces"]:
            assert face["person"] is None and face["label_source"] is None  # no model trained yet
            assert len(face["landmarks"]) == 5
            box = face["box"]
            assert 0 <= box["left"] < box["left"] + box["width"] <= image["width"]
            chip = service.client.get(face["chip_url"])
            assert chip.status_code == 200 and chip.headers["content-type"] == "image/png"
            assert Image.open(io.BytesIO(chip.content)).size == (112, 112)  # SFace's aligned chip
            assert face["detector"] == "centerface-deface1.5.0+recheck" and face["descriptor_model"] == "sface-2021dec"
    sample = accepted["ben_mat_4.jpg"]
    original = service.client.get(f"/v1/images/{sample}/original")
    assert original.content == (facedata / "facetag_samples" / "ben_mat_4.jpg").read_bytes()
    thumb = service.client.get(f"/v1/images/{sample}/thumbnail")
    assert thumb.status_code == 200 and max(Image.open(io.BytesIO(thumb.content)).size) <= 320
    listing = service.client.get("/v1/images", params={"status": "done", "limit": 100}).json()
    assert {i["id"] for i in listing["items"]} >= set(accepted.values())
    # no model yet: every face unknown, but its descriptor is kept for training
    faces = asyncio.run(_stored_faces(service.catalog_url, sample))
    assert len(faces) == 2 and all(f.descriptor is not None and len(f.descriptor) == 128 for f in faces)


async def _stored_faces(catalog_url: str, image_id: str) -> list[FaceRecord]:
    catalog = open_catalog(catalog_url)
    await catalog.connect()
    try:
        return await catalog.list_faces(FaceQuery(image_id=image_id))
    finally:
        await catalog.close()


def test_same_bytes_again_return_the_existing_photo(service: Service, facedata: Path) -> None:
    photo = facedata / "facetag_samples" / "jerry.jpg"
    first = service.upload(photo)
    again = service.upload(photo, name="renamed.jpg")
    assert first.status_code in (200, 202) and again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def _total(service: Service) -> int:
    """Photos in the library, walked page by page."""
    count, params = 0, dict[str, object](limit=200)
    while True:
        page = service.client.get("/v1/images", params=params).json()
        count += len(page["items"])
        if page["next_cursor"] is None:
            return count
        params["cursor"] = page["next_cursor"]


def test_broken_files_are_refused_and_nothing_is_stored(service: Service, facedata: Path) -> None:
    before = _total(service)
    for bad in sorted((facedata / "bad" / "broken").iterdir()):
        response = service.upload(bad, media_type="image/jpeg" if bad.suffix == ".jpg" else "image/png")
        assert 400 <= response.status_code < 500, (bad.name, response.status_code)
        body = response.json()
        assert body["error"] and len(body["message"]) > 20, body
    assert _total(service) == before


def test_oversized_and_huge_pixel_uploads_are_refused(service: Service, tmp_path: Path) -> None:
    huge = tmp_path / "huge.png"
    Image.new("L", (9000, 9000), 128).save(huge)  # 81 Mpx in a small file
    response = service.upload(huge, media_type="image/png")
    assert response.status_code == 413 and response.json()["error"] == "too_many_pixels"
    big = tmp_path / "big.bmp"
    Image.new("RGB", (4000, 2500), (1, 2, 3)).save(big)  # 30 MB, over the 25 MB limit
    response = service.upload(big, media_type="image/bmp")
    assert response.status_code == 413 and "limit" in response.json()["message"]


def test_unknown_ids_are_404_with_a_message(service: Service) -> None:
    for path in ("/v1/images/nope", "/v1/images/nope/original", "/v1/images/nope/thumbnail", "/v1/faces/nope/chip"):
        response = service.client.get(path)
        assert response.status_code == 404
        assert "nope" in response.json()["message"]


def test_readiness_health_and_openapi(service: Service) -> None:
    ready = service.client.get("/readyz").json()
    assert ready["ready"] and set(ready["checks"]) == {"catalog", "blobs", "broker"}
    workers = service.client.get("/healthz").json()["workers"]
    assert workers and all(w["provider"] == "CPUExecutionProvider" and w["model_version"] is None for w in workers)
    spec = service.client.get("/openapi.json").json()
    assert "/v1/images" in spec["paths"] and "/v1/images/{image_id}" in spec["paths"]


def test_worker_killed_mid_task_loses_no_photo_and_it_runs_again_within_seconds(
        service: Service, facedata: Path, tmp_path: Path) -> None:
    """The broker's lease brings the task back (15 s); the reconciler (60 s here) plays no part."""
    response = service.upload(big_group_photo(facedata, tmp_path))
    assert response.status_code == 202
    image_id = response.json()["id"]
    pid = detector_holding(service, image_id)
    os.kill(pid, signal.SIGKILL)
    killed = time.monotonic()
    assert service.client.get(f"/v1/images/{image_id}").json()["status"] == "detecting", "killed too late"
    image = service.wait_finished(image_id, timeout=240)
    took = time.monotonic() - killed
    assert image["status"] == "done", image
    assert image["face_count"] >= 3
    # another worker (or the restarted one) ran the task again, soon, and not because the reconciler sent it
    logs = [p.log.read_text() for p in service.processes]
    assert any(f"image {image_id}: detecting (attempt 2)" in log for log in logs)
    assert not any(f"image {image_id} was detecting" in log for log in logs)
    assert took < 30, f"done {took:.0f}s after its detector was killed"
