"""Fixtures that give each contract test a fresh, isolated store of every implementation.

The catalog runs on SQLite (a file in the test's tmp folder) and on FerretDB (a database of its
own, dropped afterwards); the blob store on a local folder and on MinIO (a key prefix of its own,
emptied afterwards). The servers come from the session fixtures in ``tests/conftest.py``.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from services.core.access.store import AccessStore
from services.core.blobs import BlobStore, open_blobs
from services.core.catalog import Catalog, open_access, open_catalog

BLOB_STORES = ["local", pytest.param("s3", marks=pytest.mark.servers)]


S = TypeVar("S", Catalog, AccessStore)


async def _connected(store: S) -> AsyncIterator[S]:
    await store.connect()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def catalog(catalog_url: str) -> AsyncIterator[Catalog]:
    async for store in _connected(open_catalog(catalog_url)):
        yield store


@pytest.fixture
async def access(catalog_url: str) -> AsyncIterator[AccessStore]:
    """The access store (users, sessions, tokens, throttles, audit) beside the catalog at ``catalog_url``."""
    async for store in _connected(open_access(catalog_url)):
        yield store


@pytest.fixture
async def open_more(catalog_url: str) -> AsyncIterator[Callable[[], Catalog]]:
    """Opens further catalogs on the same store, as other processes would; all closed afterwards."""
    opened: list[Catalog] = []

    def more() -> Catalog:
        opened.append(open_catalog(catalog_url))
        return opened[-1]

    yield more
    for store in opened:
        await store.close()


@pytest.fixture(params=BLOB_STORES)
def blob_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL naming an empty blob store no other test sees; emptied after the test."""
    if request.param == "local":
        yield f"file://{tmp_path / 'blobs'}"
        return
    url = f"{request.getfixturevalue('s3_url')}/contract-{uuid.uuid4().hex[:16]}"
    yield url
    open_blobs(url).delete_prefix("")


@pytest.fixture
def blobs(blob_url: str) -> BlobStore:
    return open_blobs(blob_url)
