"""The Model page: for admins only (signed in; no key to paste), training with live progress, versions with
rollback, the classifier worker's model, at desktop and phone width; and the People page's hint that leads
there."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from browser_helpers import Pages, name_single_faces, no_horizontal_scroll
from playwright.sync_api import expect
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.browser

KEY = "browser-admin-key"
ADMIN = {"X-Admin-Key": KEY}
PEOPLE = {"ben_afflek": "Ben Affleck", "madonna": "Madonna"}
PHOTOS_EACH = 3


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """This module's own service: with an admin key, and quick to notice a new current model."""
    yield from run_embedded(tmp_path_factory.mktemp("embedded-model"), admin_keys=KEY, model_check_interval=1,
                            stalled_after=20)


def _name_faces(service: Service, facedata: Path) -> None:
    """Name the one face on a few photos of each of two people, as a user would."""
    name_single_faces(service, facedata, PEOPLE, PHOTOS_EACH)


def test_train_and_roll_back_from_the_model_page(pages: Pages, facedata: Path) -> None:
    service = pages.service
    _name_faces(service, facedata)
    assert httpx.get(f"{service.url}/v1/admin/models", timeout=30).status_code == 401  # not signed in

    # An editor is told the page is for admins, and gets no controls.
    editor = pages.open("/model.html", role="editor")
    expect(editor.locator("#role-notice")).to_contain_text("Only admins can manage models")
    expect(editor.get_by_role("button", name="Train now")).to_have_count(0)
    expect(editor.locator("header nav").get_by_role("link", name="Model")).to_have_count(0)

    # The People page points the way once faces have names.
    people = pages.open("/people.html")
    hint = people.locator("#teach-hint")
    expect(hint).to_be_visible()
    hint.get_by_role("link", name="Teach the model").click()
    expect(people).to_have_url(f"{service.url}/model.html")
    page = people
    expect(page.locator("header nav a[aria-current=page]")).to_have_text("Model")
    expect(page.locator("#current")).to_contain_text("No model yet")
    expect(page.locator("#admin-key")).to_have_count(0)
    pages.shot(page, "model-empty-desktop")

    # Train: live progress, then the outcome; v1 becomes current and the classifier serves it.
    page.get_by_role("button", name="Train now").click()
    outcome = page.locator("#job .outcome")
    expect(outcome).to_have_attribute("data-outcome", "promoted", timeout=120_000)
    expect(outcome).to_contain_text("v1 is now the current model")
    expect(page.locator("#current-version")).to_have_text("v1")
    expect(page.locator('.version.is-current[data-version="v1"]')).to_contain_text("Current")
    expect(page.locator("#per-person tbody tr")).to_have_count(2)
    expect(page.locator("#per-person tbody th")).to_have_text(["Ben Affleck", "Madonna"])
    expect(page.locator("#workers .worker .chip.confirmed")).to_have_text("serves v1", timeout=30_000)
    pages.shot(page, "model-trained-desktop")

    # Nothing changed: training again says so unless forced; forced, it makes v2.
    page.get_by_role("button", name="Train now").click()
    expect(outcome).to_have_attribute("data-outcome", "nothing", timeout=120_000)
    page.locator("#train-force").check()
    page.get_by_role("button", name="Train now").click()
    expect(outcome).to_have_attribute("data-outcome", "promoted", timeout=120_000)
    expect(page.locator("#current-version")).to_have_text("v2")
    expect(page.locator(".version")).to_have_count(2)

    # Roll back to v1 with its button.
    rollback = page.get_by_role("button", name="Make v1 current")
    expect(rollback).to_be_visible()
    expect(page.get_by_role("button", name="Make v2 current")).to_have_count(0)
    rollback.click()
    page.locator("dialog[open]").get_by_role("button", name="Make v1 current").click()
    expect(page.locator("#current-version")).to_have_text("v1")
    expect(page.locator('.version.is-current[data-version="v1"]')).to_be_visible()
    expect(page.locator("#workers .worker .chip.confirmed")).to_have_text("serves v1", timeout=30_000)
    current = service.client.get("/v1/admin/models", headers=ADMIN).json()["current"]
    assert current["version"] == "v1"
    pages.shot(page, "model-rolled-back-desktop")

    # At phone width: the same page, nothing wider than the screen.
    phone = pages.open("/model.html", phone=True)
    expect(phone.locator("#current-version")).to_have_text("v1")
    expect(phone.get_by_role("button", name="Make v2 current")).to_be_visible()
    expect(phone.get_by_role("button", name="Train now")).to_be_visible()
    assert no_horizontal_scroll(phone)
    pages.shot(phone, "model-phone")
