"""Signing in over HTTP as a browser and as an attacker: the cookie, CSRF, cross-site requests, foreign
hosts, lockout that says nothing about who exists, sign-out, tokens, and the browser headers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_client import Api
from fastapi.testclient import TestClient

from services.core.access import accounts
from services.core.settings import Settings
from services.gateway.app import create_app

PASSWORD = "a long test password"
ANON = {"Authorization": ""}


def _user(api: Api, role: str, username: str) -> None:
    response = api.client.post("/v1/admin/users", json={"username": username, "password": PASSWORD, "role": role})
    assert response.status_code == 201, response.text


def _login(client: TestClient, username: str, password: str = PASSWORD, **headers: str) -> dict[str, str]:
    """Sign in; the session's cookie and CSRF headers for the requests after it (the client keeps no cookie)."""
    response = client.post("/v1/auth/login", json={"username": username, "password": password},
                           headers={**ANON, **headers})
    assert response.status_code == 200, response.text
    cookie = "; ".join(f"{k}={v}" for k, v in response.cookies.items())
    client.cookies.clear()
    return {**ANON, "Cookie": cookie, "X-CSRF-Token": response.json()["csrf_token"]}


def test_the_session_cookie_is_httponly_lax_and_the_csrf_cookie_readable(api: Api) -> None:
    _user(api, "editor", "ed")
    response = api.client.post("/v1/auth/login", json={"username": "ed", "password": PASSWORD}, headers=ANON)
    cookies = {line.split("=", 1)[0]: line.lower() for line in response.headers.get_list("set-cookie")}
    assert "httponly" in cookies["facetag_session"] and "samesite=lax" in cookies["facetag_session"]
    assert "secure" not in cookies["facetag_session"]  # plain http on localhost: a Secure cookie would be lost
    assert "httponly" not in cookies["facetag_csrf"]  # the pages read it to send X-CSRF-Token
    assert response.cookies["facetag_csrf"] == response.json()["csrf_token"]


def test_https_public_url_makes_the_cookies_secure(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, admin_keys="k" * 20, public_url="https://photos.example.org")
    with TestClient(create_app(settings), base_url="https://photos.example.org") as client:
        created = client.post("/v1/admin/users", json={"username": "a", "password": PASSWORD, "role": "viewer"},
                              headers={"Authorization": "Bearer " + "k" * 20})
        assert created.status_code == 201
        response = client.post("/v1/auth/login", json={"username": "a", "password": PASSWORD})
        assert all("secure" in line.lower() for line in response.headers.get_list("set-cookie"))


def test_a_cookie_request_that_changes_something_needs_the_csrf_token(api: Api) -> None:
    _user(api, "editor", "ed")
    session = _login(api.client, "ed")
    without = {k: v for k, v in session.items() if k != "X-CSRF-Token"}
    refused = api.client.post("/v1/people", json={"name": "Forged"}, headers=without)
    assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["message"]
    wrong = api.client.post("/v1/people", json={"name": "Forged"}, headers={**session, "X-CSRF-Token": "guess"})
    assert wrong.status_code == 403
    assert api.client.get("/v1/people", headers=without).status_code == 200  # reading needs no token
    assert api.client.post("/v1/people", json={"name": "Real"}, headers=session).status_code == 201
    assert [p["name"] for p in api.client.get("/v1/people").json()["items"]] == ["Real"]


def test_a_cross_site_form_cannot_upload_or_change_anything(api: Api) -> None:
    _user(api, "editor", "ed")
    session = _login(api.client, "ed")
    # What a page on another site can make a browser send: the cookie, a form body, its own Origin.
    forged = api.client.post("/v1/images", files={"file": ("x.jpg", b"\xff\xd8\xff", "image/jpeg")},
                             headers={**session, "Origin": "https://evil.example"})
    assert forged.status_code == 403 and "evil.example" in forged.json()["message"]
    fetch_meta = api.client.post("/v1/people", json={"name": "X"}, headers={**session, "Sec-Fetch-Site": "cross-site"})
    assert fetch_meta.status_code == 403
    # Even a bearer token is refused from a foreign page (no CORS allow-list is set).
    keyed = api.client.post("/v1/people", json={"name": "Y"}, headers={"Origin": "https://evil.example"})
    assert keyed.status_code == 403
    assert "access-control-allow-origin" not in keyed.headers
    same = api.client.post("/v1/people", json={"name": "Z"}, headers={**session, "Origin": "http://localhost"})
    assert same.status_code == 201
    assert api.client.get("/v1/images").json()["items"] == []


def test_without_credentials_an_unknown_id_looks_like_a_known_one(api: Api) -> None:
    known = api.add_image(1)
    for path in (f"/v1/images/{known.id}", "/v1/images/no-such-id", f"/v1/images/{known.id}/original",
                 "/v1/faces/no-such-face/chip", "/v1/people/nobody"):
        response = api.client.get(path, headers=ANON)
        assert (response.status_code, response.json()["error"]) == (401, "unauthorized"), path


def test_a_foreign_host_is_refused(api: Api) -> None:
    """DNS rebinding: a page on attacker.example whose name now points at 127.0.0.1 sends Host: attacker.example."""
    response = api.client.get("/v1/people", headers={"Host": "attacker.example"})
    assert response.status_code == 400
    assert api.client.get("/healthz", headers={"Host": "127.0.0.1:8000"}).status_code == 200


def test_probes_and_scrapes_by_pod_address_are_answered(api: Api) -> None:
    """Kubernetes probes and Prometheus address a pod by its IP: no list of host names can hold it."""
    pod = {"Host": "10.42.0.17:8000"}
    assert api.client.get("/readyz", headers={**ANON, **pod}).status_code == 200
    assert api.client.get("/healthz", headers={**ANON, **pod}).status_code == 200
    assert api.client.get("/metrics", headers={**ANON, **pod}).status_code == 401  # still needs the token
    assert api.client.get("/metrics", headers=pod).status_code == 200
    assert api.client.get("/v1/people", headers=pod).status_code == 400  # the rest is still checked


@pytest.fixture
def quick_lockout(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setattr(accounts, "SLOWDOWN_STEP", 0.0)
    yield


def test_failed_sign_ins_lock_the_account_and_say_nothing_about_who_exists(api: Api, quick_lockout: None) -> None:
    _user(api, "viewer", "vera")
    limit = api.client.app.state.settings.login_max_failures  # type: ignore[attr-defined]
    for username in ("vera", "nobody-by-this-name"):
        answers = [api.client.post("/v1/auth/login", json={"username": username, "password": "wrong password!"},
                                   headers=ANON) for _ in range(limit)]
        assert {a.status_code for a in answers} == {401}
        assert {a.json()["message"] for a in answers} == {"Wrong username or password."}
        locked = api.client.post("/v1/auth/login", json={"username": username, "password": PASSWORD}, headers=ANON)
        assert locked.status_code == 429 and "Try again in 15 minutes" in locked.json()["message"]
        assert int(locked.headers["Retry-After"]) > 800
    audit = api.client.get("/v1/admin/audit", params={"action": "auth.login_failed"}).json()
    assert len(audit["items"]) == 2 * (limit + 1) and "wrong password!" not in str(audit)  # the locked tries too


def test_sign_out_ends_the_session_on_the_server(api: Api) -> None:
    _user(api, "viewer", "vera")
    session = _login(api.client, "vera")
    other = _login(api.client, "vera")
    assert api.client.post("/v1/auth/logout", headers=session).status_code == 204
    replayed = api.client.get("/v1/people", headers=session)  # the old cookie, kept by an attacker
    assert replayed.status_code == 401
    assert api.client.get("/v1/people", headers=other).status_code == 200
    assert api.client.post("/v1/auth/logout-all", headers=other).status_code == 204
    assert api.client.get("/v1/people", headers=other).status_code == 401


def test_a_web_page_without_a_session_goes_to_sign_in_and_pages_carry_the_headers(api: Api) -> None:
    response = api.client.get("/people.html?x=1", headers=ANON, follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/login.html?next=%2Fpeople.html%3Fx%3D1"
    login = api.client.get("/login.html", headers=ANON)
    assert login.status_code == 200
    csp = login.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert login.headers["x-content-type-options"] == "nosniff" and login.headers["referrer-policy"]
    assert api.client.get("/v1/people", headers=ANON).headers["x-frame-options"] == "DENY"


def test_the_api_docs_load_nothing_from_elsewhere(api: Api) -> None:
    page = api.client.get("/docs")
    assert page.status_code == 200 and "swagger-ui-bundle.js" in page.text
    assert "http" not in page.text.replace("http-equiv", "")  # no CDN, no absolute URL at all
    assert api.client.get("/docs-assets/swagger-ui-bundle.js").status_code == 200
    assert api.client.get("/docs", headers=ANON, follow_redirects=False).status_code in (303, 401)
    assert api.client.get("/openapi.json", headers=ANON).status_code == 401


def test_a_token_is_shown_once_limited_by_its_scope_and_its_owners_role_and_revocable(api: Api) -> None:
    _user(api, "editor", "ed")
    session = _login(api.client, "ed")
    too_much = api.client.post("/v1/tokens", json={"name": "x", "scopes": ["admin"]}, headers=session)
    assert too_much.status_code == 403 and "allowed" in too_much.json()["message"]
    made = api.client.post("/v1/tokens", json={"name": "uploader", "scopes": ["images:write", "edit"]},
                           headers=session)
    assert made.status_code == 201
    secret = made.json()["token"]
    listed = api.client.get("/v1/tokens", headers=session).json()["items"]
    assert [t["name"] for t in listed] == ["uploader"] and "token" not in listed[0]
    bearer = {"Authorization": f"Bearer {secret}"}
    assert api.client.post("/v1/people", json={"name": "By Token"}, headers=bearer).status_code == 201
    assert api.client.get("/v1/admin/users", headers=bearer).status_code == 403
    # The owner is made a viewer: the token loses what the role lost at once.
    user_id = api.client.get("/v1/auth/me", headers=bearer).json()["id"]
    api.client.patch(f"/v1/admin/users/{user_id}", json={"role": "viewer"})
    assert api.client.post("/v1/people", json={"name": "Again"}, headers=bearer).status_code == 403
    assert api.client.get("/v1/auth/me", headers=bearer).json()["scopes"] == ["read"]  # edit implies read
    assert api.client.delete(f"/v1/tokens/{made.json()['id']}", headers=session).status_code == 204
    revoked = api.client.get("/v1/auth/me", headers=bearer)
    assert revoked.status_code == 401 and "not valid" in revoked.json()["message"]


def test_typed_names_come_back_as_text(api: Api) -> None:
    evil = "<img src=x onerror=alert(1)>"
    person = api.person(evil)
    assert person["name"] == evil
    assert api.client.get(f"/v1/people/{person['id']}").json()["name"] == evil
