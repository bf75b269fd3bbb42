"""The cluster through store crashes: Redis, MinIO and FerretDB each die (SIGKILL) and come back in the
middle of a 100-photo batch. Every accepted photo ends done, no name a person gave is lost, and while
a store is down the gateway answers 503 with Retry-After, never another 5xx."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from servers import RunningServer
from service_fixtures import Service, run_cluster

pytestmark = [pytest.mark.e2e, pytest.mark.servers]
PHOTOS = 100
DOWN_SECONDS = 4


class Uploader:
    """Clients that upload like a well-behaved script: on 503 wait Retry-After and send again."""

    def __init__(self, service: Service) -> None:
        self.service = service
        self.accepted: dict[str, str] = {}  # photo file -> image id
        self.answers: Counter[int] = Counter()
        self.unexplained: list[str] = []  # 5xx other than 503, or a 503 without Retry-After
        self._lock = threading.Lock()

    def upload(self, photo: Path) -> None:
        for _ in range(120):
            try:
                response = self.service.upload(photo)
            except httpx.TransportError:
                time.sleep(0.5)
                continue
            with self._lock:
                self.answers[response.status_code] += 1
            if response.status_code in (200, 202):
                with self._lock:
                    self.accepted[photo.name] = response.json()["id"]
                return
            self.check(response)
            time.sleep(float(response.headers.get("Retry-After", 1)))
        self.unexplained.append(f"{photo.name}: never accepted")

    def check(self, response: httpx.Response) -> None:
        if response.status_code >= 500 and (response.status_code != 503 or "Retry-After" not in response.headers):
            self.unexplained.append(f"{response.request.method} {response.request.url.path}: "
                                    f"{response.status_code} {response.text[:200]}")


def _photos(facedata: Path) -> list[Path]:
    photos = sorted((facedata / "celeb5").rglob("*.jpg")) + sorted((facedata / "facetag_samples").glob("*.jpg"))
    assert len(photos) >= PHOTOS
    return photos[:PHOTOS]


def _down_answers(service: Service, uploader: Uploader, image_id: str) -> list[int]:
    """What a user gets while a store is down: reading a photo's record and its original."""
    codes = []
    for path in (f"/v1/images/{image_id}", f"/v1/images/{image_id}/original", "/v1/images?limit=5"):
        try:
            response = service.client.get(path, timeout=30)
        except httpx.TransportError as exc:
            raise AssertionError(f"GET {path} while a store was down: {exc}") from exc
        uploader.check(response)
        codes.append(response.status_code)
    return codes


def _crash_for_a_while(server: RunningServer, service: Service, uploader: Uploader, image_id: str) -> list[int]:
    server.crash()
    time.sleep(1)
    codes = _down_answers(service, uploader, image_id)
    time.sleep(DOWN_SECONDS)
    server.start_again()
    return codes


def test_every_photo_ends_done_through_redis_minio_and_ferretdb_crashes(
        own_servers: dict[str, RunningServer], facedata: Path, tmp_path: Path) -> None:
    redis, mongo, minio = own_servers["redis"], own_servers["mongo"], own_servers["minio"]
    # The reconciler (600 s) plays no part: what recovers here is the broker, the outbox and the retries.
    for service in run_cluster(tmp_path, redis.url, mongo.url, minio.url, detectors=1, classifiers=1,
                               trainers=0, stalled_after=600):
        photos = _photos(facedata)
        first = service.upload(photos[0]).json()["id"]
        face = service.wait_finished(first)["faces"][0]
        named = service.client.patch(f"/v1/faces/{face['id']}", json={"name": "Named Before The Crashes"})
        assert named.status_code == 200, named.text

        uploader = Uploader(service)
        with ThreadPoolExecutor(4) as pool:
            batch = [pool.submit(uploader.upload, photo) for photo in photos[1:]]
            seen = {}
            for name, server, after in (("redis", redis, 15), ("minio", minio, 45), ("mongo", mongo, 75)):
                while len(uploader.accepted) < after:
                    time.sleep(0.2)
                seen[name] = _crash_for_a_while(server, service, uploader, first)
            for future in batch:
                future.result()

        # Redis down: the photo's record and original are still there (the broker is not needed to read).
        assert seen["redis"] == [200, 200, 200], seen
        # MinIO down: the record and the list answer, the original is 503; FerretDB down: all three are 503.
        assert seen["minio"] == [200, 503, 200], seen
        assert seen["mongo"] == [503, 503, 503], seen
        assert not uploader.unexplained, uploader.unexplained
        assert len(uploader.accepted) == PHOTOS - 1, uploader.answers

        deadline = time.monotonic() + 300
        pending = set(uploader.accepted.values())
        while pending and time.monotonic() < deadline:
            for image_id in list(pending):
                response = service.client.get(f"/v1/images/{image_id}")
                uploader.check(response)
                if response.status_code == 200 and response.json()["status"] in ("done", "failed"):
                    assert response.json()["status"] == "done", response.json()
                    pending.discard(image_id)
            time.sleep(1)
        assert not pending, f"{len(pending)} accepted photos never finished\n{service.logs()}"
        face_now = service.client.get(f"/v1/faces/{face['id']}").json()
        assert face_now["person"]["name"] == "Named Before The Crashes", face_now
        assert face_now["label_source"] == "person", face_now
