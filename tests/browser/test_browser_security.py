"""The sign-in loop and hostile names in a real Chromium: a person signs in through the form, names a face,
signs out and is refused afterwards; a name that is an XSS payload is shown as text on every page and
runs nothing (an alert would be an "unexpected dialog" error, failing the test)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from browser_helpers import Pages, faces, photo_id
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
XSS = "<img src=x onerror=alert(1)>"


def test_sign_in_name_a_face_sign_out_and_be_refused(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "madonna.jpg")
    face = faces(service, image_id)[0]
    username, password = service.account("editor")

    page = pages.open(f"/photo.html?id={image_id}", role=None)
    expect(page).to_have_url(f"{service.url}/login.html?next=%2Fphoto.html%3Fid%3D{image_id}")
    page.locator("#username").fill(username)
    page.locator("#password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{service.url}/photo.html?id={image_id}")

    page.locator(f'.box[data-face-id="{face["id"]}"]').click()
    editor = page.locator(".editor")
    editor.locator("input[name=name]").fill("Madonna Louise")
    editor.get_by_role("button", name="Save").click()
    expect(page.locator(".face .tag.confirmed")).to_have_text("Madonna Louise")
    named = service.client.get(f"/v1/faces/{face['id']}").json()
    assert (named["person"]["name"], named["label_source"]) == ("Madonna Louise", "person")
    entry = service.client.get("/v1/admin/audit", params={"action": "face.name", "target_id": face["id"]}).json()
    assert entry["items"][0]["actor"] == username

    cookie = {c["name"]: c["value"] for c in page.context.cookies()}["facetag_session"]
    page.locator("#user-button").click()
    page.locator("#sign-out").click()
    expect(page).to_have_url(f"{service.url}/login.html")
    page.goto(f"/photo.html?id={image_id}")
    expect(page).to_have_url(f"{service.url}/login.html?next=%2Fphoto.html%3Fid%3D{image_id}")
    assert page.evaluate("fetch('/v1/people').then(r => r.status)") == 401
    with httpx.Client(base_url=service.url) as replay:  # the cookie, kept by someone who copied it
        assert replay.get("/v1/people", cookies={"facetag_session": cookie}).status_code == 401


def test_a_name_that_is_markup_runs_nothing_anywhere(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "elton_john.jpg")
    face = faces(service, image_id)[0]
    assert service.client.patch(f"/v1/faces/{face['id']}", json={"name": XSS}).status_code == 200
    for path in (f"/photo.html?id={image_id}", "/people.html", "/?person=" + quote(XSS), "/audit.html"):
        page = pages.open(path)
        expect(page.get_by_text(XSS).first).to_be_visible()
        assert page.locator("img[src=x]").count() == 0
        response = page.request.get(path)
        assert "script-src 'self'" in response.headers["content-security-policy"]


def test_the_api_docs_work_under_the_content_security_policy(pages: Pages) -> None:
    page = pages.open("/docs")
    refused: list[str] = []
    page.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    page.reload()
    expect(page.get_by_text("Upload a photo; faces are found in the background")).to_be_visible()
    expect(page.get_by_role("button", name="Authorize")).to_be_visible()
    assert refused == []
