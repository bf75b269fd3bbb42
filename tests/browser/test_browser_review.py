"""The Review page (issue 12, item 2): the model's least certain faces one at a time, answered by keyboard (Y, N,
a typed name, S, U) and by mouse; read-only for viewers. And select mode in the gallery (item 6): confirm the
guesses on the selected photos, or mark their faces unknown, with Undo. A real model trained on real celeb5
photos through a real ``facetag serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Pages, faces, no_horizontal_scroll, photo_id, train_until_served
from playwright.sync_api import expect
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.browser
PEOPLE = {"ben_afflek": "Ben Affleck", "madonna": "Madonna"}
NAMED_EACH = 3  # train photos named per person: few, so every guess of them is worth asking about
ASKED_EACH = 5  # val photos per person uploaded after training: enough questions for every test here


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """This module's own service: it trains when the test says so, and serves a new model within a second."""
    yield from run_embedded(tmp_path_factory.mktemp("review"), stalled_after=60, auto_train="false",
                            model_check_interval=1)


def largest_face(service: Service, path: Path) -> dict[str, Any]:
    return max(faces(service, photo_id(service, path)), key=lambda f: f["box"]["width"] * f["box"]["height"])


@pytest.fixture(scope="module")
def library(embedded_service: Service, facedata: Path) -> dict[str, str]:
    """Name a few photos of two people, train and serve a model, then upload more of them: face id -> who it is."""
    service = embedded_service
    for folder, name in PEOPLE.items():
        for path in sorted((facedata / "celeb5" / "train" / folder).glob("*.jpg"))[:NAMED_EACH]:
            response = service.client.patch(f"/v1/faces/{largest_face(service, path)['id']}", json={"name": name})
            assert response.status_code == 200, response.text
    train_until_served(service)
    truth = {}
    for folder, name in PEOPLE.items():
        for path in sorted((facedata / "celeb5" / "val" / folder).glob("*.jpg"))[:ASKED_EACH]:
            truth[largest_face(service, path)["id"]] = name
    return truth


def queue(service: Service) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = service.client.get("/v1/review", params={"limit": 100}).json()["items"]
    return items


def face(service: Service, face_id: str) -> dict[str, Any]:
    found: dict[str, Any] = service.client.get(f"/v1/faces/{face_id}").json()
    return found


def test_answer_five_faces_by_keyboard_then_undo(pages: Pages, library: dict[str, str]) -> None:
    service = pages.service
    asked = [item for item in queue(service) if item["face"]["id"] in library]
    assert len(asked) >= 6, f"only {len(asked)} of the new faces are in the review queue"
    assert sum(item["guess"] is not None for item in asked) >= 3, "too few guesses in the review queue"

    page = pages.open("/review.html", role="editor")
    expect(page.locator("header nav").get_by_role("link", name="Review")).to_have_attribute("aria-current", "page")
    card = page.locator("#review-card")

    def moved_past(face_id: str) -> None:
        """The page asks about another face, or says there is nothing left to ask."""
        expect(page.locator(f'#review-card:not([data-face-id="{face_id}"]), #review-empty')).to_be_visible()

    def shown() -> tuple[str, dict[str, Any]]:
        expect(card).to_be_visible()
        face_id = card.get_attribute("data-face-id")
        assert face_id
        item = next((i for i in queue(service) if i["face"]["id"] == face_id), None)
        assert item is not None, "the page shows a face that is not in the queue"
        return face_id, item

    def guessed() -> tuple[str, dict[str, Any]]:
        """The next face the model has a guess for: S skips those it takes for nobody it knows."""
        face_id, item = shown()
        while item["guess"] is None:
            # Taken for nobody it knows: it asks about whoever came nearest, if anyone did.
            nearest = item["nearest"]
            expect(page.locator("#review-title")).to_have_text(f"Is this {nearest['name']}?" if nearest
                                                               else "Who is this?")
            if nearest is None:
                expect(page.locator("#review-no")).to_have_count(0)  # "not X" needs an X
            page.keyboard.press("s")
            moved_past(face_id)
            face_id, item = shown()
        return face_id, item

    # 1. The question says who the model thinks it is and why it asks; Y says yes.
    first, item = guessed()
    guess = item["guess"]["name"]
    expect(page.locator("#review-title")).to_contain_text(guess)
    if item["reason"] == "few_examples":
        expect(page.locator("#review-detail")).to_contain_text(f"of {guess} so far")
    expect(page.locator("#review-yes kbd")).to_have_text("Y")
    pages.shot(page, "review-desktop")
    page.keyboard.press("y")
    moved_past(first)
    answered = face(service, first)
    assert answered["label_source"] == "person" and answered["person"]["name"] == guess
    assert answered["label_via"] == "review" and answered["labelled_by"].startswith("editor")

    # 2. N: not this person, for good.
    second, item = guessed()
    not_them = item["guess"]["id"]
    page.keyboard.press("n")
    moved_past(second)
    assert not_them in {p["id"] for p in face(service, second)["not_people"]}

    # 3. T, then the name typed (Y, N, S and U are letters there, not answers), Enter sends it.
    third, _ = shown()
    page.keyboard.press("t")
    expect(page.locator("#review-name")).to_be_focused()
    page.keyboard.type("Sunny Unsworth")
    expect(page.locator("#review-name")).to_have_value("Sunny Unsworth")
    page.keyboard.press("Enter")
    moved_past(third)
    assert face(service, third)["person"]["name"] == "Sunny Unsworth"

    # 4. U takes that answer back and shows the face again; this time the right name, from the list.
    page.keyboard.press("u")
    expect(card).to_have_attribute("data-face-id", third)
    assert face(service, third)["person"]["name"] != "Sunny Unsworth"
    page.keyboard.press("t")
    page.keyboard.type(library.get(third, "Madonna"))
    page.keyboard.press("Enter")
    moved_past(third)
    assert face(service, third)["person"]["name"] == library.get(third, "Madonna")
    assert face(service, third)["label_source"] == "person"

    # 5. S skips: the face stays in the queue for later; Esc leaves the name box and the keys work again.
    fifth, _ = shown()
    page.keyboard.press("t")
    page.keyboard.press("Escape")
    expect(page.locator("#review-name")).not_to_be_focused()
    page.keyboard.press("s")
    moved_past(fifth)
    assert fifth in {i["face"]["id"] for i in queue(service)}
    assert face(service, fifth)["label_source"] == "model"

    # 6. The buttons do the same for mouse and touch users. (If the skip used up the queue, a fresh visit
    # asks about the skipped face again: skipping is for now, not for good.)
    if page.locator("#review-empty").count():
        page.reload()
    sixth, item = shown()
    page.locator("#review-yes").click()
    moved_past(sixth)
    assert face(service, sixth)["label_source"] == "person"
    left = {i["face"]["id"]: i for i in queue(service)}
    assert not {first, third, sixth} & set(left)
    # "Not X" named the face afresh without X: it may be asked about again, but never as X.
    assert second not in left or (left[second]["guess"] or {}).get("id") != not_them


def test_viewers_see_the_queue_without_answers(pages: Pages, library: dict[str, str]) -> None:
    assert queue(pages.service), "nothing left in the review queue to look at"
    page = pages.open("/review.html", role="viewer", phone=True)
    expect(page.locator("#review-card")).to_be_visible()
    assert no_horizontal_scroll(page)
    pages.shot(page, "review-viewer-phone")
    expect(page.locator("#review-readonly")).to_contain_text("Only editors can answer")
    expect(page.locator("#review-yes")).to_have_count(0)
    expect(page.locator("#review-name")).to_have_count(0)
    expect(page.locator("header nav").get_by_role("link", name="Review")).to_have_count(0)
    before = page.locator("#review-card").get_attribute("data-face-id")
    page.keyboard.press("y")  # nothing is answered
    assert face(pages.service, str(before))["label_source"] == "model"


def test_select_photos_in_the_gallery_confirm_their_guesses_and_undo(pages: Pages, library: dict[str, str]) -> None:
    service = pages.service
    # Guesses no one has answered about (a "not X" face is being named afresh, so its guess may still change).
    guessed = [fid for fid, f in ((fid, face(service, fid)) for fid in library)
               if f["label_source"] == "model" and f["person"] and not f["not_people"]][:2]
    assert len(guessed) == 2, "too few guesses left to confirm"
    images = [face(service, fid)["image_id"] for fid in guessed]

    page = pages.open("/", role="editor")
    page.get_by_role("button", name="Select", exact=True).click()
    for image_id in images:
        page.locator(f'#gallery .card[data-image-id="{image_id}"] a.thumb').click()
    expect(page).to_have_url(f"{service.url}/")  # selecting, not opening
    expect(page.locator("#photo-select-count")).to_have_text("2 photos selected")
    pages.shot(page, "gallery-select-desktop")
    page.locator("#confirm-guesses").click()
    bar = page.locator("#undo-bar")
    expect(bar).to_contain_text("Confirmed")
    for fid in guessed:
        changed = face(service, fid)
        assert changed["label_source"] == "person" and changed["label_via"] == "bulk"
    bar.get_by_role("button", name="Undo").click()
    expect(bar).to_have_count(0)
    assert all(face(service, fid)["label_source"] == "model" for fid in guessed)

    # Mark unknown: the guess on one photo goes; the selection ends with it.
    page.get_by_role("button", name="Select", exact=True).click()
    page.locator(f'#gallery .card[data-image-id="{images[0]}"] a.thumb').click()
    page.locator("#mark-unknown").click()
    expect(page.locator("#undo-bar")).to_contain_text("Marked unknown")
    assert face(service, guessed[0])["person"] is None
    expect(page.locator("#photo-select-bar")).to_have_count(0)
