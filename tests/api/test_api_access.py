"""Who may call what: every route declares a policy, and each policy holds for every kind of caller.

The matrix signs in as a viewer, an editor and an admin (session cookie with its CSRF token), uses
the operator's admin key, and personal tokens of each scope, and calls every route with real ids:
nobody is let in where the policy says no (401 without credentials, 403 with too little), everybody
is let in where it says yes, and nothing answers 5xx.
"""

from __future__ import annotations

import io
import re
from dataclasses import dataclass

import pytest
from api_client import API_KEY, Api
from PIL import Image

from services.core.access.model import Scope
from services.core.domain import Job, new_id
from services.gateway.app import OTHER_POLICIES
from services.gateway.security.policy import Policy, api_routes, policy_of

EXPECTED: dict[tuple[str, str], Policy] = {
    ("POST", "/v1/images"): Policy.upload,
    ("GET", "/v1/images"): Policy.read,
    ("GET", "/v1/images/{image_id}"): Policy.results,
    ("POST", "/v1/search/sha256"): Policy.results,
    ("DELETE", "/v1/images/{image_id}"): Policy.edit,
    ("POST", "/v1/images/{image_id}/faces"): Policy.edit,
    ("GET", "/v1/images/{image_id}/original"): Policy.read,
    ("GET", "/v1/images/{image_id}/thumbnail"): Policy.read,
    ("GET", "/v1/faces/{face_id}"): Policy.read,
    ("PATCH", "/v1/faces/{face_id}"): Policy.edit,
    ("DELETE", "/v1/faces/{face_id}"): Policy.edit,
    ("GET", "/v1/faces/{face_id}/chip"): Policy.read,
    ("POST", "/v1/faces/{face_id}/not"): Policy.edit,
    ("POST", "/v1/faces/batch"): Policy.edit,
    ("GET", "/v1/actions"): Policy.edit,
    ("POST", "/v1/actions/{action_id}/undo"): Policy.edit,
    ("POST", "/v1/people/{person_id}/split"): Policy.edit,
    ("GET", "/v1/review"): Policy.read,
    ("POST", "/v1/review/{face_id}"): Policy.edit,
    ("GET", "/v1/clusters"): Policy.read,
    ("GET", "/v1/clusters/{cluster_id}/faces"): Policy.read,
    ("POST", "/v1/clusters/{cluster_id}/name"): Policy.edit,
    ("POST", "/v1/search/face"): Policy.read,
    ("POST", "/v1/verify"): Policy.read,
    ("GET", "/v1/people"): Policy.read,
    ("POST", "/v1/people"): Policy.edit,
    ("GET", "/v1/people/duplicates"): Policy.read,  # issue 12, item 5
    ("POST", "/v1/people/duplicates/not-same"): Policy.edit,
    ("GET", "/v1/people/{person_id}"): Policy.read,
    ("PATCH", "/v1/people/{person_id}"): Policy.edit,
    ("DELETE", "/v1/people/{person_id}"): Policy.edit,
    ("POST", "/v1/people/{person_id}/merge"): Policy.edit,
    ("GET", "/v1/people/{person_id}/faces"): Policy.read,
    ("GET", "/v1/people/{person_id}/export"): Policy.admin,
    ("POST", "/v1/people/{person_id}/erase"): Policy.admin,
    ("GET", "/v1/jobs/{job_id}"): Policy.admin,
    ("POST", "/v1/admin/datasets"): Policy.admin,
    ("GET", "/v1/admin/datasets/{job_id}/download"): Policy.admin,
    ("POST", "/v1/admin/train"): Policy.admin,
    ("POST", "/v1/admin/switch-network"): Policy.admin,
    ("POST", "/v1/admin/redetect"): Policy.admin,
    ("GET", "/v1/admin/models"): Policy.admin,
    ("GET", "/v1/admin/models/{version}"): Policy.admin,
    ("GET", "/v1/admin/models/current"): Policy.admin,
    ("PUT", "/v1/admin/models/current"): Policy.admin,
    ("GET", "/v1/admin/workers"): Policy.admin,
    ("GET", "/v1/model/status"): Policy.read,  # issue 12, item 4
    ("GET", "/v1/admin/models/{version}/preview"): Policy.admin,  # issue 12, item 9
    ("POST", "/v1/admin/models/{version}/preview"): Policy.admin,
    ("POST", "/v1/admin/models/{version}/publish"): Policy.admin,
    ("POST", "/v1/admin/models/{version}/discard"): Policy.admin,
    ("GET", "/v1/admin/users"): Policy.admin,
    ("POST", "/v1/admin/users"): Policy.admin,
    ("PATCH", "/v1/admin/users/{user_id}"): Policy.admin,
    ("DELETE", "/v1/admin/users/{user_id}"): Policy.admin,
    ("GET", "/v1/admin/audit"): Policy.admin,
    ("GET", "/v1/events"): Policy.read,  # issue 13, item 5
    ("GET", "/v1/admin/webhooks"): Policy.admin,  # issue 13, item 5
    ("POST", "/v1/admin/webhooks"): Policy.admin,
    ("PATCH", "/v1/admin/webhooks/{hook_id}"): Policy.admin,
    ("DELETE", "/v1/admin/webhooks/{hook_id}"): Policy.admin,
    ("GET", "/v1/admin/webhooks/{hook_id}/deliveries"): Policy.admin,
    ("GET", "/v1/tokens"): Policy.signed_in,
    ("POST", "/v1/tokens"): Policy.signed_in,
    ("DELETE", "/v1/tokens/{token_id}"): Policy.signed_in,
    ("POST", "/v1/auth/login"): Policy.public,
    ("POST", "/v1/auth/logout"): Policy.signed_in,
    ("POST", "/v1/auth/logout-all"): Policy.signed_in,
    ("GET", "/v1/auth/me"): Policy.signed_in,
    ("POST", "/v1/auth/password"): Policy.signed_in,
    ("GET", "/healthz"): Policy.public,
    ("GET", "/readyz"): Policy.public,
    ("GET", "/metrics"): Policy.metrics,  # issue 13, item 1: or FACETAG_METRICS_TOKEN (test_metrics_e2e.py)
    ("GET", "/docs"): Policy.signed_in,
}
# An admin key belongs to no user: it cannot change "its" password, end "its" sessions or own a token.
NO_USER = {("POST", "/v1/auth/password"), ("POST", "/v1/auth/logout-all"), ("POST", "/v1/tokens")}
PASSWORD = "a long test password"


def declared() -> dict[tuple[str, str], Policy | None]:
    from services.core.settings import Settings
    from services.gateway.app import create_app

    app = create_app(Settings(data_dir="/nonexistent-never-opened"))
    return {(method, route.path): policy_of(route) for route in api_routes(app)
            for method in sorted(route.methods - {"HEAD"})}


def test_every_route_declares_the_expected_policy() -> None:
    found = declared()
    undeclared = sorted(key for key, policy in found.items() if policy is None)
    assert not undeclared, f"routes without a policy: {undeclared}"
    assert found == EXPECTED, "a route was added, removed or changed policy: update EXPECTED deliberately"
    # What is not a FastAPI route (the OpenAPI document, the docs' assets, the web pages) has one too.
    assert {"/openapi.json": Policy.signed_in, "/docs-assets": Policy.signed_in,
                              "/": Policy.signed_in} == OTHER_POLICIES


@dataclass
class Caller:
    name: str
    headers: dict[str, str]
    scopes: frozenset[Scope]
    has_user: bool = True


def _sign_in(api: Api, role: str) -> Caller:
    username = f"{role}-{new_id()[:6]}"
    created = api.client.post("/v1/admin/users", json={"username": username, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    login = api.client.post("/v1/auth/login", json={"username": username, "password": PASSWORD},
                            headers={"Authorization": ""})
    assert login.status_code == 200, login.text
    cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
    api.client.cookies.clear()  # each request says who it is; the client keeps no one signed in
    scopes = {"viewer": {Scope.read}, "editor": {Scope.read, Scope.edit, Scope.images_write}}.get(role, set(Scope))
    return Caller(f"{role} (session)", {"Authorization": "", "Cookie": cookie,
                                        "X-CSRF-Token": login.json()["csrf_token"]}, frozenset(scopes))


def _token(api: Api, role: str, scope: Scope) -> Caller:
    username = f"{role}-{new_id()[:6]}"
    created = api.client.post("/v1/admin/users", json={"username": username, "password": PASSWORD, "role": role})
    assert created.status_code == 201, created.text
    made = api.client.post("/v1/tokens", json={"name": "matrix", "scopes": [scope], "for_user": username})
    assert made.status_code == 201, made.text
    implied = {Scope.admin: set(Scope), Scope.edit: {Scope.edit, Scope.read}}.get(scope, {scope})
    return Caller(f"{scope} token", {"Authorization": f"Bearer {made.json()['token']}"}, frozenset(implied))


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 90, 60)).save(buffer, "JPEG")
    return buffer.getvalue()


class Fixtures:
    """Fresh records for each call, so one route's delete never spoils the next route's test."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.n = 1000

    def fill(self, path: str) -> str:
        """``path`` with each placeholder replaced by the id of a record made for this call."""
        self.n += 1
        return re.sub(r"\{(\w+)\}", lambda m: self._make(m.group(1)), path)

    def _make(self, kind: str) -> str:
        api = self.api
        if kind == "image_id":
            return api.add_image(self.n).id
        if kind == "face_id":
            return api.add_face(api.add_image(self.n).id, 10).id
        if kind == "person_id":
            return api.run(api.catalog.create_person, f"Person {self.n}").id
        if kind == "job_id":
            return api.run(api.catalog.create_job, Job(id=new_id(), kind="dataset", params={})).id
        if kind == "version":
            return "v1"
        if kind == "hook_id":
            made = api.client.post("/v1/admin/webhooks", json=_body("POST", "/v1/admin/webhooks")["json"])
            return str(made.json()["id"])
        user = api.client.post("/v1/admin/users", json={"username": f"u{self.n}", "password": PASSWORD,
                                                        "role": "viewer"}).json()
        if kind == "user_id":
            return str(user["id"])
        token = api.client.post("/v1/tokens", json={"name": "t", "scopes": ["read"], "for_user": f"u{self.n}"})
        return str(token.json()["id"])


def _body(method: str, path: str) -> dict[str, object]:
    if (method, path) == ("POST", "/v1/images"):
        return {"files": {"file": ("matrix.jpg", _jpeg(), "image/jpeg")}}
    if (method, path) == ("GET", "/v1/events"):
        # The stream never ends: an unknown kind is answered 422 once the caller is let in, 401/403 before.
        return {"params": {"kinds": "not.a.kind"}}
    bodies: dict[tuple[str, str], object] = {
        ("POST", "/v1/images/{image_id}/faces"): {"box": {"left": 1, "top": 1, "width": 20, "height": 20}},
        ("POST", "/v1/search/sha256"): {"sha256": ["0" * 64]},
        ("PATCH", "/v1/faces/{face_id}"): {"name": "Matrix Person"},
        ("POST", "/v1/people"): {"name": f"New {new_id()[:8]}"},
        ("PATCH", "/v1/people/{person_id}"): {"never_tag": True},
        ("POST", "/v1/admin/users"): {"username": f"n{new_id()[:8]}", "password": PASSWORD, "role": "viewer"},
        ("PATCH", "/v1/admin/users/{user_id}"): {"role": "editor"},
        ("POST", "/v1/tokens"): {"name": "x", "scopes": ["read"]},
        ("POST", "/v1/auth/password"): {"current_password": PASSWORD, "new_password": PASSWORD},
        ("POST", "/v1/auth/login"): {"username": "nobody", "password": "wrong password"},
        ("PUT", "/v1/admin/models/current"): {"version": "v1"},
        ("POST", "/v1/admin/webhooks"): {"url": "https://hooks.example.org/facetag", "kinds": ["photo.done"]},
        ("PATCH", "/v1/admin/webhooks/{hook_id}"): {"paused": True},
    }
    body = bodies.get((method, path))
    return {} if body is None else {"json": body}


CALLERS = ["anonymous", "viewer", "editor", "admin", "admin-key", "token:images:write", "token:read", "token:edit",
           "token:admin"]


@pytest.mark.parametrize("who", CALLERS)
def test_every_route_lets_in_exactly_whom_its_policy_names(api: Api, who: str) -> None:
    if who == "anonymous":
        caller = Caller("anonymous", {"Authorization": ""}, frozenset(), has_user=False)
    elif who == "admin-key":
        caller = Caller("admin key", {"Authorization": f"Bearer {API_KEY}"}, frozenset(Scope), has_user=False)
    elif who.startswith("token:"):
        scope = Scope(who.removeprefix("token:"))
        caller = _token(api, "admin" if scope is Scope.admin else "editor", scope)
    else:
        caller = _sign_in(api, who)
    fixtures = Fixtures(api)
    wrong: list[str] = []
    # Signing out ends the caller's session: "sign out everywhere" goes last, and plain sign-out is tested
    # on its own (test_api_sign_in.py).
    last = ("POST", "/v1/auth/logout-all")
    for (method, path), policy in sorted(EXPECTED.items(), key=lambda item: (item[0] == last, item[0])):
        if (method, path) == ("POST", "/v1/auth/logout"):
            continue
        response = api.client.request(method, fixtures.fill(path), headers=caller.headers, **_body(method, path))
        status = response.status_code
        if policy is Policy.public:
            allowed = True
        elif caller.name == "anonymous":
            allowed = False
        else:
            allowed = policy.scopes == frozenset() or bool(policy.scopes & caller.scopes)  # type: ignore[operator]
        if not caller.has_user and (method, path) in NO_USER and caller.name != "anonymous":
            allowed = False
        expected = "let in" if allowed else ("401" if caller.name == "anonymous" else "403")
        got = "let in" if status not in (401, 403) else str(status)
        if status >= 500 or (got != expected and not (policy is Policy.public and status == 401)):
            wrong.append(f"{method} {path}: expected {expected}, got {status} {response.text[:120]}")
        if status in (401, 403):
            assert response.json()["message"], f"{method} {path}: a refusal must say what is needed"
    assert not wrong, f"as {caller.name}:\n" + "\n".join(wrong)
