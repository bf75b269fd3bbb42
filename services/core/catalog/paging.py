"""Walking a whole result set page by page, so no caller holds a big library in one query."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.core.catalog.base import Catalog, FaceQuery
from services.core.cursors import ImageKey, decode
from services.core.domain import FaceRecord, ImageQuery, ImageRecord

PAGE = 2000


async def iter_faces(catalog: Catalog, query: FaceQuery, page_size: int = PAGE) -> AsyncIterator[FaceRecord]:
    """Every face the query matches, in its order. Keyset pages: each page starts after the last face seen, so
    a page costs the same at any depth and faces added or removed meanwhile never make one be seen twice."""
    query = query.model_copy(update={"limit": page_size})
    while True:
        page = await catalog.list_faces(query)
        for face in page:
            yield face
        if len(page) < page_size:
            return
        query = query.after_face(page[-1])


async def iter_images(catalog: Catalog, query: ImageQuery) -> AsyncIterator[ImageRecord]:
    """Every image the query matches, newest first, by keyset pages like ``iter_faces``."""
    while True:
        page = await catalog.list_images(query)
        for image in page.items:
            yield image
        if page.next_cursor is None:
            return
        query = query.model_copy(update={"after": decode(ImageKey, page.next_cursor)})
