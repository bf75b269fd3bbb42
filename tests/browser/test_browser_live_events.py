"""The gallery keeps up through live events, not polling: a photo uploaded through the API appears, finishes
and shows the name someone gives its face, while the page asks only what an event tells it to."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_helpers import Pages
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SLOW = 180_000  # ms: detection on a busy 2-core machine
# Longer than both old polls (2.5 s while photos are being read, 10 s for "new photos"): a page that still
# polled would ask at least once in it.
QUIET_SECONDS = 11


def test_the_gallery_follows_an_upload_and_a_name_without_polling(pages: Pages, facedata: Path) -> None:
    service = pages.service
    page = pages.open("/favicon.svg", role="viewer")  # signed in; the gallery opens with the recorder on
    requests: list[tuple[float, str, str]] = []

    def record(request: Any) -> None:
        path = urlsplit(request.url).path
        if path.startswith("/v1/") and request.resource_type not in ("image", "stylesheet", "script"):
            requests.append((time.monotonic(), request.method, path))

    page.on("request", record)
    with page.expect_response(lambda r: urlsplit(r.url).path == "/v1/events", timeout=20_000):
        page.goto("/")
    expect(page.locator("h1")).to_have_text("Photos")

    accepted = service.upload(facedata / "facetag_samples" / "ben_mat_2.jpg")
    assert accepted.status_code == 202, accepted.text
    image_id = accepted.json()["id"]
    show = page.locator("#new-photos")
    expect(show).to_contain_text("1 new photo", timeout=20_000)
    show.click()
    card = page.locator(f'#gallery .card[data-image-id="{image_id}"]')
    expect(card).to_be_visible()
    expect(card.locator(".count")).to_have_text("2 ☺", timeout=SLOW)  # detected and classified
    expect(card.locator(".badge")).to_have_count(0)

    face = service.client.get(f"/v1/images/{image_id}").json()["faces"][0]
    named = service.client.patch(f"/v1/faces/{face['id']}", json={"name": "Matt Damon"})
    assert named.status_code == 200, named.text
    expect(card.locator(".names")).to_contain_text("Matt Damon", timeout=20_000)
    pages.shot(page, "gallery-live-events")

    page.wait_for_timeout(2000)  # what the last events trigger (coalesced, within about a second) is asked
    settled = time.monotonic()
    page.wait_for_timeout(QUIET_SECONDS * 1000)
    asked = [(method, path) for _, method, path in requests]
    assert [r for r in requests if r[0] > settled] == [], "the page asked while nothing happened"
    assert asked.count(("GET", "/v1/events")) == 1
    # The first render, one look for new photos per photo.queued, the click, and one quiet render per burst
    # of events about the card (detected, done, named; coalesced): never one every few seconds.
    assert asked.count(("GET", "/v1/images")) <= 7, asked
    assert asked.count(("GET", "/v1/model/status")) <= 2, asked  # once, and once after the person's name
