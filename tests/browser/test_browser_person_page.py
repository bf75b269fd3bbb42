"""A person's own page (issue 12, item 6): reached from the People page; rename in place, cover face, hide, date
range; faces selected by click, shift-click and "select all" and then moved (a split), rejected, confirmed or
deleted; merge and delete; each with the Undo bar. Real celeb5 photos through a real ``facetag serve``."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Pages, faces, no_horizontal_scroll, photo_id
from playwright.sync_api import expect
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.browser
BEN_PHOTOS = 4


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """This module's own service: no training by itself, so no model names faces under the test's feet."""
    yield from run_embedded(tmp_path_factory.mktemp("person-page"), stalled_after=60, auto_train="false")


def largest_face(service: Service, path: Path) -> str:
    found = faces(service, photo_id(service, path))
    return str(max(found, key=lambda f: f["box"]["width"] * f["box"]["height"])["id"])


@pytest.fixture(scope="module")
def library(embedded_service: Service, facedata: Path) -> dict[str, Any]:
    """Four photos of Ben Affleck and one of Madonna, named by a person: ids of Ben's faces, Madonna's face."""
    service = embedded_service
    train = facedata / "celeb5" / "train"
    ben = [largest_face(service, p) for p in sorted((train / "ben_afflek").glob("*.jpg"))[:BEN_PHOTOS]]
    madonna = largest_face(service, sorted((train / "madonna").glob("*.jpg"))[0])
    for face_id in ben:
        assert service.client.patch(f"/v1/faces/{face_id}", json={"name": "Ben Affleck"}).status_code == 200
    assert service.client.patch(f"/v1/faces/{madonna}", json={"name": "Madonna"}).status_code == 200
    return {"ben": ben, "madonna": madonna}


def person(service: Service, name: str) -> dict[str, Any] | None:
    listed = service.client.get("/v1/people", params={"hidden": "true"}).json()["items"]
    found = [p for p in listed if p["name"] == name]
    return found[0] if found else None


def person_of(service: Service, face_id: str) -> str | None:
    found = service.client.get(f"/v1/faces/{face_id}").json()["person"]
    return None if found is None else str(found["name"])


def test_a_person_page_with_selection_split_undo_and_settings(pages: Pages, library: dict[str, Any]) -> None:
    service = pages.service
    page = pages.open("/people.html", role="editor")
    page.get_by_role("link", name="Ben Affleck").click()
    ben = person(service, "Ben Affleck")
    assert ben is not None
    expect(page).to_have_url(f"{service.url}/person.html?id={ben['id']}")
    expect(page.locator("#person-name")).to_have_text("Ben Affleck")
    expect(page.locator("#person-counts")).to_have_text(f"{BEN_PHOTOS} photos · {BEN_PHOTOS} faces")
    expect(page.locator("#faces .face-tile")).to_have_count(BEN_PHOTOS)
    expect(page.locator("#photos .card")).to_have_count(BEN_PHOTOS)
    pages.shot(page, "person-desktop")

    # Click one face, shift-click another: the range between them is selected; then move them (a split).
    tiles = page.locator("#faces .face-tile")
    tiles.nth(0).locator(".face-select").click()
    tiles.nth(2).locator(".face-select").click(modifiers=["Shift"])
    expect(page.locator("#selected-count")).to_have_text("3 faces selected")
    moved = [tiles.nth(n).get_attribute("data-face-id") for n in range(3)]
    page.locator("#bulk-move-name").fill("Casey Affleck")
    page.locator("#bulk-move").click()
    bar = page.locator("#undo-bar")
    expect(bar).to_contain_text("Moved 3 faces from Ben Affleck to Casey Affleck")
    expect(page.locator("#person-counts")).to_have_text("1 photo · 1 face")
    assert all(person_of(service, str(fid)) == "Casey Affleck" for fid in moved)
    bar.get_by_role("button", name="Undo").click()
    expect(page.locator("#person-counts")).to_have_text(f"{BEN_PHOTOS} photos · {BEN_PHOTOS} faces")
    assert all(person_of(service, str(fid)) == "Ben Affleck" for fid in moved)
    assert person(service, "Casey Affleck") is None  # made by the split, gone with its undo

    # Select all on the page, then "Not Ben Affleck": a sticky "not X" for each; undone.
    page.locator("#select-page").click()
    expect(page.locator("#selected-count")).to_have_text(f"{BEN_PHOTOS} faces selected")
    page.locator("#bulk-reject").click()
    expect(page.locator("#no-faces")).to_be_visible()
    assert ben["id"] in {p["id"] for p in service.client.get(f"/v1/faces/{library['ben'][0]}").json()["not_people"]}
    page.locator("#undo-bar").get_by_role("button", name="Undo").click()
    expect(page.locator("#faces .face-tile")).to_have_count(BEN_PHOTOS)
    assert person_of(service, library["ben"][0]) == "Ben Affleck"

    # A cover face of the user's choosing.
    chosen = tiles.nth(1).get_attribute("data-face-id")
    tiles.nth(1).get_by_role("button", name="Make cover").click()
    expect(page.locator(f'#faces .face-tile[data-face-id="{chosen}"] .cover-badge')).to_have_text("Cover")
    expect(page.locator(".person-avatar img")).to_have_attribute("src", f"/v1/faces/{chosen}/chip")
    assert person(service, "Ben Affleck")["chosen_cover_id"] == chosen  # type: ignore[index]

    # Hide, and the dates they may be named in automatically.
    page.locator("#hide-toggle").click()
    expect(page.locator("#hidden-badge")).to_have_text("Hidden")
    page.locator("#active-from").fill("2001-02-03")
    expect(page.locator("#active-to")).to_have_attribute("min", "2001-02-03")  # "until" starts no earlier
    saved = person(service, "Ben Affleck")
    assert saved is not None and saved["hidden"] and saved["active_from"] == "2001-02-03"
    assert "Ben Affleck" not in {p["name"] for p in service.client.get("/v1/people").json()["items"]}
    page.locator("#hide-toggle").click()
    expect(page.locator("#hidden-badge")).to_have_count(0)

    # Rename in place.
    page.locator("#rename-button").click()
    page.locator("#rename-input").fill("Benjamin Affleck")
    page.locator("#rename-input").press("Enter")
    expect(page.locator("#person-name")).to_have_text("Benjamin Affleck")
    expect(page).to_have_title(re.compile("^Benjamin Affleck"))

    # Delete one face (it was no face at all), then undo that too.
    tiles.nth(3).locator(".face-select").click()
    gone = tiles.nth(3).get_attribute("data-face-id")
    page.locator("#bulk-delete").click()
    expect(page.locator("#faces .face-tile")).to_have_count(BEN_PHOTOS - 1)
    assert service.client.get(f"/v1/faces/{gone}").status_code == 404
    page.locator("#undo-bar").get_by_role("button", name="Undo").click()
    expect(page.locator("#faces .face-tile")).to_have_count(BEN_PHOTOS)


def test_merge_and_delete_with_undo(pages: Pages, library: dict[str, Any]) -> None:
    service = pages.service
    source = person(service, "Benjamin Affleck") or person(service, "Ben Affleck")
    madonna = person(service, "Madonna")
    assert source is not None and madonna is not None
    page = pages.open(f"/person.html?id={source['id']}", role="editor")
    expect(page.locator("#person-counts")).to_have_text(f"{BEN_PHOTOS} photos · {BEN_PHOTOS} faces")

    # Merge: the page shows who they became, and Undo brings them back.
    page.locator("#merge-button").click()
    page.locator("#merge-target").select_option(madonna["id"])
    page.locator("dialog[open]").get_by_role("button", name="Merge").click()
    expect(page.locator("#person-name")).to_have_text("Madonna")
    expect(page).to_have_url(f"{service.url}/person.html?id={madonna['id']}")
    expect(page.locator("#person-counts")).to_have_text(f"{BEN_PHOTOS + 1} photos · {BEN_PHOTOS + 1} faces")
    page.locator("#undo-bar").get_by_role("button", name="Undo").click()
    expect(page.locator("#person-name")).to_have_text(source["name"])
    expect(page).to_have_url(f"{service.url}/person.html?id={source['id']}")
    expect(page.locator("#person-counts")).to_have_text(f"{BEN_PHOTOS} photos · {BEN_PHOTOS} faces")

    # Delete: the page says so; Undo puts them and their names back.
    page.locator("#delete-button").click()
    page.locator("dialog[open]").get_by_role("button", name="Delete person").click()
    expect(page.locator("#person-missing")).to_contain_text(f"{source['name']} was deleted")
    assert all(person_of(service, fid) is None for fid in library["ben"])
    page.locator("#undo-bar").get_by_role("button", name="Undo").click()
    expect(page.locator("#person-name")).to_have_text(source["name"])
    assert all(person_of(service, fid) == source["name"] for fid in library["ben"])


def test_viewers_see_the_page_without_controls_and_an_empty_review_queue(pages: Pages, library: dict[str, Any]) -> None:
    madonna = person(pages.service, "Madonna")
    assert madonna is not None
    page = pages.open(f"/person.html?id={madonna['id']}", role="viewer")
    expect(page.locator("#person-name")).to_have_text("Madonna")
    expect(page.locator("#faces .face-tile")).to_have_count(1)
    for control in ("#bulk-bar", "#rename-button", "#merge-button", "#delete-button", "#hide-toggle", ".make-cover"):
        expect(page.locator(control)).to_have_count(0)
    # No model yet, so nothing to ask about.
    review = pages.open("/review.html", role="viewer")
    expect(review.locator("#review-empty")).to_contain_text(
        "Nothing to review — the model is sure of everything it has seen")


def test_the_person_page_fits_a_phone(pages: Pages, library: dict[str, Any]) -> None:
    madonna = person(pages.service, "Madonna")
    assert madonna is not None
    page = pages.open(f"/person.html?id={madonna['id']}", phone=True)  # an admin: the most links in the header
    expect(page.locator("#faces .face-tile")).to_have_count(1)
    page.locator("#faces .face-select").click()
    expect(page.locator("#bulk-confirm")).to_be_visible()
    assert no_horizontal_scroll(page)
    account = page.locator("#user-button").bounding_box()  # the header fits: nothing pushed off screen
    assert account is not None and account["x"] + account["width"] <= page.viewport_size["width"]
    pages.shot(page, "person-phone")
