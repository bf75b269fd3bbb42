"""The OpenAPI document states the rules the server keeps: what it calls valid is taken, what it calls invalid
is refused with a 4xx saying why, and every status a route answers is documented. Each test here is a
contract break schemathesis found (tests/e2e/test_api_contract_fuzz.py), pinned down."""

from __future__ import annotations

import re
import sys
import unicodedata
from typing import Any

import pytest
from api_client import API_KEY, Api

from services.core.catalog.rules import MAX_NAME_LENGTH, NAME_PATTERN, clean_person_name
from services.core.errors import InvalidInput, StoreUnavailable

JSON = {"content-type": "application/json"}


def _refused(response: Any, *words: str) -> str:
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["error"] == "invalid"
    for word in words:
        assert word in body["message"], body["message"]
    return str(body["message"])


@pytest.mark.parametrize(("content", "says"), [
    (b"\xff\xfe\x00{", "not valid JSON"),  # not UTF-8: FastAPI answered an undocumented 400
    (b'{"name": "Ben"', "not valid JSON"),
    (b"", "Field required"),
])  # fmt: skip
def test_a_body_that_cannot_be_read_is_a_422_saying_so(api: Api, content: bytes, says: str) -> None:
    _refused(api.client.post("/v1/people", content=content, headers=JSON), says)


def test_a_body_sent_as_another_type_is_a_422_saying_to_send_json(api: Api) -> None:
    response = api.client.post("/v1/people", content=b'{"name": "Ben"}', headers={"content-type": "text/plain"})
    _refused(response, "Content-Type: application/json")


@pytest.mark.parametrize("since", [1581636, "1581636", 0.5, "2024-05-01", "2024-05-01T12:00:00", "12:00",
                                   "2024-05-01T25:00:00Z", "yesterday"])
def test_a_time_that_is_not_an_rfc3339_date_time_is_refused(api: Api, since: object) -> None:
    # {"since": 1581636} was read as seconds after 1970; a date alone as some midnight in some zone.
    _refused(api.client.post("/v1/admin/datasets", json={"since": since}), "since", "RFC 3339")
    _refused(api.client.get("/v1/images", params={"uploaded_to": str(since)}), "uploaded_to", "RFC 3339")
    _refused(api.client.get("/v1/admin/audit", params={"until": str(since)}), "until", "RFC 3339")


@pytest.mark.parametrize("moment", ["2024-05-01T12:00:00Z", "2024-05-01t14:00:00.5+02:00",
                                    "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59"])
def test_any_rfc3339_date_time_is_taken(api: Api, moment: str) -> None:
    # The last two are before year 1 and after year 9999 in UTC: they were a 500, they are the ends of time.
    assert api.client.post("/v1/admin/datasets", json={"since": moment}).status_code == 202
    assert api.client.get("/v1/images", params={"uploaded_from": moment}).status_code == 200
    assert api.client.get("/v1/admin/audit", params={"since": moment}).status_code == 200


@pytest.mark.parametrize("body", [{"force": 0}, {"force": "true"}, {"holdout_percent": "20"},
                                  {"holdout_percent": 20.5}, {"max_exemplars": True}])
def test_a_json_value_of_another_type_is_refused(api: Api, body: dict[str, object]) -> None:
    # The document says boolean and integer: 0, "20" and true were taken for false, 20 and 1.
    _refused(api.client.post("/v1/admin/train", json=body), next(iter(body)))


def test_a_whole_number_written_as_a_float_is_an_integer(api: Api) -> None:
    # To JSON Schema 20.0 is the integer 20; it was refused.
    response = api.client.post("/v1/admin/train", json={"holdout_percent": 20.0, "max_exemplars": 64.0})
    assert response.status_code == 202, response.text
    assert response.json()["params"]["holdout_percent"] == 20


@pytest.mark.parametrize("value", ["1", "0", "yes", "on", "TRUE"])
def test_a_query_flag_is_true_or_false(api: Api, value: str) -> None:
    _refused(api.client.get("/v1/images", params={"has_unknown": value}), "has_unknown", "true or false")
    assert api.client.get("/v1/images", params={"has_unknown": "true"}).status_code == 200


@pytest.mark.parametrize("body", [
    {},
    {"name": "Ben", "confirm": True},
    {"name": "Ben", "confirm": False, "unknown": False, "person_id": None},  # was taken: flags off, null id
    {"confirm": False},
    {"unknown": 1},
    {"person_id": None},
])  # fmt: skip
def test_a_face_label_is_exactly_one_field(api: Api, body: dict[str, object]) -> None:
    face = api.add_face(api.add_image().id, 10)
    _refused(api.client.patch(f"/v1/faces/{face.id}", json=body))
    assert api.client.get(f"/v1/faces/{face.id}").json()["label_source"] is None


@pytest.mark.parametrize("body", [{}, {"name": None}, {"never_tag": None}, {"never_tag": 0}])
def test_a_person_change_names_something_to_change(api: Api, body: dict[str, object]) -> None:
    person = api.person("Ben")
    _refused(api.client.patch(f"/v1/people/{person['id']}", json=body))


def test_the_document_states_the_one_of_rules(api: Api) -> None:
    schemas = api.client.get("/openapi.json").json()["components"]["schemas"]
    assert (schemas["FaceLabelIn"]["minProperties"], schemas["FaceLabelIn"]["maxProperties"]) == (1, 1)
    assert schemas["FaceLabelIn"]["properties"]["confirm"]["const"] is True
    assert schemas["PersonChangeIn"]["minProperties"] == 1
    assert schemas["ManualFaceIn"]["maxProperties"] == 2  # the box, and person_id or name
    assert schemas["BoxIn"]["properties"]["width"]["minimum"] == 8
    for model in ("FaceLabelIn", "PersonChangeIn", "ManualFaceIn", "TrainIn", "TokenIn", "UserIn"):
        assert schemas[model]["additionalProperties"] is False, model


def test_a_100_character_name_is_taken_even_if_unicode_lengthens_it(api: Api) -> None:
    # The document says 1 to 100 characters; NFKC makes each "ﬀ" two letters, and that was a 422.
    created = api.client.post("/v1/people", json={"name": "ﬀ" * MAX_NAME_LENGTH})
    assert created.status_code == 201, created.text
    assert created.json()["name"] == "ff" * MAX_NAME_LENGTH


def test_the_name_pattern_in_the_document_is_the_name_rule() -> None:
    """For every character alone, and up to U+3000 (the last space or control character the rule names) also
    between letters and around them: the pattern clients check matches exactly when the server takes the name."""
    pattern = re.compile(NAME_PATTERN)

    def taken(name: str) -> bool:
        try:
            clean_person_name(name)
        except InvalidInput:
            return False
        return True

    for code in range(sys.maxunicode + 1):
        if unicodedata.category(chr(code)) == "Cs":
            continue  # not text: the body check refuses it before any rule (test below)
        char = chr(code)
        for name in (char, f"a{char}b", f"{char}a{char}") if code <= 0x3000 else (char,):
            assert bool(pattern.fullmatch(name)) == taken(name), f"U+{code:04X} in {name!r}"


@pytest.mark.parametrize(("path", "body"), [
    ("/v1/people/{person}/merge", b'{"into": "\\ud800"}'),
    ("/v1/people", b'{"name": "Ben\\udfff"}'),
    ("/v1/auth/login", b'{"username": "\\ud800", "password": "x"}'),
])  # fmt: skip
def test_a_lone_surrogate_in_a_body_is_a_422_not_a_500(api: Api, path: str, body: bytes) -> None:
    person = api.person("Grace")
    response = api.client.post(path.replace("{person}", person["id"]), content=body, headers=JSON)
    _refused(response, "not Unicode text")


def test_a_model_version_is_checked_by_the_pattern_the_document_states(api: Api) -> None:
    _refused(api.client.get("/v1/admin/models/0"), "version", "pattern")
    _refused(api.client.put("/v1/admin/models/current", json={"version": "0.1.0"}), "version", "pattern")
    parameter = api.client.get("/openapi.json").json()["paths"]["/v1/admin/models/{version}"]["get"]["parameters"]
    assert parameter[0]["schema"]["pattern"] == "^v([0-9]{1,9})$"


def test_the_current_model_is_a_resource_that_get_and_put_both_take(api: Api) -> None:
    # OPTIONS said "Allow: GET, PUT" because GET fell through to /models/{version}, which refused "current".
    response = api.client.get("/v1/admin/models/current")
    assert response.status_code == 404, response.text
    assert response.json()["message"] == "No model is being served yet; train one with POST /v1/admin/train."
    refused = api.client.options("/v1/admin/models/current")
    assert refused.status_code == 405 and refused.headers["allow"] == "GET, PUT"


def test_an_admin_key_making_a_token_for_nobody_is_forbidden(api: Api) -> None:
    # A well-formed request that the caller may not make: 403, as for an admin key signing out everywhere.
    response = api.client.post("/v1/tokens", json={"name": "phone", "scopes": ["read"]})
    assert response.status_code == 403, response.text
    assert "for_user" in response.json()["message"]


def test_a_token_with_scopes_beyond_its_owners_role_is_forbidden(api: Api) -> None:
    # Well-formed by every rule the document states: what refuses it is the viewer's role, so not a 422.
    made = api.client.post("/v1/admin/users", json={"username": "vic", "password": "a long password",
                                                    "role": "viewer"})
    assert made.status_code == 201, made.text
    response = api.client.post("/v1/tokens", json={"name": "ci", "scopes": ["edit"], "for_user": "vic"})
    assert response.status_code == 403, response.text
    assert response.json()["message"] == "a viewer cannot give a token the scope(s) edit; allowed: read"


def test_a_store_outage_while_checking_a_token_is_a_503(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    from services.core.access.accounts import Accounts

    async def down(*_: object) -> None:
        raise StoreUnavailable("the MongoDB access store at mongo:27017 did not answer.")

    monkeypatch.setattr(Accounts, "token_of", down)
    response = api.client.get("/v1/people", headers={"Authorization": "Bearer ftk_not_the_admin_key"})
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    assert api.client.get("/v1/people", headers={"Authorization": f"Bearer {API_KEY}"}).status_code == 200


def test_every_error_every_route_can_answer_is_documented_with_its_body(api: Api) -> None:
    document = api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in document["components"]["schemas"]  # FastAPI's 422 shape is never sent
    error = {"$ref": "#/components/schemas/ErrorOut"}
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            where = f"{method.upper()} {path}"
            assert {"401", "503"} <= set(responses), where
            if "{" in path:
                assert "404" in responses, where
            if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", [])):
                assert "422" in responses, where
            for status, response in responses.items():
                if status.startswith(("4", "5")) and (path, status) != ("/readyz", "503"):  # its report
                    assert response["content"]["application/json"]["schema"] == error, (where, status)
                if status in ("429", "503") and path != "/readyz":
                    assert "Retry-After" in response["headers"], (where, status)


@pytest.mark.parametrize(("path", "media_types"), [
    ("/v1/images/{image_id}/original", {"image/jpeg", "image/png", "image/webp", "image/bmp", "image/tiff",
                                        "image/gif"}),
    ("/v1/images/{image_id}/thumbnail", {"image/jpeg"}),
    ("/v1/faces/{face_id}/chip", {"image/png"}),
    ("/v1/admin/datasets/{job_id}/download", {"application/zip"}),
    ("/v1/people/{person_id}/export", {"application/zip"}),
])  # fmt: skip
def test_downloads_document_what_they_send(api: Api, path: str, media_types: set[str]) -> None:
    # They were documented as JSON.
    ok = api.client.get("/openapi.json").json()["paths"][path]["get"]["responses"]["200"]
    assert set(ok["content"]) == media_types
