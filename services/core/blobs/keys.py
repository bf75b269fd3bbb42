"""Blob key rules shared by every blob store, so a key valid in one store is valid in all."""

from __future__ import annotations

from services.core.errors import InvalidInput

RULE = "'/'-separated segments, not starting with '/', no empty segment and none starting with '.'"


def _bad_segment(segment: str) -> bool:
    # '.' and '..' would climb out of a folder; other dot names are where the local store keeps
    # its temporary files, so keys never collide with them.
    return segment == "" or segment.startswith(".")


def check_key(key: str) -> str:
    """The key itself, or InvalidInput explaining which rule it breaks."""
    if not isinstance(key, str) or not key:
        raise InvalidInput("a blob key must be a non-empty string")
    if "\\" in key or "\x00" in key or key.startswith("/") or any(_bad_segment(s) for s in key.split("/")):
        raise InvalidInput(f"unsafe blob key {key!r}: keys are {RULE}")
    return key


def check_prefix(prefix: str) -> str:
    """A listing prefix: empty, a folder ending in '/', or a key's beginning."""
    if prefix == "":
        return prefix
    *folders, last = prefix.split("/")
    if (
        "\\" in prefix
        or "\x00" in prefix
        or prefix.startswith("/")
        or any(_bad_segment(s) for s in folders)
        or last.startswith(".")
    ):
        raise InvalidInput(f"unsafe blob prefix {prefix!r}: keys are {RULE}")
    return prefix
