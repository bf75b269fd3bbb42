"""/v1/people: list with counts and cover, create, rename, delete, merge, a person's faces."""

from __future__ import annotations

from api_client import Api

from services.core.domain import LabelSource


def test_list_people_counts_faces_photos_and_picks_a_cover(api: Api) -> None:
    ben = api.person("Ben Affleck")
    matt = api.person("Matt Damon")
    one, two = api.add_image(1), api.add_image(2)
    guessed = api.add_face(one.id, 10)
    api.model_label(guessed.id, ben["id"])
    named = api.add_face(two.id, 10)
    api.name_face(named.id, "ben affleck")  # same person, any case
    api.add_face(two.id, 200)

    people = {p["name"]: p for p in api.client.get("/v1/people").json()["items"]}
    assert list(people) == ["Ben Affleck", "Matt Damon"]
    assert people["Ben Affleck"]["face_count"] == 2
    assert people["Ben Affleck"]["image_count"] == 2
    assert people["Ben Affleck"]["cover_face_id"] == named.id  # a face a person labelled comes first
    assert people["Ben Affleck"]["cover_chip_url"] == f"/v1/faces/{named.id}/chip"
    assert people["Matt Damon"] == {**matt, "face_count": 0, "image_count": 0}
    assert people["Matt Damon"]["cover_face_id"] is None

    photos = api.client.get(people["Ben Affleck"]["photos_url"]).json()
    assert {item["id"] for item in photos["items"]} == {one.id, two.id}


def test_list_people_filters_by_plain_text(api: Api) -> None:
    for name in ("Ben Affleck", "Benedict Cumberbatch", "Matt Damon", "A.* Regex"):
        api.person(name)
    names = lambda q: [p["name"] for p in api.client.get("/v1/people", params={"q": q}).json()["items"]]  # noqa: E731
    assert names("BEN") == ["Ben Affleck", "Benedict Cumberbatch"]
    assert names(".*") == ["A.* Regex"]
    assert names('{"$ne": ""}') == []


def test_create_person_refuses_a_taken_name_in_any_case(api: Api) -> None:
    created = api.person("  Zoë Kravitz ")
    assert created["name"] == "Zoë Kravitz"
    assert api.client.get(f"/v1/people/{created['id']}").json() == created
    response = api.client.post("/v1/people", json={"name": "ZOË KRAVITZ"})
    assert response.status_code == 409
    assert response.json()["error"] == "conflict"


def test_rename_shows_everywhere(api: Api) -> None:
    image = api.add_image()
    face = api.add_face(image.id, 10)
    person = api.name_face(face.id, "Ben")["person"]

    response = api.client.patch(f"/v1/people/{person['id']}", json={"name": "Ben Affleck"})
    assert response.status_code == 200
    assert response.json()["name"] == "Ben Affleck"
    assert response.json()["face_count"] == 1

    assert api.image(image.id)["faces"][0]["person"] == {"id": person["id"], "name": "Ben Affleck"}
    assert api.client.get(f"/v1/faces/{face.id}").json()["person"]["name"] == "Ben Affleck"
    assert [p["name"] for p in api.client.get("/v1/people").json()["items"]] == ["Ben Affleck"]
    assert api.search(person="ben affleck") == [image.id]
    assert api.search(person="Ben") == []


def test_rename_to_the_same_name_in_another_case_but_not_to_someone_elses(api: Api) -> None:
    ben = api.person("ben affleck")
    api.person("Matt Damon")
    assert api.client.patch(f"/v1/people/{ben['id']}", json={"name": "Ben Affleck"}).json()["name"] == "Ben Affleck"
    taken = api.client.patch(f"/v1/people/{ben['id']}", json={"name": "matt damon"})
    assert taken.status_code == 409
    assert api.client.get(f"/v1/people/{ben['id']}").json()["name"] == "Ben Affleck"


def test_delete_person_keeps_photos_and_makes_their_faces_unknown(api: Api) -> None:
    image = api.add_image()
    named = api.add_face(image.id, 10)
    guessed = api.add_face(image.id, 200)
    ben = api.name_face(named.id, "Ben")["person"]
    api.model_label(guessed.id, ben["id"])
    assert api.search(has_unknown=True) == []

    assert api.client.delete(f"/v1/people/{ben['id']}").status_code == 204

    assert api.client.get(f"/v1/people/{ben['id']}").status_code == 404
    assert api.client.get("/v1/people").json()["items"] == []
    shown = api.image(image.id)
    assert shown["face_count"] == 2
    for face in shown["faces"]:
        assert (face["person"], face["label_source"], face["model_version"], face["confidence"]) == (
            None, None, None, None)
    assert api.search(has_unknown=True) == [image.id]
    assert api.search(person="Ben") == []
    assert api.client.delete(f"/v1/people/{ben['id']}").status_code == 404


def test_merge_moves_every_face_and_keeps_label_sources(api: Api) -> None:
    one, two = api.add_image(1), api.add_image(2)
    a, b, c = api.add_face(one.id, 10), api.add_face(two.id, 10), api.add_face(two.id, 200)
    ben = api.name_face(a.id, "Ben")["person"]
    affleck = api.name_face(b.id, "Ben Affleck")["person"]
    api.model_label(c.id, ben["id"], confidence=0.6)

    response = api.client.post(f"/v1/people/{ben['id']}/merge", json={"into": affleck["id"]})
    assert response.status_code == 200, response.text
    merged = response.json()
    assert (merged["id"], merged["name"], merged["face_count"], merged["image_count"]) == (
        affleck["id"], "Ben Affleck", 3, 2)
    assert api.client.get(f"/v1/people/{ben['id']}").status_code == 404

    faces = {f["id"]: f for f in api.client.get(f"/v1/people/{affleck['id']}/faces").json()["items"]}
    assert set(faces) == {a.id, b.id, c.id}
    assert faces[a.id]["label_source"] == LabelSource.person
    assert (faces[c.id]["label_source"], faces[c.id]["confidence"]) == (LabelSource.model, 0.6)
    assert api.search(person="Ben Affleck") == [two.id, one.id]
    assert api.search(person="Ben") == []


def test_merge_into_themselves_or_nobody_is_refused(api: Api) -> None:
    ben = api.person("Ben")
    itself = api.client.post(f"/v1/people/{ben['id']}/merge", json={"into": ben["id"]})
    assert itself.status_code == 409
    nobody = api.client.post(f"/v1/people/{ben['id']}/merge", json={"into": "nobody"})
    assert nobody.status_code == 404
    unknown_source = api.client.post("/v1/people/nobody/merge", json={"into": ben["id"]})
    assert unknown_source.status_code == 404
    assert api.client.get(f"/v1/people/{ben['id']}").status_code == 200


def test_person_faces_are_paged_by_photo(api: Api) -> None:
    images = [api.add_image(n) for n in range(3)]
    faces = [api.add_face(image.id, 10) for image in images]
    ben = api.person("Ben")
    for face in faces:
        api.client.patch(f"/v1/faces/{face.id}", json={"person_id": ben["id"]})
    first = api.client.get(f"/v1/people/{ben['id']}/faces", params={"limit": 2}).json()
    rest = api.client.get(f"/v1/people/{ben['id']}/faces", params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert len(first["items"]) == 2 and len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {f["id"] for f in first["items"] + rest["items"]} == {f.id for f in faces}
    assert all(f["person"]["name"] == "Ben" for f in first["items"])
