"""Memory stays bounded under crafted photos: six 7700 x 7700 PNGs (57 KB each, 59 megapixels) uploaded at
once. The gateway reads only their headers (it used to decode each whole: 2.5 GB for six); the detector
decodes photos above 24 megapixels at a reduced size (1.9 GB before) and ONNX Runtime plans no memory
pattern (1.2 GB with one). Ceilings, as documented in the README: gateway 300 MB, detector 1 GB (peak RSS;
measured 100 and 820 MB). A big real photo still gets its faces where they are."""

from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.e2e
GATEWAY_CEILING_MB = 300
DETECTOR_CEILING_MB = 1000


def _crafted_png(seed: int) -> bytes:
    """59 megapixels that compress to almost nothing: a dark canvas with a little noise in one corner."""
    canvas = np.zeros((7700, 7700), dtype=np.uint8)
    canvas[:64, :64] = np.random.default_rng(seed).integers(0, 255, (64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(canvas).save(buffer, "PNG", optimize=True)
    return buffer.getvalue()


def _peak_mb(service: Service, role: str) -> float:
    """Peak resident memory (VmHWM) of the serve child running ``role`` (gateway, or worker detector)."""
    serve = service.processes[0].process.pid
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if parent == serve and role.encode() in cmdline:
            return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    raise AssertionError(f"no {role} process under serve {serve}")


def test_six_crafted_pngs_at_once_stay_under_the_memory_ceilings(tmp_path: Path, facedata: Path) -> None:
    photos = [_crafted_png(seed) for seed in range(6)]
    assert max(len(p) for p in photos) < 100_000
    for service in run_embedded(tmp_path, stalled_after=600):
        _upload_and_measure(service, photos)
        _big_photo_faces_land_where_they_are(service, facedata / "facetag_samples" / "ben_mat_1.jpg", tmp_path)


def _big_photo_faces_land_where_they_are(service: Service, photo: Path, tmp: Path) -> None:
    """The same photo enlarged past 24 MP (decoded reduced) has its faces at the enlarged places."""
    small = Image.open(photo).convert("RGB")
    factor = 9
    big = tmp / "big.jpg"
    small.resize((small.width * factor, small.height * factor), Image.Resampling.BICUBIC).save(big, quality=90)
    assert small.width * small.height * factor**2 > 24_000_000
    boxes = []
    for path in (photo, big):
        image = service.wait_finished(service.upload(path).json()["id"], timeout=300)
        assert image["status"] == "done", image
        boxes.append(sorted((f["box"] for f in image["faces"]), key=lambda b: b["left"]))
    assert len(boxes[0]) == len(boxes[1]) >= 2
    for a, b in zip(boxes[0], boxes[1], strict=True):
        for key in ("left", "top", "width", "height"):
            assert abs(b[key] - a[key] * factor) <= 0.15 * a["width"] * factor, (key, a, b)


def _upload_and_measure(service: Service, photos: list[bytes]) -> None:
    def upload(data: bytes) -> int:
        return service.client.post("/v1/images", files={"file": ("crafted.png", data, "image/png")}).status_code

    with ThreadPoolExecutor(6) as pool:
        assert list(pool.map(upload, photos)) == [202] * 6
    gateway = _peak_mb(service, "gateway")
    for item in service.client.get("/v1/images").json()["items"]:
        assert service.wait_finished(item["id"], timeout=300)["status"] in ("done", "failed")
    detector = _peak_mb(service, "detector")
    print(f"peak RSS: gateway {gateway:.0f} MB, detector {detector:.0f} MB")
    assert gateway < GATEWAY_CEILING_MB, gateway
    assert detector < DETECTOR_CEILING_MB, detector
