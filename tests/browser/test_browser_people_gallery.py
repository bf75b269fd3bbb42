"""The people page (rename, merge, delete, their faces), gallery filters and paging, and phone width."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import Pages, add_image_records, faces, model_label, no_horizontal_scroll, person_id, photo_id
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def _name(pages: Pages, face_id: str, name: str) -> None:
    response = pages.service.client.patch(f"/v1/faces/{face_id}", json={"name": name})
    assert response.status_code == 200, response.text


def test_merge_two_people_then_delete_one(pages: Pages, facedata: Path) -> None:
    service = pages.service
    one = photo_id(service, facedata / "facetag_samples" / "madonna.jpg")
    two = photo_id(service, facedata / "facetag_samples" / "madonna2.jpg")
    _name(pages, faces(service, one)[0]["id"], "Madonna")
    _name(pages, faces(service, two)[0]["id"], "Madonna Ciccone")

    page = pages.open("/people.html")
    names = page.locator(".person .name")
    expect(names.filter(has_text="Madonna")).to_have_text(["Madonna", "Madonna Ciccone"])
    before = names.count()
    pages.shot(page, "people-desktop")
    ciccone = page.locator(".person", has_text="Madonna Ciccone")
    ciccone.get_by_role("button", name="Merge").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Merge Madonna Ciccone into")
    dialog.locator("#merge-target").select_option(label="Madonna (1 face)")
    dialog.get_by_role("button", name="Merge").click()
    expect(names).to_have_count(before - 1)
    expect(names.filter(has_text="Madonna")).to_have_text(["Madonna"])
    expect(page.locator(".person", has_text="Madonna").locator(".stats")).to_have_text("2 photos · 2 faces")
    assert len(service.client.get("/v1/images", params={"person": "madonna"}).json()["items"]) == 2

    # Delete: the photos stay and the faces become unknown.
    page.get_by_role("button", name="Delete Madonna").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Their 2 faces become unknown")
    dialog.get_by_role("button", name="Delete person").click()
    expect(names).to_have_count(before - 2)
    expect(names.filter(has_text="Madonna")).to_have_count(0)
    for image_id in (one, two):
        image = service.client.get(f"/v1/images/{image_id}").json()
        assert image["faces"] and all(f["person"] is None for f in image["faces"])


def test_renaming_to_a_taken_name_offers_a_merge(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "jerry2.jpg")
    first, second = faces(service, image_id)[:2]
    _name(pages, first["id"], "Jerry Seinfeld")
    _name(pages, second["id"], "Jerry S.")

    page = pages.open("/people.html")
    short = page.locator(".person", has_text="Jerry S.").get_attribute("data-person-id")
    card = page.locator(f'.person[data-person-id="{short}"]')
    card.get_by_role("button", name="Rename").click()
    card.locator("form.rename input").fill("jerry seinfeld")
    card.locator("form.rename input").press("Enter")
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("Jerry Seinfeld already exists")
    dialog.get_by_role("button", name="Merge into Jerry Seinfeld").click()
    expect(page.locator(".person .name").filter(has_text="Jerry")).to_have_text(["Jerry Seinfeld"])
    assert {f["person"]["name"] for f in faces(service, image_id)[:2]} == {"Jerry Seinfeld"}


def test_a_persons_faces_can_be_confirmed_or_taken_off_them(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben_mat_3.jpg")
    first, second = faces(service, image_id)[:2]
    ben = person_id(service, "Ben Affleck")
    model_label(service, first["id"], ben, 0.9)
    model_label(service, second["id"], ben, 0.6)

    page = pages.open("/people.html")
    page.get_by_role("button", name="See Ben Affleck's faces").click()
    dialog = page.locator("dialog[open]")
    tiles = dialog.locator(".face-tile")
    expect(tiles).to_have_count(2)
    expect(tiles.locator(".chip.guess")).to_have_count(2)
    pages.shot(page, "person-faces-desktop")
    dialog.locator(f'.face-tile[data-face-id="{first["id"]}"]').get_by_role("button", name="Confirm").click()
    expect(dialog.locator(f'.face-tile[data-face-id="{first["id"]}"] .chip.confirmed')).to_have_text("Confirmed")
    dialog.locator(f'.face-tile[data-face-id="{second["id"]}"]').get_by_role("button", name="Not Ben").click()
    expect(tiles).to_have_count(1)
    after = {f["id"]: f for f in faces(service, image_id)}
    assert after[first["id"]]["label_source"] == "person"
    assert (after[second["id"]]["person"], after[second["id"]]["label_source"]) == (None, "person")
    dialog.get_by_role("button", name="Close").click()
    expect(page.locator(".person", has_text="Ben Affleck").locator(".stats")).to_have_text("1 photo · 1 face")


def test_gallery_filters_by_unknown_faces_name_chips_and_dates(pages: Pages, facedata: Path) -> None:
    service = pages.service
    named = photo_id(service, facedata / "facetag_samples" / "ben.jpg")
    ben, *others = faces(service, named)
    _name(pages, ben["id"], "Ben Affleck")
    for other in others:  # the poster behind Ben: a low-quality face someone removes
        assert other["low_quality"] and service.client.delete(f"/v1/faces/{other['id']}").status_code == 204
    page = pages.open("/")
    all_cards = page.locator(".card")
    expect(all_cards.first).to_be_visible()
    total = all_cards.count()
    page.get_by_role("button", name="Unknown faces").click()
    expect(page).to_have_url(re.compile(r"unknown=1"))
    expect(page.locator(f'.card[data-image-id="{named}"]')).to_have_count(0)
    unknown = len(service.client.get("/v1/images", params={"has_unknown": "true", "limit": 24}).json()["items"])
    expect(all_cards).to_have_count(unknown)
    page.get_by_role("button", name="Clear").click()
    expect(all_cards).to_have_count(total)

    # A name chip on a card narrows the gallery to that person.
    page.locator(f'.card[data-image-id="{named}"] .chip', has_text="Ben Affleck").click()
    expect(page.locator("h1")).to_have_text("Photos of Ben Affleck")
    expect(page.locator(".tokens .chip.token")).to_have_text(["Ben Affleck×"])
    expect(page.locator(f'.card[data-image-id="{named}"]')).to_have_count(1)

    # Dates: nothing was uploaded after tomorrow; everything was uploaded until then.
    page.goto("/?from=2999-01-01")
    expect(page.locator(".empty")).to_contain_text("No photos match")
    page.goto("/?to=2999-01-01")
    expect(all_cards).to_have_count(total)
    page.goto("/?person=Nobody%20Here")
    expect(page.locator(".empty")).to_contain_text("Nobody is called “Nobody Here”")


@pytest.mark.parametrize("path", ["/", "/people.html", "/upload.html", "photo"])
def test_every_page_fits_a_phone(pages: Pages, facedata: Path, path: str) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben_mat_4.jpg")
    if path == "photo":
        path = f"/photo.html?id={image_id}"
    page = pages.open(path, phone=True)
    page.wait_for_load_state("networkidle")
    assert no_horizontal_scroll(page)
    name = {"/": "gallery", "/people.html": "people", "/upload.html": "upload"}.get(path, "photo")
    if name == "gallery":
        expect(page.locator(".card").first).to_be_visible()
        columns = page.evaluate("getComputedStyle(document.getElementById('gallery')).gridTemplateColumns")
        assert len(columns.split()) == 2, columns
    if name == "photo":
        expect(page.locator(".face .box")).to_have_count(2)
        page.locator(".face .box").first.tap()
        editor = page.locator(".editor")
        expect(editor).to_be_visible()
        assert editor.evaluate("el => getComputedStyle(el).position") == "fixed"  # a sheet at the bottom
        box = editor.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390
        pages.shot(page, "photo-editor-phone")
        page.keyboard.press("Escape")
        page.get_by_role("button", name="Draw a face").tap()
        expect(page.locator(".overlay.drawing-mode")).to_have_count(1)
    pages.shot(page, f"{name}-phone")


def test_gallery_pages_through_many_photos_in_a_stable_order(pages: Pages) -> None:
    service = pages.service
    add_image_records(service, 30)
    total = len(service.client.get("/v1/images", params={"limit": 200}).json()["items"])
    assert 24 < total < 48
    page = pages.open("/")
    cards = page.locator(".card")
    expect(cards).to_have_count(24)
    expect(page.locator("#page-of")).to_have_text("Page 1")
    first_page = cards.evaluate_all("cards => cards.map(c => c.dataset.imageId)")
    page.get_by_role("button", name="Next page").click()
    expect(page).to_have_url(re.compile(r"page=2"))
    expect(cards).to_have_count(total - 24)
    second_page = cards.evaluate_all("cards => cards.map(c => c.dataset.imageId)")
    assert not set(first_page) & set(second_page)
    listed = [i["id"] for i in service.client.get("/v1/images", params={"limit": 100}).json()["items"]]
    assert first_page + second_page == listed
    page.go_back()
    expect(page.locator("#page-of")).to_have_text("Page 1")
    assert cards.evaluate_all("cards => cards.map(c => c.dataset.imageId)") == first_page

    # From the gallery, a photo steps to its neighbours in the same order (buttons and arrow keys).
    cards.nth(23).locator("a.thumb").click()
    expect(page).to_have_url(re.compile(rf"id={listed[23]}"))
    expect(page.locator(".photo-nav")).to_contain_text("Photo 24")
    page.get_by_role("link", name="Next photo").click()  # across the page's edge, by the cursor the gallery kept
    expect(page).to_have_url(re.compile(rf"id={listed[24]}&at=24"))
    expect(page.locator(".photo-nav")).to_contain_text("Photo 25")
    page.keyboard.press("ArrowLeft")
    expect(page).to_have_url(re.compile(rf"id={listed[23]}&at=23"))
    page.get_by_role("link", name="Back to Photos").click()
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("#page-of")).to_have_text("Page 1")


@pytest.mark.parametrize("path", ["/", "/people.html", "/review.html", "/model.html", "/upload.html"])
def test_every_page_fits_a_laptop_as_an_admin(pages: Pages, path: str) -> None:
    # An admin's header holds the most: every link, the model's status and the account menu.
    page = pages.open(path)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.wait_for_load_state("networkidle")
    widest = page.evaluate("[...document.querySelector('header').children].map(e => e.tagName + '.' + e.className "
                           "+ ' ' + Math.round(e.getBoundingClientRect().left) + '-' + "
                           "Math.round(e.getBoundingClientRect().right))")
    assert no_horizontal_scroll(page), widest
