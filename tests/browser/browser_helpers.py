"""Small helpers for the browser tests: the service's API, its catalog, and a drag on the photo."""

from __future__ import annotations

import asyncio
import hashlib
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from service_fixtures import Service

from services.core.catalog import open_catalog
from services.core.domain import ImageRecord, ImageStatus, new_id

DESKTOP = {"width": 1280, "height": 860}
PHONE = {"width": 390, "height": 844}


class Pages:
    """Opens browser pages on the service and fails the test on any uncaught error in them."""

    def __init__(self, browser: Any, service: Service, screenshots: Path) -> None:
        self.browser = browser
        self.service = service
        self.screenshots = screenshots
        self.errors: list[str] = []
        self.contexts: list[Any] = []

    def open(self, path: str = "/", *, phone: bool = False, role: str | None = "admin") -> Any:
        """A page in a new browser context, signed in as a user with ``role`` (None: signed out)."""
        context = self.browser.new_context(
            base_url=self.service.url, viewport=PHONE if phone else DESKTOP, is_mobile=phone, has_touch=phone,
        )
        context.set_default_timeout(20_000)
        self.contexts.append(context)
        if role is not None:
            username, password = self.service.account(role)
            signed_in = context.request.post("/v1/auth/login", data={"username": username, "password": password})
            assert signed_in.status == 200, signed_in.text()
        page = context.new_page()
        page.on("pageerror", lambda error: self.errors.append(f"{page.url}: {error}"))
        page.on("dialog", lambda dialog: (self.errors.append(f"unexpected dialog: {dialog.message}"), dialog.dismiss()))
        page.goto(path)
        return page

    def shot(self, page: Any, name: str) -> Path:
        path = self.screenshots / f"{name}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    def close(self) -> None:
        for context in self.contexts:
            context.close()


def photo_id(service: Service, path: Path) -> str:
    """Upload (or find, when already uploaded) a photo and wait until its faces are found."""
    response = service.upload(path)
    assert response.status_code in (200, 202), response.text
    image: dict[str, Any] = service.wait_finished(response.json()["id"])
    assert image["status"] == "done", image
    return str(image["id"])


def faces(service: Service, image_id: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = service.client.get(f"/v1/images/{image_id}").json()["faces"]
    return found


def person_id(service: Service, name: str) -> str:
    response = service.client.post("/v1/people", json={"name": name})
    if response.status_code == 409:
        found = [p for p in service.client.get("/v1/people").json()["items"] if p["name"].lower() == name.lower()]
        return str(found[0]["id"])
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def catalog_url(service: Service) -> str:
    """The service's catalog: the URL it was started with (see test_browser_mongo.py), else its SQLite file."""
    url: str | None = getattr(service, "catalog_url", None)
    return url or f"sqlite:///{service.data_dir / 'facetag.db'}"


def catalog_call(service: Service, call: Any) -> Any:
    """Run ``call(catalog)`` on the service's own catalog, as another process would."""

    async def run() -> Any:
        catalog = open_catalog(catalog_url(service))
        await catalog.connect()
        try:
            return await call(catalog)
        finally:
            await catalog.close()

    # Playwright's sync API owns this thread's event loop: run the catalog in a thread of its own.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


def add_image_records(service: Service, count: int) -> list[str]:
    """Photo records without blobs (their thumbnails are missing), to fill pages quickly."""
    records = [
        ImageRecord(id=new_id(), sha256=hashlib.sha256(f"filler-{n}-{time.time()}".encode()).hexdigest(),
                    filename=f"filler-{n:02d}.jpg", content_type="image/jpeg", width=640, height=480,
                    status=ImageStatus.done)
        for n in range(count)
    ]

    async def add(catalog: Any) -> list[str]:
        return [(await catalog.add_image(record))[0].id for record in records]

    ids: list[str] = catalog_call(service, add)
    return ids


def model_label(service: Service, face_id: str, person: str | None, confidence: float, version: str = "v1") -> bool:
    """Label a face as a classifier would (there is no trained model in a fresh service)."""
    labelled: bool = catalog_call(service, lambda c: c.set_model_label(face_id, person, version, confidence))
    return labelled


def wait_for(condition: Any, timeout: float = 60, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"{what} not met after {timeout}s")


def drag_on_photo(page: Any, start: tuple[float, float], end: tuple[float, float]) -> None:
    """Drag with the mouse between two points given as fractions of the shown photo."""
    box = page.locator(".stage img.photo").bounding_box()
    assert box is not None
    x0, y0 = box["x"] + start[0] * box["width"], box["y"] + start[1] * box["height"]
    x1, y1 = box["x"] + end[0] * box["width"], box["y"] + end[1] * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=4)
    page.mouse.move(x1, y1, steps=4)
    page.mouse.up()


def no_horizontal_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def name_single_faces(service: Service, facedata: Path, people: dict[str, str], each: int) -> list[Path]:
    """Name the one face on the first ``each`` celeb5 train photos with a single face of each folder in ``people``
    (folder -> name), as a user would; the photos named."""
    photos: list[Path] = []
    for folder, name in people.items():
        named = 0
        for path in sorted((facedata / "celeb5" / "train" / folder).iterdir()):
            found = faces(service, photo_id(service, path))
            if len(found) != 1:
                continue
            response = service.client.patch(f"/v1/faces/{found[0]['id']}", json={"name": name})
            assert response.status_code == 200, response.text
            photos.append(path)
            named += 1
            if named == each:
                break
        assert named == each, f"too few photos of {folder} with one face"
    return photos


def train_until_served(service: Service, version: str = "v1") -> None:
    """Train now (the admin route) and wait until every classifier serves the new model."""
    response = service.client.post("/v1/admin/train", json={})
    assert response.status_code == 202, response.text
    job = service.poll(f"/v1/jobs/{response.json()['id']}", "state", ("done", "failed"), 240)
    assert job["state"] == "done", job

    def serves() -> bool:
        workers = service.client.get("/v1/admin/workers").json()["items"]
        return bool(workers) and all(w["model_version"] == version for w in workers)

    wait_for(serves, timeout=60, what=f"the classifier serving {version}")
