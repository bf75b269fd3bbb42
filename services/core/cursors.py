"""Opaque page cursors: the last row's sort key, as urlsafe base64 of JSON, checked by pydantic on the way back.

A cursor names where a page ended, never how many rows came before it, so a page costs the same at any depth
and rows inserted ahead of a walk do not shift it. Each kind of key carries its kind, so a cursor from one
list handed to another is refused rather than read as something else.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from services.core.errors import InvalidInput

if TYPE_CHECKING:  # the domain's queries hold these keys
    from services.core.domain import ImageRecord

MAX_CURSOR_LENGTH = 1024


class InvalidCursor(InvalidInput):
    """A cursor this service did not hand out, or one from another list (HTTP 422)."""


# Bounds a store can hold: an altered cursor with a number no column takes is refused, not a store error.
Id = Annotated[str, Field(max_length=128)]
Int32 = Annotated[int, Field(ge=-(2**31), lt=2**31)]


class CursorKey(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class _TimeKey(CursorKey):
    """A row's time, ties by its id."""

    at: datetime
    id: Id


class _NameKey(CursorKey):
    """A row's case-insensitive name key, ties by its id."""

    name_key: Annotated[str, Field(max_length=512)]
    id: Id


class ImageKey(_TimeKey):
    """Images newest upload first, ties by id descending."""

    kind: Literal["image"] = "image"


class FaceKey(CursorKey):
    """Faces by image, then left to right, then id."""

    kind: Literal["face"] = "face"
    image_id: Id
    left: Int32
    id: Id


class ReviewKey(CursorKey):
    """Faces to review: highest score first, ties by id."""

    kind: Literal["review"] = "review"
    score: float
    id: Id


class PersonKey(_NameKey):
    """People by name, ties by id."""

    kind: Literal["person"] = "person"


class NewestKey(_TimeKey):
    """Newest first by a time, ties by id descending: audit entries, actions, deliveries, tokens."""

    kind: Literal["newest"] = "newest"
    id: Annotated[str, Field(max_length=512)]  # a webhook delivery's id holds its target and event


class OldestKey(_TimeKey):
    """Oldest first by a time, ties by id: webhooks."""

    kind: Literal["oldest"] = "oldest"


class UserKey(_NameKey):
    """Accounts by username, ties by id."""

    kind: Literal["user"] = "user"


class RankKey(CursorKey):
    """Lists ordered in memory (clusters, a cluster's faces): the position after the last one shown and the id
    of that last one, so a list that changed under the walk is noticed."""

    kind: Literal["rank"] = "rank"
    position: Annotated[int, Field(ge=0, lt=2**31)]
    id: Id


K = TypeVar("K", bound=CursorKey)


def encode(key: CursorKey) -> str:
    return base64.urlsafe_b64encode(key.model_dump_json().encode()).decode().rstrip("=")


def decode(kind: type[K], cursor: str | None) -> K | None:
    """The key a cursor carries (None for no cursor: the first page). InvalidCursor for anything else."""
    if cursor is None or cursor == "":
        return None
    refused = InvalidCursor("query 'cursor': not a cursor from this list; start again without one, then pass on "
                            "the next_cursor each page answers")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return kind.model_validate_json(text)
    except (binascii.Error, ValueError, ValidationError):
        raise refused from None


R = TypeVar("R")


def cut(found: Sequence[R], limit: int | None, key: Callable[[R], CursorKey]) -> tuple[list[R], str | None]:
    """The first ``limit`` of the ``limit + 1`` rows a list read, and the cursor after them when there were more
    (None: the last page). Reading one row more than shown tells "more" from "the end" without counting."""
    if limit is None or len(found) <= limit:
        return list(found), None
    return list(found[:limit]), encode(key(found[limit - 1]))


def image_key(image: ImageRecord) -> ImageKey:
    return ImageKey(at=image.uploaded_at, id=image.id)
