"""The web UI in headless Chromium on a real service: upload, boxes, naming, search, rename, draw, delete."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from browser_helpers import Pages, drag_on_photo, faces, model_label, person_id, photo_id, wait_for
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
SLOW = 180_000  # ms: detection on a busy 2-core machine


def test_upload_name_search_rename_draw_and_delete(pages: Pages, facedata: Path) -> None:
    service = pages.service
    samples = facedata / "facetag_samples"

    # Upload two photos at once; each shows its own progress and then its status until done.
    page = pages.open("/upload.html")
    page.set_input_files("#file-input", [str(samples / "ben_mat_4.jpg"), str(samples / "elton_john.jpg")])
    rows = page.locator("li.upload")
    expect(rows).to_have_count(2)
    for name in ("ben_mat_4.jpg", "elton_john.jpg"):
        expect(page.locator(f'li.upload[data-file="{name}"] .state')).to_contain_text("Done", timeout=SLOW)
    expect(page.locator('li.upload[data-file="ben_mat_4.jpg"] .state')).to_contain_text("2 faces found")
    expect(page.locator("#upload-summary")).to_contain_text("2 of 2 photos done")
    pages.shot(page, "upload-done-desktop")

    # Open the photo: a box on each face.
    page.locator('li.upload[data-file="ben_mat_4.jpg"] a', has_text="Open").click()
    expect(page).to_have_url(re.compile(r"/photo\.html\?id="))
    image_id = page.url.split("id=")[1]
    boxes = page.locator(".face .box")
    expect(boxes).to_have_count(2)
    expect(page.locator(".face-row")).to_have_count(2)

    # Name the left face (faces come left to right).
    boxes.nth(0).click()
    editor = page.locator(".editor")
    expect(editor).to_be_visible()
    pages.shot(page, "photo-editor-desktop")
    editor.locator("input[name=name]").fill("Matt Damon")
    editor.locator("input[name=name]").press("Enter")
    expect(page.locator(".face .tag.confirmed")).to_have_text("Matt Damon")
    # The editor goes straight on to the next face nobody named, ready for the next name.
    expect(page.locator(".face .box.selected")).to_have_count(1)
    expect(page.locator(".face .box").nth(1)).to_have_class(re.compile(r"\bselected\b"))
    expect(editor).to_contain_text("Unnamed face")
    expect(editor.locator("input[name=name]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    left = faces(service, image_id)[0]
    assert (left["person"]["name"], left["label_source"]) == ("Matt Damon", "person")

    # Search the gallery by that name, in another case: the photo is found, the other is not.
    page.goto("/")
    search = page.locator("#person-search")
    search.fill("matt damon")
    search.press("Enter")
    expect(page.locator("h1")).to_have_text("Photos of Matt Damon")
    expect(page.locator(".card")).to_have_count(1)
    expect(page.locator(f'.card[data-image-id="{image_id}"] .names')).to_contain_text("Matt Damon")
    assert "person=Matt+Damon" in page.url
    pages.shot(page, "gallery-search-desktop")

    # Rename the person on the people page; the photo shows the new name.
    page.goto("/people.html")
    matt = page.locator(".person", has_text="Matt Damon").get_attribute("data-person-id")
    card = page.locator(f'.person[data-person-id="{matt}"]')
    card.get_by_role("button", name="Rename").click()
    card.locator("form.rename input").fill("Matthew Damon")
    card.locator("form.rename input").press("Enter")
    expect(card.locator(".name")).to_have_text("Matthew Damon")
    page.goto(f"/photo.html?id={image_id}")
    expect(page.locator(".face .tag.confirmed")).to_have_text("Matthew Damon")
    assert faces(service, image_id)[0]["person"]["name"] == "Matthew Damon"

    # Draw a box by hand where the detector found nothing; its chip is made by the workers.
    expect(page.locator(".face .box")).to_have_count(2)
    drag_on_photo(page, (0.03, 0.70), (0.18, 0.92))
    expect(editor).to_be_visible()
    expect(editor).to_contain_text("New face")
    editor.get_by_role("button", name="Add without a name").click()
    expect(page.locator(".face .box")).to_have_count(3)
    manual = wait_for(lambda: [f for f in faces(service, image_id) if f["origin"] == "manual"], what="manual face")[0]
    assert manual["box"]["left"] < 0.05 * 1024 and manual["box"]["width"] > 0.1 * 1024
    wait_for(lambda: [f for f in faces(service, image_id) if f["id"] == manual["id"] and f["chip_url"]],
             timeout=SLOW / 1000, what="the chip of the drawn face")
    expect(page.locator(f'.face-row[data-face-id="{manual["id"]}"] img')).to_be_visible(timeout=20_000)

    # Delete that face: it goes from the photo and from the service.
    page.locator(f'.box[data-face-id="{manual["id"]}"]').click()
    editor.get_by_role("button", name="Not a face").click()
    expect(page.locator(".face .box")).to_have_count(2)
    removed = page.locator(".toast", has_text="Face removed")
    expect(removed).to_be_visible()
    assert service.client.get(f"/v1/faces/{manual['id']}").status_code == 404

    # Undo brings the box back (as a new face), and it can be removed again.
    removed.get_by_role("button", name="Undo").click()
    expect(page.locator(".face .box")).to_have_count(3)
    restored = wait_for(lambda: [f for f in faces(service, image_id) if f["origin"] == "manual"], what="undo")[0]
    assert restored["box"] == manual["box"]
    page.locator(f'.box[data-face-id="{restored["id"]}"]').click()
    editor.get_by_role("button", name="Not a face").click()
    expect(page.locator(".face .box")).to_have_count(2)
    assert len(faces(service, image_id)) == 2
    assert faces(service, image_id)[0]["person"]["name"] == "Matthew Damon"


def test_a_model_guess_is_shown_as_a_guess_and_confirmed_in_one_click(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben_mat_1.jpg")
    ben = person_id(service, "Ben Affleck")
    target = faces(service, image_id)[0]
    assert model_label(service, target["id"], ben, 0.87)

    page = pages.open(f"/photo.html?id={image_id}")
    tag = page.locator(".face .tag.guess")
    expect(tag).to_have_count(1)
    expect(tag).to_contain_text("Ben Affleck?")
    expect(tag).to_contain_text("87%")
    expect(page.locator(f'.face-row[data-face-id="{target["id"]}"]')).to_contain_text("87% sure")
    pages.shot(page, "photo-guess-desktop")

    tag.get_by_role("button", name="Confirm Ben Affleck").click()
    expect(page.locator(".face .tag.confirmed")).to_have_text("Ben Affleck")
    expect(page.locator(".face .tag.guess")).to_have_count(0)
    confirmed = service.client.get(f"/v1/faces/{target['id']}").json()
    assert (confirmed["label_source"], confirmed["person"]["id"]) == ("person", ben)
    # A later model does not change what a person confirmed.
    assert model_label(service, target["id"], None, 0.99, version="v2") is False


def test_correct_a_guess_by_typing_another_name_or_unknown(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben_mat_2.jpg")
    wrong = person_id(service, "Madonna")
    first, second = faces(service, image_id)[:2]
    model_label(service, first["id"], wrong, 0.55)
    model_label(service, second["id"], wrong, 0.51)

    page = pages.open(f"/photo.html?id={image_id}")
    page.locator(f'.box[data-face-id="{first["id"]}"]').click()
    editor = page.locator(".editor")
    expect(editor).to_contain_text("Yes, it's Madonna")
    editor.locator("input[name=name]").fill("Casey Affleck")
    editor.get_by_role("button", name="Save").click()
    expect(page.locator(".face .tag.confirmed")).to_have_text("Casey Affleck")

    # Saving moved the editor on to the other guess.
    expect(page.locator(f'.box[data-face-id="{second["id"]}"]')).to_have_class(re.compile(r"\bselected\b"))
    editor.get_by_role("button", name="Unknown").click()
    expect(editor).to_have_count(0)
    expect(page.locator(".face .tag.guess")).to_have_count(0)
    expect(page.locator(f'.face-row[data-face-id="{second["id"]}"]')).to_contain_text("Marked unknown by a person")
    after = {f["id"]: f for f in faces(service, image_id)}
    assert (after[first["id"]]["person"]["name"], after[first["id"]]["label_source"]) == ("Casey Affleck", "person")
    assert (after[second["id"]]["person"], after[second["id"]]["label_source"]) == (None, "person")


def test_names_are_shown_as_text_never_as_markup(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "jerry.jpg")
    name = '<img src=x onerror="window.__owned=1">Jerry'
    face = faces(service, image_id)[0]
    assert service.client.patch(f"/v1/faces/{face['id']}", json={"name": name}).status_code == 200
    for path in (f"/photo.html?id={image_id}", "/people.html", "/"):
        page = pages.open(path)
        expect(page.get_by_text(name).first).to_be_visible()
        assert page.evaluate("window.__owned") is None
