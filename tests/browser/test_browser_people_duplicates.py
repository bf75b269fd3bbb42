"""The People page offers people who may be one person for merging: one click merges, "Not the same" is
remembered; a viewer, who may do neither, is not offered them."""

from __future__ import annotations

from typing import Any

from browser_helpers import Pages
from playwright.sync_api import expect


def _person(pages: Pages, name: str) -> dict[str, Any]:
    response = pages.service.client.post("/v1/people", json={"name": name})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_merge_and_not_the_same_from_the_people_page(pages: Pages) -> None:
    typed, imported = _person(pages, "Ben Affleck"), _person(pages, "Ben Afflek")
    ann, anne = _person(pages, "Ann Lee"), _person(pages, "Anne Lee")
    _person(pages, "Mindy Kaling")
    viewer = pages.open("/people.html", role="viewer")
    expect(viewer.locator("article.person")).to_have_count(5)
    expect(viewer.locator("#duplicates")).to_have_count(0)

    page = pages.open("/people.html", role="editor")
    offers = page.locator("#duplicates .duplicate")
    expect(offers).to_have_count(2)
    ben = page.locator(f'.duplicate[data-merge-id="{imported["id"]}"][data-into-id="{typed["id"]}"], '
                       f'.duplicate[data-merge-id="{typed["id"]}"][data-into-id="{imported["id"]}"]')
    expect(ben.locator(".duplicate-message")).to_contain_text("may be the same person")
    anns = page.locator(f'.duplicate[data-merge-id="{anne["id"]}"], .duplicate[data-merge-id="{ann["id"]}"]')
    pages.shot(page, "people-duplicates")

    anns.get_by_role("button", name="Not the same").click()
    expect(offers).to_have_count(1)
    expect(page.locator(".toast", has_text="will not be suggested again")).to_be_visible()

    ben.get_by_role("button", name="Merge").click()
    expect(page.locator(".toast", has_text="merged into")).to_be_visible()
    expect(page.locator("article.person")).to_have_count(4)  # the list is drawn again without a page load
    expect(page.locator("#duplicates")).to_be_hidden()
    names = {p["name"] for p in pages.service.client.get("/v1/people").json()["items"]}
    assert names & {"Ben Affleck", "Ben Afflek"} and not {"Ben Affleck", "Ben Afflek"} <= names

    page.reload()  # "not the same" was kept by the server, not by the page
    expect(page.locator("article.person")).to_have_count(4)
    expect(page.locator("#duplicates .duplicate")).to_have_count(0)
