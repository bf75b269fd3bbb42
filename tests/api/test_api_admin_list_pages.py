"""The admin lists page by cursor like every other list (issue 14): accounts, tokens, webhooks and model versions.

Each is walked two at a time to its end: every item comes exactly once, in the order the list documents, and a
cursor that was altered, or that another list handed out, is a 422 that says so.
"""

from __future__ import annotations

import base64
import json
from datetime import datetime, timedelta
from typing import Any

import pytest
from api_client import Api

from services.core import registry as reg
from services.core.access.store import username_key
from services.core.domain import utcnow

PAGE = 2
PASSWORD = "a long test password"


def _walk(api: Api, path: str, **params: object) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every item of a list, page by page, and each page's whole answer."""
    items: list[dict[str, Any]] = []
    answers: list[dict[str, Any]] = []
    cursor = None
    while True:
        response = api.client.get(path, params={**params, "limit": PAGE, "cursor": cursor})
        assert response.status_code == 200, response.text
        answer = response.json()
        assert len(answer["items"]) <= PAGE
        items += answer["items"]
        answers.append(answer)
        cursor = answer["next_cursor"]
        if cursor is None:
            return items, answers


def _ms(text: str) -> datetime:
    """A time as the stores order by it: to the millisecond."""
    moment = datetime.fromisoformat(text)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _first_cursor(api: Api, path: str, **params: object) -> str:
    cursor = api.client.get(path, params={**params, "limit": 1}).json()["next_cursor"]
    assert isinstance(cursor, str)
    return cursor


def _reencoded(key: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode().rstrip("=")


def _altered(cursor: str) -> list[str]:
    """The cursor changed three ways: another kind of key, a field no key has, cut short."""
    key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    return [_reencoded({**key, "kind": "face" if key["kind"] == "image" else "image"}),
            _reencoded({**key, "extra": 1}), cursor[:-2]]


def _refused(api: Api, path: str, cursor: str, **params: object) -> None:
    response = api.client.get(path, params={**params, "cursor": cursor})
    assert response.status_code == 422, response.text
    assert "not a cursor from this list" in response.json()["message"]


def _users(api: Api, names: list[str]) -> None:
    for name in names:
        made = api.client.post("/v1/admin/users", json={"username": name, "password": PASSWORD, "role": "viewer"})
        assert made.status_code == 201, made.text


def _tokens(api: Api, owners: list[str]) -> list[str]:
    made = [api.client.post("/v1/tokens", json={"name": f"t{n}", "scopes": ["read"], "for_user": owner})
            for n, owner in enumerate(owners)]
    assert all(response.status_code == 201 for response in made), [response.text for response in made]
    return [str(response.json()["id"]) for response in made]


def _hooks(api: Api, count: int) -> list[str]:
    made = [api.client.post("/v1/admin/webhooks", json={"url": f"https://hooks.example.org/h{n}",
                                                         "kinds": ["photo.done"]}) for n in range(count)]
    assert all(response.status_code == 201 for response in made), [response.text for response in made]
    return [str(response.json()["id"]) for response in made]


def _versions(api: Api, count: int, current: str) -> None:
    """Model versions straight into the registry (a listing reads manifests only, never the model files)."""
    registry = reg.Registry(api.blobs)
    start = utcnow()
    for n in range(1, count + 1):
        data = f"model {n}".encode()
        registry.write_version(reg.ModelManifest(
            version=f"v{n}", created_at=start + timedelta(seconds=n), labels=[], threshold=0.5,
            backbone_sha256="0" * 64, sha256=reg.sha256_bytes(data), size_bytes=len(data)), data)
    registry.set_current(current, "for the test")


def test_accounts_walk_by_username_each_once(api: Api) -> None:
    _users(api, ["bob", "Alice", "carol", "Bea", "alan"])
    users, _ = _walk(api, "/v1/admin/users")
    names = [user["username"] for user in users]
    assert len(names) == len(set(names)) == 5
    assert names == sorted(names, key=username_key) == ["alan", "Alice", "Bea", "bob", "carol"]
    for cursor in _altered(_first_cursor(api, "/v1/admin/users")):
        _refused(api, "/v1/admin/users", cursor)


def test_tokens_walk_newest_first_each_once(api: Api) -> None:
    _users(api, ["ann", "ben"])
    made = _tokens(api, ["ann", "ben", "ann", "ben", "ann"])
    tokens, _ = _walk(api, "/v1/tokens", all="true")
    assert sorted(token["id"] for token in tokens) == sorted(made)  # each exactly once
    order = [(_ms(token["created_at"]), token["id"]) for token in tokens]
    assert order == sorted(order, reverse=True)  # newest first, ties by id
    assert {token["username"] for token in tokens} == {"ann", "ben"}  # each page names its tokens' owners
    for cursor in _altered(_first_cursor(api, "/v1/tokens", all="true")):
        _refused(api, "/v1/tokens", cursor, all="true")


def test_webhooks_walk_oldest_first_each_once(api: Api) -> None:
    made = _hooks(api, 5)
    hooks, _ = _walk(api, "/v1/admin/webhooks")
    assert sorted(hook["id"] for hook in hooks) == sorted(made)  # each exactly once
    order = [(_ms(hook["created_at"]), hook["id"]) for hook in hooks]
    assert order == sorted(order)  # oldest first, ties by id
    assert all("secret" not in hook for hook in hooks)
    for cursor in _altered(_first_cursor(api, "/v1/admin/webhooks")):
        _refused(api, "/v1/admin/webhooks", cursor)


def test_model_versions_walk_newest_first_each_once_with_the_registry_on_every_page(api: Api) -> None:
    _versions(api, 5, current="v2")
    models, answers = _walk(api, "/v1/admin/models")
    assert [model["version"] for model in models] == ["v5", "v4", "v3", "v2", "v1"]
    assert [model["version"] for model in models if model["current"]] == ["v2"]
    for answer in answers:  # the registry's own fields come with every page
        assert answer["current"]["version"] == "v2"
        assert answer["library_network"] == "dlib-resnet_v1" and isinstance(answer["switch_needed"], bool)
    for cursor in _altered(_first_cursor(api, "/v1/admin/models")):
        _refused(api, "/v1/admin/models", cursor)


def test_a_cursor_from_another_admin_list_is_refused(api: Api) -> None:
    _users(api, ["ann", "ben"])
    _tokens(api, ["ann", "ben"])
    _hooks(api, 2)
    _versions(api, 2, current="v1")
    lists: dict[str, dict[str, str]] = {"/v1/admin/users": {}, "/v1/tokens": {"all": "true"},
                                        "/v1/admin/webhooks": {}, "/v1/admin/models": {}}
    cursors = {path: _first_cursor(api, path, **params) for path, params in lists.items()}
    for path, params in lists.items():
        for other, cursor in cursors.items():
            if other != path:
                _refused(api, path, cursor, **params)


@pytest.mark.parametrize("limit", [0, 201])
@pytest.mark.parametrize("path", ["/v1/admin/users", "/v1/tokens", "/v1/admin/webhooks", "/v1/admin/models"])
def test_a_page_holds_1_to_200(api: Api, path: str, limit: int) -> None:
    assert api.client.get(path, params={"limit": limit}).status_code == 422
