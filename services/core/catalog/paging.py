"""Walking a whole result set a page at a time, so no caller holds a big library in one answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.core.catalog.base import Catalog, FaceQuery
from services.core.cursors import ImageKey, decode
from services.core.domain import FaceRecord, ImageQuery, ImageRecord

PAGE = 2000


def iter_faces(catalog: Catalog, query: FaceQuery, page_size: int = PAGE) -> AsyncIterator[FaceRecord]:
    """Every face the query matches, in its order, read ``page_size`` at a time as the catalog reads best
    (``Catalog.walk_faces``)."""
    return catalog.walk_faces(query, page_size)


async def iter_images(catalog: Catalog, query: ImageQuery) -> AsyncIterator[ImageRecord]:
    """Every image the query matches, newest first, by keyset pages (as ``Catalog.walk_faces`` reads by default)."""
    while True:
        page = await catalog.list_images(query)
        for image in page.items:
            yield image
        if page.next_cursor is None:
            return
        query = query.model_copy(update={"after": decode(ImageKey, page.next_cursor)})
