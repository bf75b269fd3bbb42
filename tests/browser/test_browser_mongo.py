"""The main browser flows again, on a service whose catalog is MongoDB (FerretDB) instead of SQLite."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pymongo
import pytest
from service_fixtures import Service, run_embedded
from test_browser_people_gallery import (  # noqa: F401
    test_a_persons_faces_can_be_confirmed_or_taken_off_them,
    test_merge_two_people_then_delete_one,
)

# Collected here a second time, so they run against this module's service.
from test_browser_tagging import (  # noqa: F401
    test_a_model_guess_is_shown_as_a_guess_and_confirmed_in_one_click,
    test_upload_name_search_rename_draw_and_delete,
)

pytestmark = [pytest.mark.browser, pytest.mark.servers]


@pytest.fixture(scope="module")
def embedded_service(mongo_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """``facetag serve`` with its catalog in a database of its own on the session's FerretDB."""
    url = urlunsplit(urlsplit(mongo_url)._replace(path=f"/facetag_browser_{uuid.uuid4().hex[:12]}"))
    try:
        for service in run_embedded(tmp_path_factory.mktemp("embedded-mongo"), stalled_after=20, catalog_url=url):
            service.catalog_url = url  # type: ignore[attr-defined]
            yield service
    finally:
        client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
        try:
            client.drop_database(client.get_default_database().name)
        finally:
            client.close()
