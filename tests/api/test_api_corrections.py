"""Corrections that stick and can be undone: not X, bulk changes, split, merge, delete, the review queue."""

from __future__ import annotations

from typing import Any

import pytest
from api_client import Api

from services.core.domain import ReviewHint, ReviewReason
from services.core.queue import CLASSIFY_IMAGE

PASSWORD = "correct horse battery staple"


def _post(api: Api, path: str, body: dict[str, Any], status: int = 200, **kw: Any) -> dict[str, Any]:
    response = api.client.post(path, json=body, **kw)
    assert response.status_code == status, response.text
    result: dict[str, Any] = response.json()
    return result


def _undo(api: Api, action: dict[str, Any], status: int = 200, **kw: Any) -> dict[str, Any]:
    return _post(api, action["undo_url"], {}, status, **kw)


def _face(api: Api, face_id: str) -> dict[str, Any]:
    body: dict[str, Any] = api.client.get(f"/v1/faces/{face_id}").json()
    return body


def test_not_x_unnames_the_face_is_remembered_and_asks_for_a_fresh_guess(api: Api) -> None:
    ben = api.person("Ben Affleck")
    photo = api.add_image()
    face = api.add_face(photo.id, 10)
    api.model_label(face.id, ben["id"])
    result = _post(api, f"/v1/faces/{face.id}/not", {})
    assert result["face"]["person"] is None
    assert result["face"]["not_people"] == [{"id": ben["id"], "name": "Ben Affleck"}]
    assert result["face"]["label_via"] == "editor" and result["face"]["labelled_by"]
    assert result["action"]["summary"] == "Not Ben Affleck"
    assert (CLASSIFY_IMAGE, (photo.id, (face.id,))) in api.sent
    # A model can no longer name the face Ben, even after a retrain and re-tag.
    api.model_label(face.id, ben["id"], version="v9")
    assert _face(api, face.id)["person"] is None
    # Undo puts the guess back as it was and forgets the "not".
    _undo(api, result["action"])
    restored = _face(api, face.id)
    assert restored["person"]["id"] == ben["id"] and restored["label_source"] == "model"
    assert restored["not_people"] == []
    # A face with no name: say who it is not with person_id; with nothing to reject, 409.
    other = api.add_face(photo.id, 200)
    assert api.client.post(f"/v1/faces/{other.id}/not", json={}).status_code == 409
    assert _post(api, f"/v1/faces/{other.id}/not", {"person_id": ben["id"]})["face"]["not_people"]
    assert api.client.post(f"/v1/faces/{other.id}/not", json={"person_id": "nobody"}).status_code == 404
    assert api.client.post("/v1/faces/nothing/not", json={}).status_code == 404


def test_bulk_changes_are_one_undoable_action(api: Api) -> None:
    ben = api.person("Ben")
    photo = api.add_image()
    faces = [api.add_face(photo.id, 10 + 100 * i) for i in range(3)]
    for face in faces[:2]:
        api.model_label(face.id, ben["id"])
    confirmed = _post(api, "/v1/faces/batch", {"face_ids": [f.id for f in faces] + ["missing"], "change": "confirm"})
    assert confirmed["changed"] == 2 and sorted(confirmed["skipped"]) == sorted([faces[2].id, "missing"])
    assert confirmed["action"]["summary"] == "Confirmed 2 faces"
    assert all(_face(api, f.id)["label_source"] == "person" for f in faces[:2])
    moved = _post(api, "/v1/faces/batch", {"face_ids": [f.id for f in faces], "change": "move", "name": "Matt"})
    assert moved["changed"] == 3 and moved["action"]["summary"] == "Named 3 faces Matt"
    _undo(api, moved["action"])
    assert [(_face(api, f.id)["person"] or {}).get("name") for f in faces] == ["Ben", "Ben", None]
    assert api.client.get("/v1/people", params={"q": "Matt"}).json()["items"] == []  # made for the move, gone with it
    deleted = _post(api, "/v1/faces/batch", {"face_ids": [faces[0].id], "change": "delete"})
    assert api.client.get(f"/v1/faces/{faces[0].id}").status_code == 404
    _undo(api, deleted["action"])
    assert _face(api, faces[0].id)["person"]["name"] == "Ben"
    assert api.image(photo.id)["face_count"] == 3
    # It is a path of its own, not a face with the id "batch".
    for method in ("GET", "PATCH", "DELETE", "OPTIONS"):
        refused = api.client.request(method, "/v1/faces/batch")
        assert refused.status_code == 405 and refused.headers["Allow"] == "POST", method
    # The second undo of the same action is refused; bodies that make no sense are 422.
    assert api.client.post(deleted["action"]["undo_url"]).status_code == 409
    for bad in ({"face_ids": [], "change": "confirm"}, {"face_ids": ["a"], "change": "move"},
                {"face_ids": ["a"], "change": "confirm", "name": "X"}, {"face_ids": ["a"], "change": "explode"},
                {"face_ids": ["a"] * 501, "change": "unknown"}):
        assert api.client.post("/v1/faces/batch", json=bad).status_code == 422, bad


def test_split_moves_selected_faces_and_merge_and_delete_come_back(api: Api) -> None:
    photos = [api.add_image(n) for n in range(4)]
    faces = [api.add_face(p.id, 10) for p in photos]
    ben = None
    for face in faces:
        ben = api.name_face(face.id, "Ben")["person"]
    assert ben is not None
    split = _post(api, f"/v1/people/{ben['id']}/split", {"face_ids": [faces[2].id, faces[3].id, "x"],
                                                         "name": "Ben's brother"})
    assert split["moved"] == 2 and split["skipped"] == ["x"] and split["person"]["face_count"] == 2
    assert _face(api, faces[3].id)["label_via"] == "split"
    brother = split["person"]
    merged = _post(api, f"/v1/people/{brother['id']}/merge", {"into": ben["id"]})
    assert merged["face_count"] == 4
    _undo(api, merged["action"])
    assert api.client.get(f"/v1/people/{brother['id']}").json()["face_count"] == 2
    assert api.client.get(f"/v1/people/{ben['id']}").json()["face_count"] == 2
    deleted = api.client.delete(f"/v1/people/{brother['id']}")
    assert deleted.status_code == 204
    assert api.client.get(f"/v1/people/{brother['id']}").status_code == 404
    assert api.client.post(deleted.headers["Facetag-Undo"]).status_code == 200
    assert api.client.get(f"/v1/people/{brother['id']}").json()["face_count"] == 2
    # Undoing the split itself: the faces go back to Ben, the brother (now with none) goes away.
    _undo(api, split["action"])
    assert api.client.get(f"/v1/people/{ben['id']}").json()["face_count"] == 4
    assert api.client.get(f"/v1/people/{brother['id']}").status_code == 404
    assert api.client.post(f"/v1/people/{ben['id']}/split", json={"face_ids": ["x"], "name": "Y"}).status_code == 409
    assert api.client.post(f"/v1/people/{ben['id']}/split", json={"face_ids": [faces[0].id]}).status_code == 422


def test_undo_leaves_alone_faces_someone_changed_since(api: Api) -> None:
    photo = api.add_image()
    faces = [api.add_face(photo.id, 10 + 100 * i) for i in range(2)]
    moved = _post(api, "/v1/faces/batch", {"face_ids": [f.id for f in faces], "change": "move", "name": "Ann"})
    api.name_face(faces[1].id, "Bea")
    result = _undo(api, moved["action"])
    assert result["faces_restored"] == 1 and result["faces_left"] == 1
    assert _face(api, faces[0].id)["person"] is None
    assert _face(api, faces[1].id)["person"]["name"] == "Bea"


def test_only_the_author_or_an_admin_may_undo(api: Api) -> None:
    photo = api.add_image()
    face = api.add_face(photo.id, 10)
    callers = {}
    for role in ("editor", "viewer"):
        username = f"{role}-undo"
        made = api.client.post("/v1/admin/users", json={"username": username, "password": PASSWORD, "role": role})
        assert made.status_code == 201, made.text
        token = _post(api, "/v1/tokens", {"name": "t", "scopes": ["edit" if role == "editor" else "read"],
                                          "for_user": username}, 201)["token"]
        callers[role] = {"Authorization": f"Bearer {token}"}
    mine = _post(api, "/v1/faces/batch", {"face_ids": [face.id], "change": "move", "name": "Ann"})["action"]
    assert api.client.post(mine["undo_url"], headers=callers["editor"]).status_code == 403
    assert api.client.post(mine["undo_url"], headers=callers["viewer"]).status_code == 403
    theirs = _post(api, "/v1/faces/batch", {"face_ids": [face.id], "change": "unknown"},
                   headers=callers["editor"])["action"]
    listed = api.client.get("/v1/actions", headers=callers["editor"]).json()["items"]
    assert [a["id"] for a in listed] == [theirs["id"]]  # an editor sees their own
    assert {mine["id"], theirs["id"]} <= {a["id"] for a in api.client.get("/v1/actions").json()["items"]}  # admin: all
    _undo(api, theirs)  # the admin may undo anyone's
    assert api.client.post("/v1/actions/nothing/undo").status_code == 404


def _queue(api: Api, **params: Any) -> list[dict[str, Any]]:
    response = api.client.get("/v1/review", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_the_review_queue_asks_about_the_least_certain_faces_first(api: Api) -> None:
    ben, matt = api.person("Ben"), api.person("Matt")
    photo = api.add_image()
    sure, borderline, close = (api.add_face(photo.id, 10 + 100 * i) for i in range(3))
    api.model_label(sure.id, ben["id"], 0.99)  # no hint: nothing to ask
    api.model_label(borderline.id, ben["id"], 0.52, review=ReviewHint(score=0.97, reason=ReviewReason.borderline))
    api.model_label(close.id, matt["id"], 0.7, review=ReviewHint(score=0.6, reason=ReviewReason.close_call,
                                                                 runner_up_id=ben["id"]))
    queue = _queue(api)
    assert [i["face"]["id"] for i in queue] == [borderline.id, close.id]
    assert queue[0]["guess"]["name"] == "Ben" and queue[0]["reason"] == "borderline"
    assert queue[1]["runner_up"]["name"] == "Ben" and queue[1]["reason"] == "close_call"
    first = api.client.get("/v1/review", params={"limit": 1}).json()
    assert [i["face"]["id"] for i in first["items"]] == [borderline.id]
    assert [i["face"]["id"] for i in _queue(api, cursor=first["next_cursor"], limit=1)] == [close.id]
    # Answers: yes confirms (by review), no is sticky, and both leave the queue; undo brings the face back.
    yes = _post(api, f"/v1/review/{borderline.id}", {"answer": "yes"})
    assert yes["face"]["label_source"] == "person" and yes["face"]["label_via"] == "review"
    no = _post(api, f"/v1/review/{close.id}", {"answer": "no"})
    assert no["face"]["person"] is None and no["face"]["not_people"][0]["name"] == "Matt"
    assert _queue(api) == []
    _undo(api, yes["action"])
    assert [i["face"]["id"] for i in _queue(api)] == [borderline.id], (_queue(api), close.id, borderline.id)
    named = _post(api, f"/v1/review/{close.id}", {"answer": "name", "name": "Jen"})
    assert named["face"]["person"]["name"] == "Jen" and named["action"]["summary"] == "Named Jen"
    assert api.client.post(f"/v1/review/{close.id}", json={"answer": "name"}).status_code == 422
    assert api.client.post(f"/v1/review/{close.id}", json={"answer": "yes", "name": "X"}).status_code == 422
    unknown_face = api.add_face(photo.id, 500)
    assert api.client.post(f"/v1/review/{unknown_face.id}", json={"answer": "yes"}).status_code == 409
    assert api.client.post("/v1/review/nothing", json={"answer": "unknown"}).status_code == 404


@pytest.mark.parametrize("field,value", [("hidden", True), ("active_from", "2001-02-03")])
def test_person_details_are_kept_and_hidden_people_leave_the_list(api: Api, field: str, value: Any) -> None:
    ann = api.person("Ann")
    response = api.client.patch(f"/v1/people/{ann['id']}", json={field: value})
    assert response.status_code == 200, response.text
    assert response.json()[field] == value
    listed = [p["id"] for p in api.client.get("/v1/people").json()["items"]]
    assert (ann["id"] in listed) == (field != "hidden")
    assert ann["id"] in [p["id"] for p in api.client.get("/v1/people", params={"hidden": "true"}).json()["items"]]


def test_a_cover_must_be_their_own_face(api: Api) -> None:
    photo = api.add_image()
    first, second, stranger = (api.add_face(photo.id, 10 + 100 * i) for i in range(3))
    ann = api.name_face(first.id, "Ann")["person"]
    api.name_face(second.id, "Ann")
    chosen = api.client.patch(f"/v1/people/{ann['id']}", json={"cover_face_id": second.id}).json()
    assert chosen["cover_face_id"] == second.id and chosen["chosen_cover_id"] == second.id
    assert api.client.patch(f"/v1/people/{ann['id']}", json={"cover_face_id": stranger.id}).status_code == 409
    reset = api.client.patch(f"/v1/people/{ann['id']}", json={"cover_face_id": None}).json()
    assert reset["chosen_cover_id"] is None
    bad = api.client.patch(f"/v1/people/{ann['id']}", json={"active_from": "2002-01-01", "active_to": "2001-01-01"})
    assert bad.status_code == 422
