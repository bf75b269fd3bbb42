"""POST /v1/images/{id}/faces (a box drawn by hand) and DELETE /v1/images/{id}."""

from __future__ import annotations

import io

import pytest
from api_client import Api
from PIL import Image

from services.core import blob_layout
from services.core.domain import ImageStatus
from services.core.queue import DETECT_IMAGE, PREPARE_FACE


def test_a_drawn_box_becomes_a_manual_face_and_is_queued_for_its_chip(api: Api) -> None:
    image = api.add_image(width=640, height=480)
    box = {"left": 100, "top": 120, "width": 80, "height": 90}
    response = api.client.post(f"/v1/images/{image.id}/faces", json={"box": box})
    assert response.status_code == 201, response.text
    face = response.json()
    assert response.headers["location"] == f"/v1/faces/{face['id']}"
    assert (face["origin"], face["box"], face["image_id"]) == ("manual", box, image.id)
    assert (face["person"], face["label_source"], face["chip_url"]) == (None, None, None)
    assert api.sent == [(PREPARE_FACE, (face["id"], image.id))]
    shown = api.image(image.id)
    assert shown["face_count"] == 1
    assert shown["faces"][0]["id"] == face["id"]
    assert api.search(has_unknown=True) == [image.id]


def test_a_drawn_box_with_a_name_is_labelled_by_a_person(api: Api) -> None:
    image = api.add_image()
    ben = api.person("Ben Affleck")
    by_id = api.client.post(f"/v1/images/{image.id}/faces",
                            json={"box": {"left": 0, "top": 0, "width": 50, "height": 50}, "person_id": ben["id"]})
    by_name = api.client.post(f"/v1/images/{image.id}/faces",
                              json={"box": {"left": 300, "top": 0, "width": 50, "height": 50}, "name": "Jen"})
    assert by_id.status_code == by_name.status_code == 201
    assert (by_id.json()["person"]["id"], by_id.json()["label_source"]) == (ben["id"], "person")
    assert (by_name.json()["person"]["name"], by_name.json()["label_source"]) == ("Jen", "person")
    assert api.search(person=["ben affleck", "JEN"]) == [image.id]
    assert len(api.sent) == 2


def test_a_box_touching_the_far_edges_is_inside(api: Api) -> None:
    image = api.add_image(width=640, height=480)
    box = {"left": 600, "top": 440, "width": 40, "height": 40}
    assert api.client.post(f"/v1/images/{image.id}/faces", json={"box": box}).status_code == 201


@pytest.mark.parametrize("box", [
    {"left": 600, "top": 10, "width": 41, "height": 40},
    {"left": 10, "top": 441, "width": 40, "height": 40},
    {"left": 5000, "top": 5000, "width": 40, "height": 40},
])  # fmt: skip
def test_a_box_past_the_photo_is_a_conflict_with_it(api: Api, box: dict[str, object]) -> None:
    # Well-formed by every rule the API document states: what it clashes with is this photo's size.
    image = api.add_image(width=640, height=480)
    response = api.client.post(f"/v1/images/{image.id}/faces", json={"box": box})
    assert response.status_code == 409, response.text
    assert response.json()["message"] == "The box reaches past the photo, which is 640x480 pixels."
    assert api.image(image.id)["faces"] == []
    assert api.sent == []


@pytest.mark.parametrize("box", [
    {"left": -1, "top": 10, "width": 40, "height": 40},
    {"left": 10, "top": -5, "width": 40, "height": 40},
    {"left": 10, "top": 10, "width": 0, "height": 40},
    {"left": 10, "top": 10, "width": 40, "height": -3},
    {"left": 10, "top": 10, "width": 4, "height": 4},
    {"left": "10", "top": 10, "width": "wide", "height": 40},
    {"left": 10, "top": 10},
])  # fmt: skip
def test_a_box_breaking_the_box_rules_is_refused(api: Api, box: dict[str, object]) -> None:
    image = api.add_image(width=640, height=480)
    response = api.client.post(f"/v1/images/{image.id}/faces", json={"box": box})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid"
    assert api.image(image.id)["faces"] == []
    assert api.sent == []


def test_a_drawn_box_for_an_unknown_photo_or_person_is_404(api: Api) -> None:
    box = {"left": 0, "top": 0, "width": 50, "height": 50}
    assert api.client.post("/v1/images/nope/faces", json={"box": box}).status_code == 404
    image = api.add_image()
    response = api.client.post(f"/v1/images/{image.id}/faces", json={"box": box, "person_id": "nobody"})
    assert response.status_code == 404
    assert api.image(image.id)["faces"] == []


def test_a_drawn_box_is_taken_back_when_it_cannot_be_queued(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.gateway.routes import image_edits

    def broker_down(*_: object) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(image_edits, "send", broker_down)
    image = api.add_image()
    response = api.client.post(f"/v1/images/{image.id}/faces",
                               json={"box": {"left": 0, "top": 0, "width": 50, "height": 50}})
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert api.image(image.id)["faces"] == []


def test_delete_a_photo_with_its_blobs_and_faces(api: Api) -> None:
    doomed, other = api.add_image(1), api.add_image(2)
    face = api.add_face(doomed.id, 10)
    api.name_face(face.id, "Ben")
    other_face = api.add_face(other.id, 10)
    api.name_face(other_face.id, "Ben")

    assert api.client.delete(f"/v1/images/{doomed.id}").status_code == 204

    assert api.client.get(f"/v1/images/{doomed.id}").status_code == 404
    assert api.client.get(f"/v1/images/{doomed.id}/original").status_code == 404
    assert api.client.get(f"/v1/faces/{face.id}").status_code == 404
    assert api.blobs.list(blob_layout.image_prefix(doomed.id)) == []
    assert api.blobs.exists(blob_layout.original(other.id))
    assert api.search() == [other.id]
    ben = api.client.get("/v1/people").json()["items"][0]
    assert (ben["name"], ben["face_count"], ben["image_count"]) == ("Ben", 1, 1)
    assert api.client.delete(f"/v1/images/{doomed.id}").status_code == 404


def test_an_uploaded_photo_can_be_deleted_and_uploaded_again(api: Api) -> None:
    buffer = io.BytesIO()
    orange = Image.new("RGB", (64, 48), (200, 120, 40))
    orange.paste((20, 20, 20), (0, 0, 16, 16))  # a flat image would be refused as blank
    orange.save(buffer, "JPEG")
    data = buffer.getvalue()
    first = api.client.post("/v1/images", files={"file": ("orange.jpg", data, "image/jpeg")})
    assert first.status_code == 202, first.text
    image_id = first.json()["id"]
    assert api.client.get(f"/v1/images/{image_id}/original").content == data
    assert api.client.delete(f"/v1/images/{image_id}").status_code == 204
    assert api.blobs.list(blob_layout.image_prefix(image_id)) == []
    again = api.client.post("/v1/images", files={"file": ("orange.jpg", data, "image/jpeg")})
    assert again.status_code == 202  # a new photo, not "already uploaded"
    assert again.json()["id"] != image_id


def test_sending_a_photo_again_gets_it_going_if_its_task_was_lost(api: Api) -> None:
    """A client whose upload answer was lost (the catalog died as it wrote the record) sends it again: the
    photo is there, still queued, and its task may never have gone out, so it goes now. A finished photo
    is only answered."""
    buffer = io.BytesIO()
    teal = Image.new("RGB", (64, 48), (30, 160, 150))
    teal.paste((240, 240, 240), (0, 0, 16, 16))
    teal.save(buffer, "JPEG")
    photo = {"file": ("teal.jpg", buffer.getvalue(), "image/jpeg")}
    first = api.client.post("/v1/images", files=photo)
    assert first.status_code == 202, first.text
    image_id = first.json()["id"]
    api.sent.clear()  # as if the task had never been sent

    again = api.client.post("/v1/images", files=photo)
    assert (again.status_code, again.json()["id"]) == (200, image_id)
    assert api.sent == [(DETECT_IMAGE, (image_id,))]

    api.sent.clear()
    api.run(api.catalog.set_image_status, image_id, ImageStatus.done)
    assert api.client.post("/v1/images", files=photo).status_code == 200
    assert api.sent == []
