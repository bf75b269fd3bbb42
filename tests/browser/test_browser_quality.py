"""Faces the model will never name are shown as such: the film poster behind Ben is a low-quality face."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import Pages, faces, photo_id
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_low_quality_face_is_marked_and_can_still_be_named(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben.jpg")
    ben, poster = faces(service, image_id)
    assert not ben["low_quality"] and poster["low_quality"], (ben, poster)
    page = pages.open(f"/photo.html?id={image_id}")
    expect(page.locator(".face-row")).to_have_count(2)
    row = page.locator('.face-row:has-text("Low quality")')
    expect(row).to_have_count(1)
    expect(row).to_contain_text("never named by the model")
    box = page.locator(f'.face .box[data-face-id="{poster["id"]}"]')
    expect(box).to_have_attribute("aria-label", re.compile(r"^Face: Low quality\."))
    pages.shot(page, "photo-low-quality")
    # A person may still name it: the gate only stops the model.
    box.click()
    editor = page.locator(".editor")
    editor.locator("input[name=name]").fill("Batman")
    editor.locator("input[name=name]").press("Enter")
    expect(page.locator(".face .tag.confirmed")).to_have_text("Batman")
    named = next(f for f in faces(service, image_id) if f["id"] == poster["id"])
    assert named["person"]["name"] == "Batman" and named["label_source"] == "person"
