"""PATCH/DELETE /v1/faces/{id}: name, confirm, unknown, remove; label provenance and the model rule."""

from __future__ import annotations

import pytest
from api_client import Api

from services.core import blob_layout


def test_name_a_face_as_an_existing_person(api: Api) -> None:
    image = api.add_image()
    face = api.add_face(image.id, 10)
    ben = api.person("Ben Affleck")
    response = api.client.patch(f"/v1/faces/{face.id}", json={"person_id": ben["id"]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["person"] == {"id": ben["id"], "name": "Ben Affleck"}
    assert (body["label_source"], body["model_version"], body["confidence"]) == ("person", None, None)
    assert api.image(image.id)["faces"][0]["person"]["name"] == "Ben Affleck"


def test_naming_by_a_new_name_creates_the_person_once(api: Api) -> None:
    image = api.add_image()
    first, second = api.add_face(image.id, 10), api.add_face(image.id, 200)
    created = api.name_face(first.id, "  Matt Damon ")["person"]
    again = api.name_face(second.id, "MATT DAMON")["person"]
    assert created == again == {"id": created["id"], "name": "Matt Damon"}
    people = api.client.get("/v1/people").json()["items"]
    assert [(p["name"], p["face_count"], p["image_count"]) for p in people] == [("Matt Damon", 2, 1)]


def test_confirm_turns_the_model_guess_into_a_person_label(api: Api) -> None:
    image = api.add_image()
    face = api.add_face(image.id, 10)
    ben = api.person("Ben Affleck")
    assert api.model_label(face.id, ben["id"], confidence=0.74, version="v7")
    guessed = api.client.get(f"/v1/faces/{face.id}").json()
    assert (guessed["label_source"], guessed["model_version"], guessed["confidence"]) == ("model", "v7", 0.74)
    assert guessed["person"]["name"] == "Ben Affleck"

    confirmed = api.client.patch(f"/v1/faces/{face.id}", json={"confirm": True})
    assert confirmed.status_code == 200
    assert confirmed.json()["label_source"] == "person"
    assert confirmed.json()["person"]["id"] == ben["id"]

    # A later model, however sure, does not change it.
    matt = api.person("Matt Damon")
    assert api.model_label(face.id, matt["id"], confidence=0.99, version="v8") is False
    after = api.client.get(f"/v1/faces/{face.id}").json()
    assert (after["person"]["id"], after["label_source"]) == (ben["id"], "person")


def test_confirming_the_model_saying_unknown_keeps_it_unknown(api: Api) -> None:
    image = api.add_image()
    face = api.add_face(image.id, 10)
    api.model_label(face.id, None, confidence=0.3)
    body = api.client.patch(f"/v1/faces/{face.id}", json={"confirm": True}).json()
    assert (body["person"], body["label_source"]) == (None, "person")


def test_confirm_without_any_label_is_a_conflict(api: Api) -> None:
    face = api.add_face(api.add_image().id, 10)
    response = api.client.patch(f"/v1/faces/{face.id}", json={"confirm": True})
    assert response.status_code == 409
    assert "no label to confirm" in response.json()["message"]


def test_a_person_label_survives_later_model_labels(api: Api) -> None:
    image = api.add_image()
    face = api.add_face(image.id, 10)
    matt = api.person("Matt Damon")
    api.name_face(face.id, "Ben Affleck")
    assert api.model_label(face.id, matt["id"], confidence=0.95) is False
    body = api.client.get(f"/v1/faces/{face.id}").json()
    assert (body["person"]["name"], body["label_source"], body["model_version"]) == ("Ben Affleck", "person", None)


def test_marking_unknown_is_a_person_label_a_model_keeps(api: Api) -> None:
    image = api.add_image()
    face = api.add_face(image.id, 10)
    ben = api.person("Ben Affleck")
    api.model_label(face.id, ben["id"])
    body = api.client.patch(f"/v1/faces/{face.id}", json={"unknown": True}).json()
    assert (body["person"], body["label_source"]) == (None, "person")
    assert api.model_label(face.id, ben["id"], confidence=0.99) is False
    assert api.client.get(f"/v1/faces/{face.id}").json()["person"] is None
    assert api.search(has_unknown=True) == [image.id]
    assert api.search(person="Ben Affleck") == []


def test_a_model_label_can_be_replaced_by_a_newer_model(api: Api) -> None:
    face = api.add_face(api.add_image().id, 10)
    ben, matt = api.person("Ben"), api.person("Matt")
    assert api.model_label(face.id, ben["id"], version="v1")
    assert api.model_label(face.id, matt["id"], version="v2", confidence=0.9)
    body = api.client.get(f"/v1/faces/{face.id}").json()
    assert (body["person"]["name"], body["label_source"], body["model_version"]) == ("Matt", "model", "v2")


def test_rename_a_face_from_one_person_to_another(api: Api) -> None:
    image = api.add_image()
    face = api.add_face(image.id, 10)
    api.name_face(face.id, "Ben")
    api.name_face(face.id, "Matt")
    counts = {p["name"]: p["face_count"] for p in api.client.get("/v1/people").json()["items"]}
    assert counts == {"Ben": 0, "Matt": 1}
    assert api.search(person="Matt") == [image.id]
    assert api.search(person="Ben") == []


def test_delete_a_face_and_its_chip(api: Api) -> None:
    image = api.add_image()
    keep, drop = api.add_face(image.id, 10), api.add_face(image.id, 200)
    assert drop.chip_key is not None
    assert api.client.delete(f"/v1/faces/{drop.id}").status_code == 204
    assert api.client.get(f"/v1/faces/{drop.id}").status_code == 404
    assert not api.blobs.exists(drop.chip_key)
    shown = api.image(image.id)
    assert shown["face_count"] == 1
    assert [f["id"] for f in shown["faces"]] == [keep.id]
    assert api.blobs.exists(blob_layout.original(image.id))
    assert api.client.delete(f"/v1/faces/{drop.id}").status_code == 404


@pytest.mark.parametrize("body", [
    {},
    {"confirm": False},
    {"person_id": "x", "name": "Ben"},
    {"confirm": True, "unknown": True},
    {"name": "Ben", "unknown": True},
    {"name": None},
    {"name": "Ben", "colour": "red"},
    {"person_id": {"$ne": ""}},
])  # fmt: skip
def test_a_label_needs_exactly_one_thing_to_say(api: Api, body: dict[str, object]) -> None:
    face = api.add_face(api.add_image().id, 10)
    response = api.client.patch(f"/v1/faces/{face.id}", json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid"
    assert api.client.get(f"/v1/faces/{face.id}").json()["label_source"] is None


def test_naming_as_a_person_who_does_not_exist_is_404(api: Api) -> None:
    face = api.add_face(api.add_image().id, 10)
    response = api.client.patch(f"/v1/faces/{face.id}", json={"person_id": "no-such-person"})
    assert response.status_code == 404
    assert response.json()["error"] == "not_found"
