"""Every catalog index, declared once: both catalogs create these at connect.

Fields use the MongoDB document names; SQLite maps them to its columns. One index per filter the API offers,
each ending in the list's sort order, so a filtered page is read in order from the index and stops after
``limit`` rows (keyset pages), whatever the library's size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

ASC, DESC = 1, -1
NEWEST = (("uploaded_at", DESC), ("_id", DESC))
FACE_ORDER = (("image_id", ASC), ("box.left", ASC), ("_id", ASC))


@dataclass(frozen=True)
class Index:
    name: str
    fields: tuple[tuple[str, int], ...]
    unique: bool = False
    # Fields only MongoDB documents carry (an image's person_ids and has_unknown, derived from its faces) or
    # constraints SQLite declares on the column itself: SQLite skips these.
    mongo_only: bool = False


INDEXES: dict[str, tuple[Index, ...]] = {
    "images": (
        Index("sha256_unique", (("sha256", ASC),), unique=True, mongo_only=True),
        Index("newest_first", NEWEST),  # the gallery
        Index("status_newest", (("status", ASC), *NEWEST)),  # ?status=
        Index("by_status", (("status", ASC), ("updated_at", ASC))),  # stalled photos, counts per status
        Index("person_newest", (("person_ids", ASC), *NEWEST), mongo_only=True),  # ?person=
        Index("unknown_newest", (("has_unknown", ASC), *NEWEST), mongo_only=True),  # ?has_unknown=
    ),
    "faces": (
        Index("by_image", FACE_ORDER),  # a photo's faces, and walks over all faces
        Index("person_faces", (("person_id", ASC), *FACE_ORDER)),  # a person's faces; unknown faces; ?person=
        # A person's cover: their first face of each label source, one lookup each (the people list).
        Index("person_cover", (("person_id", ASC), ("label_source", ASC), ("_id", ASC))),
        Index("source_faces", (("label_source", ASC), *FACE_ORDER)),  # dataset export, labelled faces
        Index("to_review", (("review.score", DESC), ("_id", ASC))),  # the review queue
        # Faces labelled since a time, in label order: the gateway's face index catching up every few seconds.
        Index("labelled_order", (("labelled_at", ASC), ("_id", ASC))),
        # People's labels since the last training: the learning status, counted every few seconds while it shows.
        Index("source_labelled", (("label_source", ASC), ("labelled_at", ASC), ("_id", ASC))),
    ),
    "people": (
        Index("name_key_unique", (("name_key", ASC),), unique=True, mongo_only=True),
    ),
    "actions": (
        Index("newest_first", (("created_at", DESC), ("_id", DESC))),
        Index("actor_newest", (("actor", ASC), ("created_at", DESC), ("_id", DESC))),
    ),
}

# Indexes earlier versions made that the ones above replace: dropped at connect.
RETIRED: dict[str, tuple[str, ...]] = {
    "images": ("by_person", "by_upload"),
    "faces": ("by_person", "labelled_since"),
    "actions": ("by_actor", "newest"),
}

_SQLITE_COLUMNS = {"_id": "id", "box.left": "box_left", "review.score": "review_score"}


def sqlite_statements() -> list[str]:
    """CREATE INDEX (and DROP for retired ones) statements for SQLite; index names are prefixed by table."""
    statements = [f"DROP INDEX IF EXISTS {table}_{name}" for table, names in RETIRED.items() for name in names]
    for table, indexes in INDEXES.items():
        for index in indexes:
            if index.mongo_only:
                continue
            columns = ", ".join(f"{_SQLITE_COLUMNS.get(field, field)}{' DESC' if order == DESC else ''}"
                                for field, order in index.fields)
            unique = "UNIQUE " if index.unique else ""
            statements.append(f"CREATE {unique}INDEX IF NOT EXISTS {table}_{index.name} ON {table} ({columns})")
    return statements


def mongo_specs() -> dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]]:
    """(keys, options) per collection for ``create_index``."""
    return {
        table: [(list(index.fields), {"name": index.name, **({"unique": True} if index.unique else {})})
                for index in indexes]
        for table, indexes in INDEXES.items()
    }
