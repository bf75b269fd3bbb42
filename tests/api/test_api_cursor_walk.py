"""The done-when test of keyset pages: a client walks 1,000 photos page by page through GET /v1/images while
someone else keeps uploading, and sees each of the 1,000 exactly once (on each catalog implementation).

The 1,000 are put straight into the catalog (the pipeline would take minutes for them); the photos uploaded
during the walk go through the API like any upload.
"""

from __future__ import annotations

import hashlib
import io
import threading
from datetime import timedelta

import numpy as np
from api_client import EPOCH, Api
from PIL import Image

from services.core.domain import Box, FaceOrigin, FaceRecord, ImageRecord, new_id

LIBRARY = 1000
PAGE = 37  # not a divisor of anything here: pages end mid-way through ties
MIN_UPLOADS = 10


def _library() -> tuple[list[ImageRecord], list[FaceRecord]]:
    images, faces = [], []
    for n in range(LIBRARY):
        uploaded = EPOCH + timedelta(seconds=n // 7)  # photos of an import share their upload time
        image = ImageRecord(id=new_id(), sha256=hashlib.sha256(f"walk-{n}".encode()).hexdigest(),
                            filename=f"photo-{n}.jpg", content_type="image/jpeg", width=640, height=480,
                            size_bytes=1000, uploaded_at=uploaded, updated_at=uploaded)
        images.append(image)
        faces += [FaceRecord(id=new_id(), image_id=image.id, box=Box(left=40 * k, top=10, width=30, height=30),
                             detection_score=0.9, origin=FaceOrigin.detector) for k in range(n % 3)]
    return images, faces


def _jpeg(n: int) -> bytes:
    pixels = np.random.default_rng(n).integers(0, 255, (120, 160, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_walk_sees_each_of_1000_photos_once_while_uploads_continue(api: Api) -> None:
    images, faces = _library()
    api.run(api.catalog.add_many, images, faces)
    newest_first = [i.id for i in sorted(images, key=lambda i: (i.uploaded_at, i.id), reverse=True)]

    uploaded: list[str] = []
    walking = threading.Event()
    done = threading.Event()

    def upload() -> None:
        n = 0
        while not done.is_set() or len(uploaded) < MIN_UPLOADS:
            response = api.client.post("/v1/images", files={"file": (f"new-{n}.jpg", _jpeg(n), "image/jpeg")})
            assert response.status_code == 202, response.text
            uploaded.append(response.json()["id"])
            walking.wait()
            n += 1

    uploader = threading.Thread(target=upload)
    uploader.start()
    seen: list[str] = []
    try:
        params: dict[str, object] = {"limit": PAGE}
        at_start = len(uploaded)
        while True:
            page = api.client.get("/v1/images", params=params)
            assert page.status_code == 200, page.text
            body = page.json()
            seen += [item["id"] for item in body["items"]]
            assert all(len(item["faces"]) == item["face_count"] for item in body["items"])
            walking.set()
            if body["next_cursor"] is None:
                break
            params["cursor"] = body["next_cursor"]
        during_walk = len(uploaded) - at_start
    finally:
        done.set()
        walking.set()
        uploader.join(timeout=120)

    fresh = set(uploaded)
    walked = [image_id for image_id in seen if image_id not in fresh]
    assert len(walked) == len(set(walked)) == LIBRARY  # each of the 1,000 exactly once...
    assert walked == newest_first  # ...in the gallery's order
    assert len(seen) == len(set(seen))  # and no upload twice either
    assert during_walk > 0 and len(uploaded) >= MIN_UPLOADS  # photos really arrived while the walk went on
