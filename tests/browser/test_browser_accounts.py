"""Accounts and access as a user meets them: the sign-in page, the Users page, API tokens on the Account
page, signing out everywhere, what a viewer sees and is refused, and the audit log."""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from browser_helpers import Pages, person_id
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PASSWORD = "a password for the browser test"


def _sign_in(page: Any, username: str, password: str) -> None:
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()


def _login_url(pages: Pages, next_path: str) -> str:
    return f"{pages.service.url}/login.html?next={quote(next_path, safe='')}"


def _session(pages: Pages, username: str, password: str) -> httpx.Client:
    """An HTTP client signed in as ``username``, sending the CSRF token as the web pages do."""
    client = httpx.Client(base_url=pages.service.url, timeout=30)
    response = client.post("/v1/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return client


def test_signed_out_visit_ends_on_the_sign_in_page(pages: Pages) -> None:
    page = pages.open("/people.html", role=None)
    expect(page).to_have_url(_login_url(pages, "/people.html"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#first-admin")).to_contain_text("initial-admin-password")
    expect(page.locator("header.topbar")).to_have_count(0)


def test_sign_in_shows_the_servers_message_then_goes_where_it_was_asked(pages: Pages) -> None:
    username, password = pages.service.account("editor")
    page = pages.open("/people.html?from=sign-in-test", role=None)
    expect(page).to_have_url(_login_url(pages, "/people.html?from=sign-in-test"))

    _sign_in(page, username, "not the password at all")
    error = page.locator("#login-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Wrong username or password.")
    expect(page.locator("#password")).to_have_value("")
    pages.shot(page, "login-wrong-password")

    _sign_in(page, username, password)
    expect(page).to_have_url(f"{pages.service.url}/people.html?from=sign-in-test")
    user = page.locator("#user-button")
    expect(user).to_contain_text(username)
    expect(user).to_contain_text("editor")

    # A "next" that leads off the site leads to the photos instead.
    other = pages.open("/login.html?next=//example.org/steal", role=None)
    _sign_in(other, username, password)
    expect(other).to_have_url(f"{pages.service.url}/")
    expect(other.locator("#user-button")).to_contain_text(username)


def test_users_page_adds_an_editor_who_can_then_sign_in(pages: Pages) -> None:
    page = pages.open("/users.html")
    expect(page.get_by_role("heading", name="Users")).to_be_visible()
    admin_name, _ = pages.service.account("admin")
    expect(page.locator(f'#users tr[data-username="{admin_name}"]')).to_contain_text("you")

    name = f"edna-{secrets.token_hex(3)}"
    page.locator("#new-username").fill(name)
    page.locator("#new-role").select_option("editor")
    page.locator("#new-password").fill(PASSWORD)
    page.get_by_role("button", name="Add user").click()
    row = page.locator(f'#users tr[data-username="{name}"]')
    expect(row).to_be_visible()
    expect(row.get_by_label(f"Role of {name}")).to_have_value("editor")
    expect(page.locator("#new-username")).to_have_value("")
    pages.shot(page, "users-desktop")

    signed_out = pages.open("/", role=None)
    expect(signed_out).to_have_url(_login_url(pages, "/"))
    _sign_in(signed_out, name, PASSWORD)
    expect(signed_out).to_have_url(f"{pages.service.url}/")
    expect(signed_out.locator("#user-button")).to_contain_text(name)
    nav = signed_out.locator("header nav")
    expect(nav.get_by_role("link", name="Upload")).to_be_visible()
    expect(nav.get_by_role("link", name="Model")).to_have_count(0)
    expect(nav.get_by_role("link", name="Users")).to_have_count(0)


def test_a_token_is_shown_once_works_as_bearer_and_stops_when_revoked(pages: Pages) -> None:
    username, _ = pages.service.account("editor")
    page = pages.open("/account.html", role="editor")
    expect(page.locator("#whoami")).to_contain_text(username)
    # An editor may hand a token read, edit and upload, never admin.
    scopes = page.locator("#token-form input[name=scope]")
    expect(scopes).to_have_count(3)
    expect(page.locator("#scope-admin")).to_have_count(0)

    name = f"importer {secrets.token_hex(2)}"
    page.locator("#token-name").fill(name)
    page.locator("#scope-images-write").check()
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("#token-secret")
    expect(shown).to_contain_text("You will not see this token again")
    secret = page.locator("#new-token").input_value()
    assert len(secret) >= 20
    expect(page.locator("#tokens tbody tr", has_text=name)).to_contain_text("Upload")
    pages.shot(page, "account-token-desktop")

    me = httpx.get(f"{pages.service.url}/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert me.status_code == 200, me.text
    assert (me.json()["username"], me.json()["via"]) == (username, "token")
    assert set(me.json()["scopes"]) >= {"read", "images:write"}

    # Shown once: not after a reload, where only its name is listed.
    page.reload()
    row = page.locator("#tokens tbody tr", has_text=name)
    expect(row).to_be_visible()
    expect(page.locator("#new-token")).to_have_count(0)
    assert secret not in page.content()

    row.get_by_role("button", name=f"Revoke {name}").click()
    page.locator("dialog[open]").get_by_role("button", name="Revoke token").click()
    expect(page.locator("#tokens tbody tr", has_text=name)).to_have_count(0)
    refused = httpx.get(f"{pages.service.url}/v1/auth/me", headers={"Authorization": f"Bearer {secret}"}, timeout=30)
    assert refused.status_code == 401, refused.text


def test_the_account_page_lists_every_token_past_the_first_page(pages: Pages) -> None:
    username = f"keeper-{secrets.token_hex(3)}"  # a user of its own: the other tests' tokens stay out of the count
    made = pages.service.client.post("/v1/admin/users", json={"username": username, "password": PASSWORD,
                                                              "role": "viewer"})
    assert made.status_code == 201, made.text
    count = 205  # more than the page asks for at once (200): it follows next_cursor
    for n in range(count):
        token = pages.service.client.post("/v1/tokens", json={"name": f"bulk {n:03}", "scopes": ["read"],
                                                              "for_user": username})
        assert token.status_code == 201, token.text
    page = pages.open("/account.html", role=None)
    expect(page).to_have_url(_login_url(pages, "/account.html"))
    _sign_in(page, username, PASSWORD)
    expect(page).to_have_url(f"{pages.service.url}/account.html")
    expect(page.locator("#tokens tbody tr")).to_have_count(count)
    for name in ("bulk 204", "bulk 000"):  # the newest, on the first page, and the oldest, alone on the second
        expect(page.locator("#tokens tbody tr", has_text=name)).to_have_count(1)


def test_sign_out_everywhere_signs_another_browser_out(pages: Pages) -> None:
    other = pages.open("/account.html", role="viewer")
    expect(other.locator("#user-button")).to_be_visible()
    page = pages.open("/account.html", role="viewer")
    page.get_by_role("button", name="Sign out everywhere").click()
    dialog = page.locator("dialog[open]")
    expect(dialog).to_contain_text("this one too")
    dialog.get_by_role("button", name="Sign out everywhere").click()
    expect(page).to_have_url(f"{pages.service.url}/login.html")

    # The other browser's next request finds its session gone and goes to the sign-in page.
    other.locator("#token-name").fill("too late")
    other.get_by_role("button", name="Create token").click()
    expect(other).to_have_url(_login_url(pages, "/account.html"))
    other.goto("/people.html")
    expect(other).to_have_url(_login_url(pages, "/people.html"))


def test_a_viewer_sees_no_upload_or_model_and_is_told_why_a_rename_is_refused(pages: Pages) -> None:
    service = pages.service
    who = f"Viewer Test {secrets.token_hex(2)}"
    pid = person_id(service, who)
    username, password = service.account("viewer")

    page = pages.open("/people.html", role="viewer")
    expect(page.locator("#user-button")).to_contain_text("viewer")
    nav = page.locator("header nav")
    expect(nav.get_by_role("link")).to_have_text(["Photos", "People"])
    expect(page.get_by_role("link", name="Upload")).to_have_count(0)
    expect(page.get_by_role("link", name="Model")).to_have_count(0)
    card = page.locator(f'.person[data-person-id="{pid}"]')
    expect(card).to_be_visible()
    expect(card.get_by_label("Never tag automatically")).to_have_count(0)
    expect(card.get_by_role("button", name=f"Erase {who}")).to_have_count(0)

    viewer = _session(pages, username, password)
    try:
        refusal = viewer.patch(f"/v1/people/{pid}", json={"name": f"{who} renamed"})
    finally:
        viewer.close()
    assert refusal.status_code == 403, refusal.text
    card.get_by_role("button", name="Rename").click()
    card.locator("form.rename input").fill(f"{who} renamed")
    card.locator("form.rename input").press("Enter")
    toast = page.locator(".toast.error")
    expect(toast).to_contain_text(refusal.json()["message"])
    pages.shot(page, "people-viewer-refused")
    assert any(p["name"] == who for p in service.client.get("/v1/people").json()["items"])  # not renamed

    # No upload button in the gallery either, and the Model page only says it is for admins.
    page.goto("/")
    expect(page.locator("#user-button")).to_be_visible()
    expect(page.get_by_role("link", name="Upload")).to_have_count(0)
    page.goto("/model.html")
    expect(page.locator("#role-notice")).to_contain_text("Only admins can manage models")
    expect(page.get_by_role("button", name="Train now")).to_have_count(0)


def test_never_tag_and_erase_from_the_people_page(pages: Pages) -> None:
    service = pages.service
    who = f"Erase Me {secrets.token_hex(2)}"
    pid = person_id(service, who)
    page = pages.open("/people.html")
    card = page.locator(f'.person[data-person-id="{pid}"]')
    toggle = card.get_by_label("Never tag automatically")
    expect(toggle).not_to_be_checked()
    toggle.check()
    expect(page.locator(".toast").last).to_contain_text("never be tagged automatically")
    expect(card.get_by_label("Never tag automatically")).to_be_checked()
    assert next(p for p in service.client.get("/v1/people").json()["items"] if p["id"] == pid)["never_tag"] is True

    card.get_by_role("button", name=f"Erase {who}").click()
    dialog = page.locator("dialog[open]")
    erase = dialog.get_by_role("button", name="Erase for good")
    expect(erase).to_be_disabled()
    dialog.get_by_label(f"Type {who} to confirm").fill(who[:-1])
    expect(erase).to_be_disabled()
    dialog.get_by_label(f"Type {who} to confirm").fill(who)
    erase.click()
    report = page.locator("#erase-report")
    expect(report).to_contain_text("Faces removed")
    pages.shot(page, "people-erase-report")
    page.locator("dialog[open]").get_by_role("button", name="Done").click()
    expect(card).to_have_count(0)
    assert all(p["id"] != pid for p in service.client.get("/v1/people").json()["items"])


def test_the_audit_log_lists_what_was_just_done(pages: Pages) -> None:
    admin_name, _ = pages.service.account("admin")
    name = f"Audited {secrets.token_hex(2)}"
    page = pages.open("/people.html")
    page.locator("#new-person").fill(name)
    page.get_by_role("button", name="Add person").click()
    pid = page.locator(".person", has_text=name).get_attribute("data-person-id")
    card = page.locator(f'.person[data-person-id="{pid}"]')
    card.get_by_role("button", name="Rename").click()
    card.locator("form.rename input").fill(f"{name} Renamed")
    card.locator("form.rename input").press("Enter")
    expect(card.locator(".name")).to_have_text(f"{name} Renamed")

    page.goto("/audit.html")
    rows = page.locator("#audit tbody tr")
    expect(rows.first).to_be_visible()
    assert pid
    renamed = page.locator('#audit tbody tr[data-action="person.rename"]', has_text=pid)
    expect(renamed.first).to_contain_text(admin_name)
    expect(renamed.first).to_contain_text(f"{name} Renamed")  # the change, as text
    expect(page.locator('#audit tbody tr[data-action="person.create"]', has_text=pid).first).to_be_visible()
    expect(page.locator('#audit tbody tr[data-action="auth.login"]').first).to_be_visible()
    pages.shot(page, "audit-desktop")

    # Filter: only renames, by this admin.
    page.locator("#audit-action").select_option("person.rename")
    page.locator("#audit-actor").fill(admin_name)
    page.get_by_role("button", name="Show", exact=True).click()
    expect(page).to_have_url(re.compile(r"action=person\.rename"))
    expect(rows.first).to_be_visible()
    actions = rows.evaluate_all("rows => [...new Set(rows.map(r => r.dataset.action))]")
    assert actions == ["person.rename"], actions
    page.get_by_role("button", name="Clear").click()
    expect(page.locator("#audit-action")).to_have_value("")
