"""The model's status in the header of every page (issue 12, item 4), and a candidate held back for review on
the Model page: what it would change, with sample faces, then publish (item 9)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from browser_helpers import Pages, faces, no_horizontal_scroll, photo_id
from playwright.sync_api import expect
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.browser
PEOPLE = {"ben_afflek": "Ben Affleck", "madonna": "Madonna"}
NAMED_EACH = 3


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """Auto-training on, but far off (an hour's quiet, 1000 names): the header says when it would start."""
    yield from run_embedded(tmp_path_factory.mktemp("embedded-review"), model_check_interval=1, stalled_after=20,
                            auto_train="true", auto_train_labels=1000, auto_train_quiet_seconds=3600)


def _library(service: Service, facedata: Path) -> None:
    """Three photos of each of two people named, one more of each left unnamed."""
    for folder, name in PEOPLE.items():
        named = unnamed = 0
        for path in sorted((facedata / "celeb5" / "train" / folder).iterdir()):
            found = faces(service, photo_id(service, path))
            if len(found) != 1:
                continue
            if named < NAMED_EACH:
                response = service.client.patch(f"/v1/faces/{found[0]['id']}", json={"name": name})
                assert response.status_code == 200, response.text
                named += 1
            else:
                unnamed += 1
                break
        assert (named, unnamed) == (NAMED_EACH, 1), f"too few photos of {folder} with one face"


def test_header_status_and_a_reviewed_candidate(pages: Pages, facedata: Path) -> None:
    service = pages.service
    _library(service, facedata)

    gallery = pages.open("/")
    status = gallery.locator("header #model-status")
    expect(status).to_have_text(re.compile(r"^6 new names and no model yet; it will start within 6[01] minutes$"))
    expect(status).to_have_attribute("data-state", "waiting")
    expect(status).to_have_attribute("href", "/model.html")
    viewer = pages.open("/people.html", role="viewer")
    expect(viewer.locator("header #model-status")).to_contain_text("6 new names")
    expect(viewer.locator("header a#model-status")).to_have_count(0)  # no Model page for viewers: no link

    status.click()
    page = gallery
    expect(page).to_have_url(f"{service.url}/model.html")
    page.locator("#train-review").check()
    page.get_by_role("button", name="Train now").click()
    expect(page.locator("#job .outcome")).to_have_attribute("data-outcome", "review", timeout=120_000)
    candidate = page.locator('#candidates .candidate[data-version="v1"]')
    expect(candidate.locator(".preview")).to_have_attribute("data-state", "ready", timeout=60_000)
    named = candidate.locator('.preview-group[data-group="named"]')
    expect(named.locator(".h-count")).to_have_text("2")
    expect(named.locator(".preview-pair")).to_have_count(2)
    expect(named.locator(".preview-samples img")).to_have_count(2)
    assert all(page.evaluate("(img) => img.complete && img.naturalWidth > 0", img.element_handle())
               for img in named.locator("img").all())
    expect(candidate.locator('.preview-group[data-group="wrong"]')).to_have_count(0)
    expect(page.locator("#current")).to_contain_text("No model yet")
    expect(page.locator("header #model-status")).to_have_text("v1 is trained and waits for review")
    pages.shot(page, "model-review-desktop")

    candidate.get_by_role("button", name="Publish v1").click()
    page.locator("dialog[open]").get_by_role("button", name="Publish v1").click()
    expect(page.locator("#current-version")).to_have_text("v1")
    expect(page.locator("#candidates")).to_be_hidden()
    expect(page.locator("header #model-status")).to_have_text("Up to date")
    expect(page.locator("header #model-status")).to_have_attribute("data-state", "up-to-date")

    phone = pages.open("/", phone=True)
    expect(phone.locator("header #model-status")).to_have_attribute("data-state", "up-to-date")
    expect(phone.locator("header #model-status")).to_have_attribute("aria-label", "Up to date")
    expect(phone.locator("header #model-status .model-status-text")).to_be_hidden()  # no room: the dot says it
    assert no_horizontal_scroll(phone)
    pages.shot(phone, "header-status-phone")
