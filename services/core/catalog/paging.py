"""Walking a whole result set page by page, so no caller holds a big library in one query."""

from __future__ import annotations

from collections.abc import AsyncIterator

from services.core.catalog.base import Catalog, FaceQuery
from services.core.domain import FaceRecord

PAGE = 2000


async def iter_faces(catalog: Catalog, query: FaceQuery) -> AsyncIterator[FaceRecord]:
    offset = 0
    while True:
        page = await catalog.list_faces(query.model_copy(update={"offset": offset, "limit": PAGE}))
        for face in page:
            yield face
        if len(page) < PAGE:
            return
        offset += PAGE
