"""What the HTTP API accepts: the pieces request bodies and parameters share.

Each rule is stated in the OpenAPI document by the declaration that enforces it (or, where JSON Schema needs
words of its own, beside it, held equal by a test): a request the document calls valid is taken, one it
calls invalid is refused.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, WithJsonSchema, model_validator

from services.core.registry import VERSION_PATTERN

T = TypeVar("T")


def _has_surrogate(text: str) -> bool:
    return any("\ud800" <= ch <= "\udfff" for ch in text)


def _lone_surrogate(value: object, where: str) -> str | None:
    """Where in a parsed JSON value a string holds a lone surrogate, or None. JSON can escape one (\\ud800),
    but it is not a character: no store can keep it, and a name with one could never be shown."""
    if isinstance(value, str):
        return where if _has_surrogate(value) else None
    if isinstance(value, dict):
        for key, item in value.items():
            if _has_surrogate(str(key)):
                return f"a field name in {where or 'the body'}"
            found = _lone_surrogate(item, f"{where}.{key}" if where else str(key))
            if found is not None:
                return found
    if isinstance(value, list):
        for index, item in enumerate(value):
            found = _lone_surrogate(item, f"{where}.{index}" if where else str(index))
            if found is not None:
                return found
    return None


class StrictBody(BaseModel):
    """A JSON request body: unknown fields are refused, and so are values of another JSON type (``0`` for
    ``false``, ``"20"`` for ``20``, a number for a time), as the OpenAPI document says."""

    model_config = ConfigDict(extra="forbid", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _unicode_text(cls, data: object) -> object:
        where = _lone_surrogate(data, "")
        if where is not None:
            raise ValueError(f"{where or 'the body'} is not Unicode text: it has a lone surrogate "
                             "(an escape from \\ud800 to \\udfff that pairs with nothing)")
        return data


def _not_null(value: object) -> object:
    if value is None:
        raise ValueError("must not be null; leave the field out instead")
    return value


def _left_out_not_null(schema: dict[str, Any]) -> None:
    """The schema of a field that may be left out: its type without the null that ``T | None`` adds, and no
    null default (a left-out field has no value to state)."""
    schema.pop("default", None)
    branches = [branch for branch in schema.pop("anyOf", []) if branch != {"type": "null"}]
    if len(branches) == 1:  # the field's own words (description) win over its type's
        for key, value in branches[0].items():
            schema.setdefault(key, value)
    elif branches:
        schema["anyOf"] = branches


# A body field that may be left out but is never null: "give one of these" rules are then plain counts of
# the fields given (minProperties, maxProperties), which JSON Schema can state. ``None`` is only ever the
# default, which is not validated, so an explicit null meets _not_null.
Omittable = Annotated[T | None, BeforeValidator(_not_null), Field(json_schema_extra=_left_out_not_null)]


def _whole(value: object) -> object:
    # JSON has one number type: 20.0 is the integer 20 to JSON Schema, and so here; 20.5 and "20" are not.
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# An integer in a JSON body (StrictBody refuses strings and booleans; this also takes 20.0 as 20).
Integer = Annotated[int, BeforeValidator(_whole)]

# RFC 3339 (the OpenAPI "date-time" format): a date, a time to the second and a time zone, Z or an offset.
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
_EARLIEST = datetime.min.replace(tzinfo=UTC)
_LATEST = datetime.max.replace(tzinfo=UTC)
INSTANT_HELP = "an RFC 3339 date-time with a time zone, e.g. 2024-05-01T14:02:00Z or 2024-05-01T16:02:00+02:00"


def _instant(value: object) -> object:
    """An aware UTC datetime from an RFC 3339 string. A number or a date alone is refused: read as seconds
    since 1970 or as a midnight in some zone, it would quietly mean a time the sender did not."""
    if isinstance(value, datetime):  # from Python callers, not from the wire
        return value
    if not isinstance(value, str) or not _RFC3339.fullmatch(value):
        raise ValueError(f"must be {INSTANT_HELP}")
    try:
        moment = datetime.fromisoformat(value.upper())
    except ValueError as exc:
        raise ValueError(f"must be {INSTANT_HELP} ({exc})") from None
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+05:00: before anything stored, so the earliest time
        return _EARLIEST if moment.year == 1 else _LATEST


Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema({"type": "string", "format": "date-time", "description": f"Give {INSTANT_HELP}."}),
]


def _day(value: object) -> object:
    """A calendar day from an ISO 8601 "YYYY-MM-DD" string (the OpenAPI "date" format); numbers are refused."""
    if isinstance(value, date):  # from Python callers, not from the wire
        return value
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("must be a day written YYYY-MM-DD, e.g. 2024-05-01")
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise ValueError(f"must be a real day written YYYY-MM-DD ({exc})") from None


Day = Annotated[date, BeforeValidator(_day), WithJsonSchema({"type": "string", "format": "date"})]


def _true_or_false(value: object) -> object:
    # The OpenAPI document writes a boolean parameter as true or false; 1, yes or on would be other rules.
    if isinstance(value, str) and value not in ("true", "false"):
        raise ValueError("must be true or false")
    return value


QueryFlag = Annotated[bool, BeforeValidator(_true_or_false)]


ModelVersion = Annotated[str, StringConstraints(pattern=VERSION_PATTERN)]
