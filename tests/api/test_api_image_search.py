"""GET /v1/images: by person name, by unknown faces, by upload date; paging in a stable order."""

from __future__ import annotations

from datetime import timedelta

import pytest
from api_client import EPOCH, Api

from services.core.domain import ImageRecord


@pytest.fixture
def album(api: Api) -> dict[str, ImageRecord]:
    """Four photos: Ben alone, Ben with Matt, Matt with a stranger, and one with no faces."""
    photos = {name: api.add_image(n) for n, name in enumerate(["ben", "ben_matt", "matt_stranger", "empty"])}
    api.name_face(api.add_face(photos["ben"].id, 10).id, "Ben Affleck")
    api.name_face(api.add_face(photos["ben_matt"].id, 10).id, "Ben Affleck")
    matt = api.name_face(api.add_face(photos["ben_matt"].id, 200).id, "Matt Damon")["person"]
    api.model_label(api.add_face(photos["matt_stranger"].id, 10).id, matt["id"], confidence=0.7)
    api.add_face(photos["matt_stranger"].id, 200)
    return photos


def test_search_by_a_name_in_any_case(api: Api, album: dict[str, ImageRecord]) -> None:
    expected = [album["ben_matt"].id, album["ben"].id]
    assert api.search(person="Ben Affleck") == expected
    assert api.search(person="bEN aFFLECK") == expected
    assert api.search(person="  ben affleck ") == expected
    # Model guesses count too: the photo shows Matt as far as anyone knows.
    assert api.search(person="matt damon") == [album["matt_stranger"].id, album["ben_matt"].id]


def test_several_names_find_photos_with_all_of_them(api: Api, album: dict[str, ImageRecord]) -> None:
    assert api.search(person=["Ben Affleck", "Matt Damon"]) == [album["ben_matt"].id]
    assert api.search(person=["Ben Affleck", "Ben Affleck"]) == [album["ben_matt"].id, album["ben"].id]
    assert api.search(person=["Ben Affleck", "Nobody"]) == []


def test_a_name_nobody_has_finds_nothing(api: Api, album: dict[str, ImageRecord]) -> None:
    assert api.search(person="Ben") == []  # names match whole, not in part


@pytest.mark.parametrize("shaped", ['{"$ne": ""}', '{"$gt": ""}', "$ne", ".*", "^B", "B.*", "%", "_%", "*", "'",
                                    "' OR '1'='1", "Ben Affleck' --", "[a-z]+"])
def test_operator_shaped_names_are_plain_text(api: Api, album: dict[str, ImageRecord], shaped: str) -> None:
    assert api.search(person=shaped) == []
    response = api.client.get("/v1/images", params={"person": shaped})
    assert response.json() == {"items": [], "next_cursor": None}
    # ...and a person really called that is found by exactly that text and nothing else.
    image = api.add_image(10)
    api.name_face(api.add_face(image.id, 10).id, shaped)
    assert api.search(person=shaped) == [image.id]
    assert api.search(person="Ben Affleck") == [album["ben_matt"].id, album["ben"].id]


def test_search_by_unknown_faces(api: Api, album: dict[str, ImageRecord]) -> None:
    assert api.search(has_unknown=True) == [album["matt_stranger"].id]
    assert api.search(has_unknown=False) == [album["empty"].id, album["ben_matt"].id, album["ben"].id]
    assert api.search(has_unknown=True, person="Matt Damon") == [album["matt_stranger"].id]


def test_search_by_upload_date_includes_both_ends(api: Api, album: dict[str, ImageRecord]) -> None:
    # Photo n was uploaded n minutes after EPOCH.
    window = {"uploaded_from": (EPOCH + timedelta(minutes=1)).isoformat(),
              "uploaded_to": (EPOCH + timedelta(minutes=2)).isoformat()}
    assert api.search(**window) == [album["matt_stranger"].id, album["ben_matt"].id]
    assert api.search(uploaded_from=(EPOCH + timedelta(minutes=3)).isoformat()) == [album["empty"].id]
    assert api.search(uploaded_to=EPOCH.isoformat()) == [album["ben"].id]
    # Other time zones name the same instants.
    assert api.search(uploaded_from="2024-05-01T14:02:00+02:00") == [album["empty"].id, album["matt_stranger"].id]
    assert api.search(uploaded_to="2024-04-30T23:59:59Z") == []
    assert api.search(uploaded_from="2024-05-02T00:00:00Z") == []


def test_a_date_that_is_not_a_date_is_422(api: Api) -> None:
    response = api.client.get("/v1/images", params={"uploaded_from": '{"$gt": ""}'})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid"


def test_cursor_pages_are_stable_and_cover_every_photo_once(api: Api) -> None:
    # Seven photos, several uploaded at the same moment: ties are ordered by id.
    ids = [api.add_image(n, minutes=n // 3).id for n in range(7)]
    pages = []
    params: dict[str, object] = {"limit": 3}
    while True:
        body = api.client.get("/v1/images", params=params).json()
        pages.append([item["id"] for item in body["items"]])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert [len(page) for page in pages] == [3, 3, 1]
    flat = [image_id for page in pages for image_id in page]
    assert sorted(flat) == sorted(ids)
    assert flat == api.search(limit=50)  # same order as one big page
    assert flat == api.search(limit=50)  # and again
    expected = sorted(ids, key=lambda i: (ids.index(i) // 3, i), reverse=True)  # newest first, then by id
    assert flat == expected


def test_the_last_page_says_so(api: Api) -> None:
    api.add_image()
    body = api.client.get("/v1/images", params={"limit": 1}).json()
    assert len(body["items"]) == 1 and body["next_cursor"] is None
