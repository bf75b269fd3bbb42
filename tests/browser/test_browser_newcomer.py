"""Small things a newcomer trips on (issue 12, item 10), in headless Chromium on a real service: the gallery
says when others upload, Esc in the face editor gives the focus back to the face, a skip link on every page,
counts that read right, and an upload list that says who was recognised."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from browser_helpers import Pages, catalog_call, faces, name_single_faces, photo_id, train_until_served
from playwright.sync_api import expect
from service_fixtures import Service, run_embedded

from services.core.domain import ImageRecord, ImageStatus, new_id, utcnow

pytestmark = pytest.mark.browser
SLOW = 180_000  # ms: detection on a busy 2-core machine
CHECK_S = 10  # the gallery asks for new photos every 10 s
NEXT_CHECK_MS = (CHECK_S + 5) * 1000  # a check missed by a clock moved too soon comes 10 s later
PEOPLE = {"ben_afflek": "Ben Affleck", "madonna": "Madonna"}
PHOTOS_EACH = 5


@pytest.fixture(scope="module")
def trained_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """A service of its own for the test that trains a model: no names from the other tests in it, and
    quick to notice a new current model."""
    yield from run_embedded(tmp_path_factory.mktemp("embedded-trained"), model_check_interval=1, stalled_after=60)


@pytest.fixture
def trained_pages(browser: Any, trained_service: Service, screenshots: Path) -> Iterator[Pages]:
    opened = Pages(browser, trained_service, screenshots)
    try:
        yield opened
    finally:
        opened.close()
    assert not opened.errors, "errors in the page:\n" + "\n".join(opened.errors)


def _uploaded(service: Service, path: Path, name: str) -> str:
    """Another user's upload, under a name of its own; not waited for."""
    response = service.upload(path, name=name)
    assert response.status_code in (200, 202), response.text
    return str(response.json()["id"])


def _all_finished(service: Service) -> None:
    """Nothing left being read: a gallery showing a photo still being read refreshes its first page by
    itself, and so shows new photos straight away instead of counting them."""
    for image in service.client.get("/v1/images", params={"limit": 200}).json()["items"]:
        service.wait_finished(image["id"])


def _with_fake_clock(page: Any) -> None:
    """Timers the test moves on by itself, so that "every 10 s" takes no 10 s."""
    page.clock.install()
    page.reload()


def _list_requests(page: Any) -> list[str]:
    """Every question the page asks for the list of photos (GET /v1/images), from now on."""
    seen: list[str] = []

    def note(request: Any) -> None:
        if urlsplit(request.url).path == "/v1/images":
            seen.append(request.url)

    page.on("request", note)
    return seen


def _set_hidden(page: Any, hidden: bool) -> None:
    """The tab goes to the background (or comes back), as the page sees it."""
    page.evaluate("""(hidden) => {
        Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
        Object.defineProperty(document, "visibilityState", { configurable: true,
            get: () => (hidden ? "hidden" : "visible") });
        document.dispatchEvent(new Event("visibilitychange"));
    }""", hidden)


# ---- 1. "N new photos — show" ------------------------------------------------------------------------

def _with_live_events(pages: Pages, path: str) -> Any:
    """The page at ``path`` once its event stream is open (events sent before that are not its to see)."""
    page = pages.open("/")
    with page.expect_request(lambda r: urlsplit(r.url).path == "/v1/events"):
        page.goto(path)
    page.wait_for_timeout(500)  # the gateway subscribes it
    return page


def _without_live_events(page: Any) -> None:
    """The event stream is blocked (a proxy that cuts long answers): the gallery falls back to asking."""
    page.route(re.compile(r"/v1/events"), lambda route: route.abort())


def test_the_gallery_says_when_others_upload_and_shows_them_with_the_search_kept(pages: Pages, facedata: Path
                                                                                 ) -> None:
    service = pages.service
    samples = facedata / "facetag_samples"
    first = photo_id(service, samples / "ben.jpg")
    _all_finished(service)

    today = pages.open("/").evaluate("new Date().toLocaleDateString('en-CA')")  # YYYY-MM-DD in the browser
    page = _with_live_events(pages, f"/?from={today}")
    expect(page.locator(f'.card[data-image-id="{first}"]')).to_be_visible()
    cards = page.locator(".card").count()
    expect(page.locator("#new-photos")).to_have_count(0)

    # Someone else uploads one photo, then another: told by the event stream, the gallery counts them and
    # does not jump.
    one = _uploaded(service, samples / "jerry.jpg", "newcomer-new-1.jpg")
    expect(page.locator("#new-photos")).to_have_text("1 new photo — show", timeout=15_000)
    two = _uploaded(service, samples / "mindy.jpg", "newcomer-new-2.jpg")
    expect(page.locator("#new-photos")).to_have_text("2 new photos — show", timeout=15_000)
    expect(page.locator(".card")).to_have_count(cards)
    pages.shot(page, "gallery-new-photos-desktop")

    # "show" loads them at the top, with the search as it was; the focus goes to the newest photo.
    page.locator("#new-photos").click()
    expect(page.locator("#new-photos")).to_have_count(0)
    expect(page.locator(".card")).to_have_count(cards + 2)
    expect(page.locator(".card").nth(0)).to_have_attribute("data-image-id", two)
    expect(page.locator(".card").nth(1)).to_have_attribute("data-image-id", one)
    assert f"from={today}" in page.url
    expect(page.locator('input[aria-label="Uploaded from"]')).to_have_value(today)
    expect(page.locator("#result-count")).to_contain_text(f"{cards + 2} photos")
    assert page.evaluate("document.activeElement.closest('.card')?.dataset.imageId") == two

    # A search the new photos are not in never mentions them.
    page = _with_live_events(pages, f"/?person=Nobody+Here&from={today}")
    expect(page.locator(".empty")).to_be_visible()
    with page.expect_request(lambda r: "/v1/images" in r.url and "person=Nobody" in r.url, timeout=15_000):
        _uploaded(service, samples / "jerry2.jpg", "newcomer-new-3.jpg")
    page.wait_for_timeout(500)
    expect(page.locator("#new-photos")).to_have_count(0)


def _one_check_answered(page: Any) -> None:
    """The clock moves on by one check interval, and the gallery's question for new photos is answered and
    handled.

    The next check is timed from when an answer is handled: a clock moved on before that skips no check,
    and the next one comes 10 s of page time later, which the installed clock lets pass in real time
    (hence ``NEXT_CHECK_MS`` on what the check shows). The short wait makes that the rare case."""
    with page.expect_response(lambda r: "/v1/images" in r.url and "uploaded_from" in r.url) as answer:
        page.clock.fast_forward(CHECK_S * 1000 + 500)
    answer.value.finished()
    page.wait_for_timeout(300)


def test_without_the_event_stream_the_gallery_asks_every_10_seconds(pages: Pages, facedata: Path) -> None:
    service = pages.service
    photo_id(service, facedata / "facetag_samples" / "ben.jpg")  # a gallery with a photo in it
    _all_finished(service)
    page = pages.open("/")
    _without_live_events(page)
    _with_fake_clock(page)
    expect(page.locator(".card").first).to_be_visible()
    _one_check_answered(page)
    expect(page.locator("#new-photos")).to_have_count(0)
    _uploaded(service, facedata / "facetag_samples" / "ben_mat_1.jpg", "newcomer-polled.jpg")
    _one_check_answered(page)
    expect(page.locator("#new-photos")).to_have_text("1 new photo — show", timeout=NEXT_CHECK_MS)


def _add_at_once(service: Service, count: int, at: datetime) -> list[str]:
    """Photo records all uploaded at the same millisecond, as a fast import makes them (no blobs)."""
    records = [ImageRecord(id=new_id(), sha256=hashlib.sha256(new_id().encode()).hexdigest(),
                           filename=f"burst-{n}.jpg", content_type="image/jpeg", width=640, height=480,
                           status=ImageStatus.done, uploaded_at=at) for n in range(count)]

    async def add(catalog: Any) -> list[str]:
        return [(await catalog.add_image(record))[0].id for record in records]

    ids: list[str] = catalog_call(service, add)
    return ids


def test_photos_uploaded_in_the_same_millisecond_are_not_taken_for_new_ones(pages: Pages) -> None:
    service = pages.service
    at = utcnow()  # the catalog keeps milliseconds
    burst = _add_at_once(service, 3, at)
    _all_finished(service)
    page = pages.open("/")
    _without_live_events(page)  # photos put straight into the catalog send no event: the gallery must ask
    _with_fake_clock(page)
    for image_id in burst:
        expect(page.locator(f'.card[data-image-id="{image_id}"]')).to_be_visible()
    _one_check_answered(page)
    expect(page.locator("#new-photos")).to_have_count(0)
    # One more in that same millisecond is new, and counted as one.
    _add_at_once(service, 1, at)
    _one_check_answered(page)
    expect(page.locator("#new-photos")).to_have_text("1 new photo — show", timeout=NEXT_CHECK_MS)


def test_a_hidden_gallery_does_not_ask_and_catches_up_when_shown(pages: Pages, facedata: Path) -> None:
    service = pages.service
    samples = facedata / "facetag_samples"
    photo_id(service, samples / "elton_john.jpg")
    _all_finished(service)

    page = pages.open("/")
    _with_fake_clock(page)
    expect(page.locator(".card").first).to_be_visible()
    asked = _list_requests(page)

    _set_hidden(page, True)
    _uploaded(service, samples / "madonna2.jpg", "newcomer-hidden.jpg")
    for _ in range(4):
        page.clock.fast_forward(CHECK_S * 1000 + 500)
    page.wait_for_timeout(1500)
    assert asked == [], f"a hidden gallery asked: {asked}"
    expect(page.locator("#new-photos")).to_have_count(0)

    # Back on the tab: it asks at once and says what came meanwhile.
    _set_hidden(page, False)
    expect(page.locator("#new-photos")).to_have_text("1 new photo — show")
    assert asked


# ---- 2. Esc in the face editor -------------------------------------------------------------------

def _focused_face(page: Any) -> str | None:
    value: str | None = page.evaluate("document.activeElement?.closest('.face')?.querySelector('.box')"
                                      "?.dataset.faceId ?? null")
    return value


def test_escape_in_the_face_editor_gives_the_focus_back_to_the_face(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben_mat_2.jpg")
    found = faces(service, image_id)
    assert len(found) == 2, found
    left, right = found[0]["id"], found[1]["id"]

    page = pages.open(f"/photo.html?id={image_id}")
    boxes = page.locator(".face .box")
    expect(boxes).to_have_count(2)
    editor = page.locator(".editor")

    # Keyboard only: to the right face, Enter opens its editor, Esc closes it and the focus is on that face.
    page.locator(f'.box[data-face-id="{right}"]').focus()
    page.keyboard.press("Enter")
    expect(editor).to_be_visible()
    expect(editor.locator("input[name=name]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(page.locator(f'.box[data-face-id="{right}"]')).to_be_focused()
    # ... so that Shift+Tab reaches the face before it, as from where the user was.
    page.keyboard.press("Shift+Tab")
    assert _focused_face(page) == left

    # Naming goes straight on to the next face; Esc there leaves the focus on that next face.
    page.keyboard.press("Enter")
    expect(editor.locator("input[name=name]")).to_be_focused()
    page.keyboard.type("Ben Affleck")
    page.keyboard.press("Enter")
    expect(page.locator(f'.box[data-face-id="{right}"]')).to_have_class(re.compile(r"\bselected\b"))
    expect(editor.locator("input[name=name]")).to_be_focused()
    page.keyboard.press("Escape")
    expect(editor).to_have_count(0)
    expect(page.locator(f'.box[data-face-id="{right}"]')).to_be_focused()

    # The editor's Close button, used from the keyboard, does the same.
    page.keyboard.press("Enter")
    expect(editor).to_be_visible()
    editor.get_by_role("button", name="Close").focus()
    page.keyboard.press("Enter")
    expect(editor).to_have_count(0)
    expect(page.locator(f'.box[data-face-id="{right}"]')).to_be_focused()

    # The last face named: no face left to go on to, and the focus stays on the one just named.
    page.keyboard.press("Enter")
    page.keyboard.type("Matt Damon")
    page.keyboard.press("Enter")
    expect(page.locator(f'.box[data-face-id="{right}"]')).to_have_attribute("aria-label", re.compile("Matt Damon"))
    expect(editor).to_have_count(0)
    expect(page.locator(f'.box[data-face-id="{right}"]')).to_be_focused()
    pages.shot(page, "photo-focus-after-escape")


# ---- 3. Skip to content --------------------------------------------------------------------------

FIRST_FOCUSABLE = """() => {
    const all = document.querySelectorAll(
        'a[href], button:not([disabled]), input:not([disabled]), select, textarea, [tabindex]:not([tabindex="-1"])');
    const first = [...all].find((el) => !el.closest('[hidden]') && el.getClientRects().length);
    return first ? { id: first.id, text: first.textContent.trim() } : null;
}"""


def test_a_skip_link_comes_first_on_every_page_and_goes_to_the_content(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben.jpg")
    paths = ["/", "/people.html", "/upload.html", "/model.html", "/users.html", "/audit.html", "/account.html",
             f"/photo.html?id={image_id}"]
    for path in paths:
        page = pages.open(path)
        expect(page.locator("header.topbar .user-btn")).to_be_visible()  # the whole header is in
        assert page.evaluate(FIRST_FOCUSABLE) == {"id": "skip-link", "text": "Skip to content"}, path
        link = page.locator("#skip-link")
        # Out of sight until the keyboard reaches it: the first Tab on the page.
        box = link.bounding_box()
        assert box is not None and box["y"] + box["height"] <= 0, (path, box)
        page.keyboard.press("Tab")
        expect(link).to_be_focused()
        box = link.bounding_box()
        assert box is not None and box["y"] >= 0, (path, box)
        if path == "/":
            pages.shot(page, "skip-link-focused")
        # Enter puts the focus on the page's content, past the header, and the page stays as it was.
        page.keyboard.press("Enter")
        assert page.evaluate("document.activeElement.tagName") == "MAIN", path
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('main') !== null"), path
        assert page.evaluate("!document.activeElement.closest('header')"), path
        page.context.close()

    # The sign-in page too (its name field has the focus first, as it should).
    login = pages.open("/login.html", role=None)
    expect(login.locator("#username")).to_be_focused()
    assert login.evaluate(FIRST_FOCUSABLE) == {"id": "skip-link", "text": "Skip to content"}


# ---- 4 and 5. Counts that read right; who was recognised in each upload ----------------------------

def _train_two_people(service: Service, facedata: Path) -> list[Path]:
    """Name the one face on a few photos of each of two people, train, and wait until the model serves.
    The photos named."""
    photos = name_single_faces(service, facedata, PEOPLE, PHOTOS_EACH)
    train_until_served(service)
    return photos


def test_the_upload_list_says_who_was_recognised_and_counts_read_right(trained_pages: Pages, facedata: Path
                                                                       ) -> None:
    pages = trained_pages
    service = pages.service
    named = _train_two_people(service, facedata)
    ben = sorted((facedata / "celeb5" / "val" / "ben_afflek").iterdir())[0]
    madonna = sorted((facedata / "celeb5" / "val" / "madonna").iterdir())[0]
    samples = facedata / "facetag_samples"

    page = pages.open("/upload.html", role="editor")
    page.set_input_files("#file-input", [str(ben), str(madonna), str(samples / "ben_mat_3.jpg")])
    for path in (ben, madonna, samples / "ben_mat_3.jpg"):
        expect(page.locator(f'li.upload[data-file="{path.name}"] .state')).to_contain_text("Done", timeout=SLOW)

    # Each finished photo says who is in it, not just "done"; unnamed faces are counted.
    expect(page.locator(f'li.upload[data-file="{ben.name}"] .state')).to_contain_text("1 face found")
    expect(page.locator(f'li.upload[data-file="{ben.name}"] .who')).to_have_text("Ben Affleck")
    expect(page.locator(f'li.upload[data-file="{madonna.name}"] .who')).to_have_text("Madonna")
    mixed = page.locator('li.upload[data-file="ben_mat_3.jpg"]')
    expect(mixed.locator(".state")).to_contain_text("2 faces found")
    expect(mixed.locator(".who")).to_have_text("Ben Affleck, 1 unknown")
    # A guess says it is one, and how sure, when pointed at.
    expect(mixed.locator(".who .name")).to_have_attribute("title", re.compile(r"guesses Ben Affleck, \d+% sure"))
    expect(page.locator("#upload-summary")).to_contain_text("3 of 3 photos done · 4 faces found")
    pages.shot(page, "upload-who-desktop")

    # One photo, one face (named by a person before): every count says "1 photo", "1 face", never "1 photos".
    again = named[0]
    one = pages.open("/upload.html", role="editor")
    one.set_input_files("#file-input", [str(again)])
    row = one.locator(f'li.upload[data-file="{again.name}"]')
    expect(row.locator(".state")).to_have_text("Already uploaded · 1 face found")
    expect(row.locator(".who")).to_have_text("Ben Affleck")
    expect(one.locator("#upload-summary")).to_contain_text("1 of 1 photo done · 1 face found")
    image_id = photo_id(service, again)
    photo = pages.open(f"/photo.html?id={image_id}")
    expect(photo.locator(".panel h2 .muted")).to_have_text(re.compile(r"^1 face\b"))
    expect(photo.locator(".face-list .face-row")).to_have_count(1)


# ---- an axe-like look at every page: names for buttons, links and fields, an alt for every image -------

UNNAMED = """() => {
    const text = (id) => document.getElementById(id)?.textContent || "";
    const name = (el) => (el.getAttribute("aria-label")
        || (el.getAttribute("aria-labelledby") || "").split(/\\s+/).map(text).join(" ")
        || el.textContent || el.getAttribute("title") || el.value || "").trim();
    const field = (el) => el.labels?.length || el.getAttribute("aria-label") || el.getAttribute("aria-labelledby")
        || el.getAttribute("title");
    const bad = [];
    const show = (el) => el.outerHTML.slice(0, 160);
    for (const el of document.querySelectorAll('button, [role="button"], a[href], summary')) {
        if (!name(el)) bad.push(`no name: ${show(el)}`);
    }
    for (const el of document.querySelectorAll('input:not([type="hidden"]), select, textarea')) {
        if (!field(el) && !el.closest("[hidden]")) bad.push(`no label: ${show(el)}`);  // hidden: not announced
    }
    for (const el of document.querySelectorAll("img")) if (!el.hasAttribute("alt")) bad.push(`no alt: ${show(el)}`);
    for (const el of document.querySelectorAll('svg[role="img"]')) {
        if (!el.getAttribute("aria-label")) bad.push(`no label: ${show(el)}`);
    }
    return bad;
}"""


def test_every_button_link_and_field_has_a_name_and_every_image_an_alt(pages: Pages, facedata: Path) -> None:
    service = pages.service
    image_id = photo_id(service, facedata / "facetag_samples" / "ben_mat_4.jpg")
    found = faces(service, image_id)
    response = service.client.patch(f"/v1/faces/{found[0]['id']}", json={"name": "Ben Affleck"})
    assert response.status_code == 200, response.text
    problems: dict[str, list[str]] = {}

    def look(page: Any, where: str) -> None:
        bad: list[str] = page.evaluate(UNNAMED)
        if bad:
            problems[where] = bad

    for path in ["/", "/people.html", "/upload.html", "/model.html", "/users.html", "/audit.html", "/account.html"]:
        page = pages.open(path)
        expect(page.locator("header.topbar .user-btn")).to_be_visible()
        page.wait_for_load_state("networkidle")
        look(page, path)
        page.locator("#user-button").click()  # the account menu, open
        look(page, f"{path} (account menu)")
        page.context.close()

    # The photo page, with its editor open on a named face and on an unnamed one.
    photo = pages.open(f"/photo.html?id={image_id}")
    expect(photo.locator(".face .box")).to_have_count(len(found))
    photo.wait_for_load_state("networkidle")
    look(photo, "photo")
    for face in found:
        photo.locator(f'.box[data-face-id="{face["id"]}"]').click()
        expect(photo.locator(".editor")).to_be_visible()
        look(photo, f"photo (editor of {face['id']})")
    photo.keyboard.press("Escape")

    # An upload row, and the signed-out page.
    upload = pages.open("/upload.html")
    upload.set_input_files("#file-input", [str(facedata / "facetag_samples" / "ben_mat_4.jpg")])
    expect(upload.locator("li.upload .state")).to_contain_text("Already uploaded")
    look(upload, "upload (a row)")
    login = pages.open("/login.html", role=None)
    expect(login.locator("#username")).to_be_visible()
    look(login, "login")
    assert not problems, "\n".join(f"{where}: {bad}" for where, bad in problems.items())
