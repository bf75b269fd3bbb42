"""Headless Chromium (Debian's, driven by Playwright) against a real ``facetag serve``.

Chromium missing skips these tests, or fails them when FACETAG_REQUIRE_SERVERS=1. Screenshots of
every page go to ``$FACETAG_SCREENSHOTS`` if set, else to the test session's temporary folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser_helpers import Pages
from service_fixtures import Service, embedded_service

__all__ = ["embedded_service"]

CHROMIUM = Path(os.environ.get("FACETAG_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _required() -> bool:
    return os.environ.get("FACETAG_REQUIRE_SERVERS", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(message: str) -> None:
    if _required():
        pytest.fail(f"{message} (FACETAG_REQUIRE_SERVERS is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.is_file():
        _unavailable(f"Chromium not found at {CHROMIUM}; install Debian's chromium package or set FACETAG_CHROMIUM")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is not installed (pip install -e '.[test]')")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = os.environ.get("FACETAG_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def pages(browser: Any, embedded_service: Service, screenshots: Path) -> Iterator[Pages]:
    opened = Pages(browser, embedded_service, screenshots)
    try:
        yield opened
    finally:
        opened.close()
    assert not opened.errors, "errors in the page:\n" + "\n".join(opened.errors)
