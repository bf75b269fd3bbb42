"""/v1/people/duplicates: people with similar names or faces offered for merging; "not the same" is remembered."""

from __future__ import annotations

from typing import Any

import numpy as np
from api_client import Api

from services.core.faces.networks import NETWORKS

SFACE = NETWORKS["sface"]
RNG = np.random.default_rng(12)


def _unit(vector: np.ndarray) -> list[float]:
    return [float(v) for v in vector / np.linalg.norm(vector)]


def _near(centre: np.ndarray, spread: float = 0.25) -> list[float]:
    """A descriptor of the same face as ``centre``: a little noise, unit length like sface's."""
    return _unit(centre + RNG.normal(0, spread / np.sqrt(len(centre)), len(centre)))


def _named_face(api: Api, n: int, person: str, descriptor: list[float], *, by_model: bool = False) -> None:
    image = api.add_image(n)
    face = api.add_face(image.id, 10, descriptor=descriptor, descriptor_model=SFACE.label)
    if by_model:
        found = api.client.get("/v1/people", params={"q": person}).json()["items"]
        api.model_label(face.id, found[0]["id"])
    else:
        api.name_face(face.id, person)


def _duplicates(api: Api) -> list[dict[str, Any]]:
    response = api.client.get("/v1/people/duplicates")
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def test_similar_names_are_offered_for_merging_and_others_are_not(api: Api) -> None:
    typed = api.person("Ben Affleck")
    image = api.add_image(1)
    api.name_face(api.add_face(image.id, 10).id, "Ben Affleck")
    imported = api.person("Ben Afflek")
    for name in ("Mindy Kaling", "Jerry Seinfeld", "Ann", "Bob"):
        api.person(name)

    [pair] = _duplicates(api)

    assert (pair["merge"]["id"], pair["into"]["id"]) == (imported["id"], typed["id"])  # kept: the one with faces
    assert pair["message"] == "Ben Afflek and Ben Affleck may be the same person"
    [reason] = pair["reasons"]
    assert reason["kind"] == "name" and 85 <= reason["score"] < 100 and reason["threshold"] == 85


def test_similar_faces_of_differently_named_people_are_offered(api: Api) -> None:
    someone = RNG.normal(size=SFACE.dimension)
    other = RNG.normal(size=SFACE.dimension)
    for n in range(3):
        _named_face(api, n, "Robert Downey", _near(someone))
    _named_face(api, 10, "RDJ", _near(someone))
    _named_face(api, 20, "Carl Weathers", _unit(other))
    # A model's guess is not a person's word: a face it named Carl that looks like Robert does not count.
    api.person("Zed")
    _named_face(api, 30, "Zed", _near(someone), by_model=True)

    [pair] = _duplicates(api)

    assert (pair["merge"]["name"], pair["into"]["name"]) == ("RDJ", "Robert Downey")
    [reason] = pair["reasons"]
    assert reason["kind"] == "face"
    assert 0 <= reason["score"] < reason["threshold"] == SFACE.default_threshold


def test_not_the_same_is_remembered_and_a_merge_takes_the_pair_away(api: Api) -> None:
    ann, anne = api.person("Ann Lee"), api.person("Anne Lee")
    ben, benn = api.person("Ben Affleck"), api.person("Benn Affleck")
    assert len(_duplicates(api)) == 2

    said = api.client.post("/v1/people/duplicates/not-same", json={"first_id": anne["id"], "second_id": ann["id"]})
    assert said.status_code == 204, said.text
    again = api.client.post("/v1/people/duplicates/not-same", json={"first_id": ann["id"], "second_id": anne["id"]})
    assert again.status_code == 204
    [left] = _duplicates(api)
    assert {left["merge"]["id"], left["into"]["id"]} == {ben["id"], benn["id"]}

    merged = api.client.post(f"/v1/people/{left['merge']['id']}/merge", json={"into": left["into"]["id"]})
    assert merged.status_code == 200, merged.text
    assert _duplicates(api) == []
    people = api.client.get("/v1/people").json()["items"]
    assert {p["name"] for p in people} == {"Ann Lee", "Anne Lee", left["into"]["name"]}


def test_not_same_refuses_unknown_people_and_one_person_twice(api: Api) -> None:
    ann = api.person("Ann")
    missing = api.client.post("/v1/people/duplicates/not-same", json={"first_id": ann["id"], "second_id": "nobody"})
    assert missing.status_code == 404 and "nobody" in missing.json()["message"]
    same = api.client.post("/v1/people/duplicates/not-same", json={"first_id": ann["id"], "second_id": ann["id"]})
    assert same.status_code == 422 and "two different people" in same.json()["message"]
    extra = api.client.post("/v1/people/duplicates/not-same", json={"first_id": ann["id"], "second_id": "x", "y": 1})
    assert extra.status_code == 422


def test_the_path_is_not_taken_for_a_persons_id(api: Api) -> None:
    api.person("duplicates")  # even a person called that is reached by id, not by this path
    assert _duplicates(api) == []
    assert api.client.get("/v1/people/duplicates", params={"limit": 0}).status_code == 422


def test_other_methods_on_the_list_are_refused_not_taken_for_a_person(api: Api) -> None:
    api.person("Ann")
    for method in ("DELETE", "PATCH", "OPTIONS", "PUT", "POST"):
        response = api.client.request(method, "/v1/people/duplicates", json={"name": "x"})
        assert response.status_code == 405, (method, response.text)
        assert response.headers["Allow"] == "GET"
    assert [p["name"] for p in api.client.get("/v1/people").json()["items"]] == ["Ann"]
