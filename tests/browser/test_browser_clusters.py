"""Who is this? on the People page: name a cluster of unnamed faces with one face pulled out, undo it, and
answer "Is this X?" with one click. Real celeb5 photos through a real ``facetag serve``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Pages, faces, photo_id
from playwright.sync_api import expect
from service_fixtures import Service, run_embedded

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def embedded_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """This module's own service: no training by itself, so no model names the faces under the test's feet."""
    yield from run_embedded(tmp_path_factory.mktemp("clusters"), stalled_after=60, auto_train="false")


def largest_faces(service: Service, photos: list[Path]) -> list[str]:
    found = []
    for path in photos:
        image_faces = faces(service, photo_id(service, path))
        found.append(max(image_faces, key=lambda f: f["box"]["width"] * f["box"]["height"])["id"])
    return found


def cluster_with(service: Service, face_id: str) -> dict[str, Any]:
    for cluster in service.client.get("/v1/clusters", params={"limit": 100}).json()["items"]:
        members = service.client.get(cluster["faces_url"], params={"limit": 500}).json()["items"]
        if face_id in {f["face_id"] for f in members}:
            return dict(cluster)
    raise AssertionError(f"face {face_id} is in no cluster")


def person_of(service: Service, face_id: str) -> str | None:
    person = service.client.get(f"/v1/faces/{face_id}").json()["person"]
    return None if person is None else str(person["name"])


def test_name_a_cluster_with_a_face_pulled_out_undo_it_and_say_yes_to_is_this_x(pages: Pages, facedata: Path) -> None:
    service = pages.service
    val, train = facedata / "celeb5" / "val", facedata / "celeb5" / "train"
    ben = largest_faces(service, sorted((val / "ben_afflek").glob("*.jpg")))
    madonna = largest_faces(service, sorted((val / "madonna").glob("*.jpg")))
    ben_cluster = cluster_with(service, ben[0])

    page = pages.open("/people.html")
    expect(page.locator("#clusters-title")).to_have_text("Who is this?")
    rows = page.locator("#clusters .cluster")
    expect(rows).to_have_count(2)
    expect(page.locator("#clusters")).not_to_contain_text("null")
    row = page.locator(f'#clusters .cluster[data-cluster-id="{ben_cluster["id"]}"]')
    expect(row.locator(".cluster-count")).to_have_text(f"{len(ben)} faces")
    pulled = ben[-1]
    row.locator(f'.cluster-face[data-face-id="{pulled}"]').click()
    expect(row.locator(f'.cluster-face[data-face-id="{pulled}"]')).to_have_attribute("aria-pressed", "true")
    expect(row.locator(".cluster-count")).to_have_text(f"{len(ben)} faces, 1 pulled out")
    pages.shot(page, "people-clusters")
    row.get_by_role("combobox", name="Who is this?").fill("Ben Affleck")
    row.get_by_role("combobox", name="Who is this?").press("Enter")

    named = len(ben) - 1
    expect(page.locator(".cluster-named")).to_contain_text(f"Named {named} faces Ben Affleck")
    expect(page.locator(".person", has_text="Ben Affleck").locator(".stats")).to_have_text(
        f"{named} photos · {named} faces")
    expect(rows).to_have_count(1)  # one face of his is left: no group any more
    pages.shot(page, "people-clusters-named")
    assert [person_of(service, f) for f in ben] == ["Ben Affleck"] * named + [None]

    page.locator(".cluster-undo").click()
    expect(page.locator(".person", has_text="Ben Affleck")).to_have_count(0)
    expect(rows).to_have_count(2)
    expect(row.locator(".cluster-count")).to_have_text(f"{len(ben)} faces")  # the same group, the same id
    assert [person_of(service, f) for f in ben] == [None] * len(ben)

    # Name Madonna's group, then more photos of her arrive: the new group asks "Is this Madonna?".
    madonna_row = page.locator(f'#clusters .cluster[data-cluster-id="{cluster_with(service, madonna[0])["id"]}"]')
    madonna_row.get_by_role("combobox", name="Who is this?").fill("Madonna")
    madonna_row.get_by_role("button", name="Name").click()
    expect(page.locator(".person", has_text="Madonna")).to_have_count(1)
    more = largest_faces(service, sorted((train / "madonna").glob("*.jpg"))[:4])
    page.reload()
    yes = page.get_by_role("button", name="Is this Madonna? Yes")
    expect(yes).to_have_count(1)
    assert cluster_with(service, more[0])["suggestion"]["name"] == "Madonna"
    yes.click()
    expect(page.locator(".cluster-named").first).to_contain_text("Madonna")
    expect(page.locator(".person", has_text="Madonna").locator(".stats")).to_contain_text(
        f"{len(madonna) + len(more)} faces")
    assert all(person_of(service, f) == "Madonna" for f in madonna + more)


def test_viewers_are_not_asked(pages: Pages) -> None:
    page = pages.open("/people.html", role="viewer")
    expect(page.locator("h1")).to_have_text("People")
    expect(page.locator("#clusters")).to_have_count(0)
