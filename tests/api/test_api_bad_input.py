"""Bad input: unknown ids are 404, bad names 422, every error is JSON {error, message}."""

from __future__ import annotations

import pytest
from api_client import Api


@pytest.mark.parametrize(("method", "path", "body"), [
    ("GET", "/v1/people/{x}", None),
    ("PATCH", "/v1/people/{x}", {"name": "Ben"}),
    ("DELETE", "/v1/people/{x}", None),
    ("GET", "/v1/people/{x}/faces", None),
    ("GET", "/v1/faces/{x}", None),
    ("PATCH", "/v1/faces/{x}", {"name": "Ben"}),
    ("PATCH", "/v1/faces/{x}", {"unknown": True}),
    ("DELETE", "/v1/faces/{x}", None),
    ("POST", "/v1/images/{x}/faces", {"box": {"left": 0, "top": 0, "width": 20, "height": 20}}),
    ("DELETE", "/v1/images/{x}", None),
    ("GET", "/v1/images/{x}", None),
])  # fmt: skip
@pytest.mark.parametrize("unknown_id", ["0123456789abcdef0123456789abcdef", '{"$ne": ""}', ".*"])
def test_unknown_ids_are_404(api: Api, method: str, path: str, body: dict[str, object] | None,
                             unknown_id: str) -> None:
    api.person("Ben")
    api.add_face(api.add_image().id, 10)
    response = api.client.request(method, path.replace("{x}", unknown_id), json=body)
    assert response.status_code == 404, response.text
    assert response.json()["error"] == "not_found"
    assert response.json()["message"]


BAD_NAMES = [
    pytest.param("", id="empty"),
    pytest.param("   ", id="blank"),
    pytest.param("x" * 101, id="101-chars"),
    pytest.param("  " + "x" * 101 + "  ", id="101-chars-padded"),
    pytest.param("Ben\nAffleck", id="newline"),
    pytest.param("Ben\tAffleck", id="tab"),
    pytest.param("Ben\x00", id="nul"),
    pytest.param("Ben\x1b[31m", id="escape"),
    pytest.param("Ben\x7f", id="delete"),
    pytest.param("Ben\u2028Affleck", id="line-separator"),
    pytest.param("\u202egnp.exe", id="right-to-left-override"),
    pytest.param("Ann\u2066x\u2069", id="bidi-isolate"),
    pytest.param(None, id="null"),
    pytest.param(42, id="number"),
    pytest.param({"$ne": ""}, id="operator-object"),
    pytest.param(["Ben"], id="list"),
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_bad_names_are_422_everywhere(api: Api, name: object) -> None:
    ben = api.person("Ben")
    image = api.add_image()
    face = api.add_face(image.id, 10)
    box = {"left": 0, "top": 0, "width": 20, "height": 20}
    for method, path, body in [
        ("POST", "/v1/people", {"name": name}),
        ("PATCH", f"/v1/people/{ben['id']}", {"name": name}),
        ("PATCH", f"/v1/faces/{face.id}", {"name": name}),
        ("POST", f"/v1/images/{image.id}/faces", {"box": box, "name": name}),
    ]:
        response = api.client.request(method, path, json=body)
        assert response.status_code == 422, (method, path, response.text)
        assert response.json()["error"] == "invalid"
        assert "name" in response.json()["message"]
    assert [p["name"] for p in api.client.get("/v1/people").json()["items"]] == ["Ben"]
    assert api.client.get(f"/v1/faces/{face.id}").json()["label_source"] is None


@pytest.mark.parametrize("name", ["x" * 100, "Zoë Saldaña", "王菲", "Beyoncé", "O'Brien-Smith, Jr.",
                                  "👩‍👩‍👧 family", '{"$ne": ""}', ".*", "Robert'); DROP TABLE people;--"])
def test_unusual_but_fine_names_are_kept_as_given(api: Api, name: str) -> None:
    created = api.person(name)
    assert created["name"] == name
    assert api.client.get(f"/v1/people/{created['id']}").json()["name"] == name
    assert [p["name"] for p in api.client.get("/v1/people").json()["items"]] == [name]


def test_a_body_that_is_not_json_is_422(api: Api) -> None:
    response = api.client.post("/v1/people", content=b"name=Ben", headers={"content-type": "text/plain"})
    assert response.status_code == 422
    assert response.json()["error"] == "invalid"


def test_openapi_documents_the_new_endpoints(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    for path, methods in {
        "/v1/people": {"get", "post"},
        "/v1/people/{person_id}": {"get", "patch", "delete"},
        "/v1/people/{person_id}/merge": {"post"},
        "/v1/people/{person_id}/faces": {"get"},
        "/v1/faces/{face_id}": {"get", "patch", "delete"},
        "/v1/images/{image_id}/faces": {"post"},
        "/v1/images/{image_id}": {"get", "delete"},
    }.items():
        assert methods <= set(paths[path]), path


CURSOR_LISTS = ["/v1/images", "/v1/people", "/v1/people/{person}/faces", "/v1/review", "/v1/clusters",
                "/v1/actions", "/v1/admin/audit", "/v1/admin/webhooks/{hook}/deliveries", "/v1/admin/users",
                "/v1/tokens", "/v1/admin/webhooks", "/v1/admin/models"]


@pytest.mark.parametrize("path", CURSOR_LISTS)
@pytest.mark.parametrize("cursor", ["not a cursor", "eyJ9", "e30", "eyJraW5kIjoiaW1hZ2UiLCJhdCI6MSwiaWQiOjF9",
                                    "A" * 2000, "%00", "9223372036854775808"])
def test_a_bad_or_tampered_cursor_is_a_422_that_says_so(api: Api, path: str, cursor: str) -> None:
    person = api.person("Ben")
    hook = api.client.post("/v1/admin/webhooks", json={"url": "https://hooks.example.org/facetag",
                                                       "kinds": ["photo.done"]}).json()
    url = path.replace("{person}", person["id"]).replace("{hook}", hook["id"])
    response = api.client.get(url, params={"cursor": cursor})
    assert response.status_code == 422, response.text
    assert "cursor" in response.json()["message"]


@pytest.mark.parametrize("path", ["/v1/images", "/v1/people/{person}/faces"])
def test_a_cursor_from_another_list_is_refused(api: Api, path: str) -> None:
    person = api.person("Ben")
    for n in range(3):
        api.add_image(n)
    other = "/v1/people/{person}/faces" if path == "/v1/images" else "/v1/images"
    api.client.post("/v1/people", json={"name": "Cid"})
    foreign = api.client.get("/v1/people", params={"limit": 1}).json()["next_cursor"]
    assert foreign is not None
    for url in (path, other):
        response = api.client.get(url.replace("{person}", person["id"]), params={"cursor": foreign})
        assert response.status_code == 422 and "not a cursor from this list" in response.json()["message"]


def test_look_alike_names_are_one_person(api: Api) -> None:
    ann = api.person("Ann")
    clash = api.client.post("/v1/people", json={"name": "ＡＮＮ"})
    assert clash.status_code == 409, clash.text
    face = api.add_face(api.add_image().id, 10)
    assert api.name_face(face.id, "ａｎｎ")["person"]["id"] == ann["id"]
    assert api.client.post("/v1/people", json={"name": "ﬁona"}).json()["name"] == "fiona"  # the ligature too


@pytest.mark.parametrize("filename", ["Łódź.jpg", "照片.png", 'say "cheese".jpg', "naïve café.jpeg"])
def test_any_file_name_comes_back_in_the_download(api: Api, filename: str) -> None:
    from urllib.parse import unquote

    image = api.add_image(3)
    api.run(api.catalog.delete_image, image.id)
    stored, _ = api.run(api.catalog.add_image, image.model_copy(update={"filename": filename}))
    response = api.client.get(f"/v1/images/{stored.id}/original")
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    disposition.encode("latin-1")  # a header must be Latin-1: the raw name went into it before and gave 500
    assert unquote(disposition.split("filename*=UTF-8''")[1]) == filename


@pytest.mark.parametrize(("method", "path", "status", "allow"), [
    ("PUT", "/v1/images", 405, "GET, POST"),
    ("POST", "/v1/people/{person}", 405, "DELETE, GET, PATCH"),
    ("DELETE", "/v1/people/..%2F..", 404, None),
    ("POST", "/v1/no-such-thing", 404, None),
])
def test_a_wrong_method_or_path_under_the_api_is_answered_by_the_api(api: Api, method: str, path: str,
                                                                     status: int, allow: str | None) -> None:
    person = api.person("Ben")
    response = api.client.request(method, path.replace("{person}", person["id"]))
    assert response.status_code == status, response.text
    assert response.headers.get("allow") == allow
    assert response.json()["message"]


def test_a_store_outage_is_a_503_with_retry_after(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.core.errors import StoreUnavailable

    async def down(*_: object, **__: object) -> None:
        raise StoreUnavailable("the MongoDB catalog at mongo:27017 did not answer.")

    monkeypatch.setattr(api.catalog, "people_page", down)
    response = api.client.get("/v1/people")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert "Try again" in response.json()["message"]
