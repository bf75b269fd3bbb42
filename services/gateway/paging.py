"""Cursor pages for every list that grows with the library or with time: one query parameter, one field."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

from services.core.cursors import MAX_CURSOR_LENGTH, RankKey, decode, encode

T = TypeVar("T")

Cursor = Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH,
                                     description="The next_cursor of the page before; leave out for the first page. "
                                                 "Opaque: a cursor from another list, or altered, is a 422.")]


class Paged(BaseModel):
    next_cursor: str | None = Field(description="Pass as ?cursor= (with the same filters) for the next page; null "
                                                "on the last page. Photos added ahead of a walk never shift it.")


def rank_page(items: Sequence[T], cursor: str | None, limit: int,
              id_of: Callable[[T], str]) -> tuple[list[T], str | None]:
    """A page of a list held in memory (clusters, a cluster's faces). The cursor names the last item shown, so
    when the list changed between pages the walk goes on after that item wherever it now stands (or, if it is
    gone, at its old position)."""
    key = decode(RankKey, cursor)
    start = 0
    if key is not None:
        moved = next((index for index, item in enumerate(items) if id_of(item) == key.id), None)
        start = min(key.position, len(items)) if moved is None else moved + 1
    page = list(items[start:start + limit])
    more = start + len(page) < len(items)
    return page, encode(RankKey(position=start + len(page), id=id_of(page[-1]))) if more and page else None
