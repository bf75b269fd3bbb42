"""SQLite schema and the mapping between rows and domain records.

Times are integer milliseconds since the epoch (UTC): they sort and compare as numbers and keep the
same precision as MongoDB dates. Lists and dicts are JSON text.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, date, datetime, timedelta
from typing import Any

from services.core.catalog.rules import json_safe, utc_ms
from services.core.domain import (
    Action,
    Box,
    FaceLabelState,
    FaceRecord,
    ImageRecord,
    Job,
    Person,
    PersonDetails,
    Point,
    ReviewHint,
)

SCHEMA_VERSION = 6

SCHEMA = """
CREATE TABLE IF NOT EXISTS images (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    content_type TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    attempts INTEGER NOT NULL,
    face_count INTEGER NOT NULL,
    uploaded_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    taken_at INTEGER
);

CREATE TABLE IF NOT EXISTS faces (
    id TEXT PRIMARY KEY,
    image_id TEXT NOT NULL,
    box_left INTEGER NOT NULL,
    box_top INTEGER NOT NULL,
    box_width INTEGER NOT NULL,
    box_height INTEGER NOT NULL,
    landmarks TEXT NOT NULL,
    detection_score REAL NOT NULL,
    origin TEXT NOT NULL,
    descriptor TEXT,
    chip_key TEXT,
    person_id TEXT,
    label_source TEXT,
    model_version TEXT,
    confidence REAL,
    labelled_at INTEGER,
    created_at INTEGER NOT NULL,
    quality REAL,
    detector TEXT,
    descriptor_model TEXT,
    labelled_by TEXT,
    label_via TEXT,
    not_person_ids TEXT NOT NULL DEFAULT '[]',
    review_score REAL,
    review_reason TEXT,
    nearest_id TEXT,
    runner_up_id TEXT
);

CREATE TABLE IF NOT EXISTS people (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    name_key TEXT NOT NULL UNIQUE,
    created_at INTEGER NOT NULL,
    never_tag INTEGER NOT NULL DEFAULT 0,
    chosen_cover_id TEXT,
    hidden INTEGER NOT NULL DEFAULT 0,
    active_from TEXT,
    active_to TEXT
);

-- Pairs of people someone said are not the same person (never offered for merging again): first < second.
CREATE TABLE IF NOT EXISTS people_not_same (
    first_id TEXT NOT NULL,
    second_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (first_id, second_id)
);

CREATE TABLE IF NOT EXISTS actions (
    id TEXT PRIMARY KEY,
    actor TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    undone_at INTEGER,
    body TEXT NOT NULL
);

-- Images per status, kept by triggers in the writing transaction (exact under concurrent writers, read
-- without counting the library). Indexes are in catalog/indexes.py.
CREATE TABLE IF NOT EXISTS image_counts (
    status TEXT PRIMARY KEY,
    n INTEGER NOT NULL
);

-- Faces and photos per person, kept by triggers like image_counts: the people list reads a page's counts
-- without counting their faces. A person without faces has no row.
CREATE TABLE IF NOT EXISTS person_counts (
    person_id TEXT PRIMARY KEY,
    faces INTEGER NOT NULL,
    images INTEGER NOT NULL
) WITHOUT ROWID;

-- A person's faces on one photo: the row lives while they have a face there, so its inserts and deletes
-- are their photo count's steps.
CREATE TABLE IF NOT EXISTS person_images (
    person_id TEXT NOT NULL,
    image_id TEXT NOT NULL,
    faces INTEGER NOT NULL,
    PRIMARY KEY (person_id, image_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    progress REAL NOT NULL,
    message TEXT NOT NULL,
    params TEXT NOT NULL,
    result TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"""

# Triggers hold semicolons, so they are run one by one rather than split out of SCHEMA.
COUNT_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS image_counted AFTER INSERT ON images BEGIN "
    "UPDATE image_counts SET n = n + 1 WHERE status = NEW.status; END",
    "CREATE TRIGGER IF NOT EXISTS image_uncounted AFTER DELETE ON images BEGIN "
    "UPDATE image_counts SET n = n - 1 WHERE status = OLD.status; END",
    "CREATE TRIGGER IF NOT EXISTS image_recounted AFTER UPDATE OF status ON images "
    "WHEN NEW.status != OLD.status BEGIN "
    "UPDATE image_counts SET n = n - 1 WHERE status = OLD.status; "
    "UPDATE image_counts SET n = n + 1 WHERE status = NEW.status; END",
)


def _face_counted(row: str) -> str:
    """Statements counting face ``row`` (NEW or OLD) for its person. No ON CONFLICT clauses: inside a trigger
    the firing statement's conflict policy would replace theirs."""
    person, pair = f"{row}.person_id", f"person_id = {row}.person_id AND image_id = {row}.image_id"
    return (
        f"INSERT INTO person_counts (person_id, faces, images) SELECT {person}, 0, 0 WHERE {person} IS NOT NULL "
        f"AND NOT EXISTS (SELECT 1 FROM person_counts WHERE person_id = {person}); "
        f"UPDATE person_counts SET faces = faces + 1 WHERE person_id = {person}; "
        f"INSERT INTO person_images (person_id, image_id, faces) SELECT {person}, {row}.image_id, 0 "
        f"WHERE {person} IS NOT NULL AND NOT EXISTS (SELECT 1 FROM person_images WHERE {pair}); "
        f"UPDATE person_images SET faces = faces + 1 WHERE {pair}; "
    )


def _face_uncounted(row: str) -> str:
    """Statements taking face ``row`` off its person's counts; rows that reach zero go."""
    person, pair = f"{row}.person_id", f"person_id = {row}.person_id AND image_id = {row}.image_id"
    return (
        f"UPDATE person_images SET faces = faces - 1 WHERE {pair}; "
        f"DELETE FROM person_images WHERE {pair} AND faces = 0; "
        f"UPDATE person_counts SET faces = faces - 1 WHERE person_id = {person}; "
        f"DELETE FROM person_counts WHERE person_id = {person} AND faces = 0; "
    )


# Faces and photos per person (person_counts, person_images). Faces are upserted with ON CONFLICT DO UPDATE,
# never INSERT OR REPLACE: REPLACE's implicit delete fires no DELETE trigger unless recursive_triggers is on.
# Trigger name -> statement; the catalog counts afresh on open when any is missing (a file made before them).
PERSON_COUNT_TRIGGERS = {
    "person_image_counted": "CREATE TRIGGER IF NOT EXISTS person_image_counted AFTER INSERT ON person_images BEGIN "
                            "UPDATE person_counts SET images = images + 1 WHERE person_id = NEW.person_id; END",
    "person_image_uncounted": "CREATE TRIGGER IF NOT EXISTS person_image_uncounted AFTER DELETE ON person_images "
                              "BEGIN UPDATE person_counts SET images = images - 1 WHERE person_id = OLD.person_id; END",
    "person_face_counted": "CREATE TRIGGER IF NOT EXISTS person_face_counted AFTER INSERT ON faces "
                           f"WHEN NEW.person_id IS NOT NULL BEGIN {_face_counted('NEW')}END",
    "person_face_uncounted": "CREATE TRIGGER IF NOT EXISTS person_face_uncounted AFTER DELETE ON faces "
                             f"WHEN OLD.person_id IS NOT NULL BEGIN {_face_uncounted('OLD')}END",
    "person_face_recounted": "CREATE TRIGGER IF NOT EXISTS person_face_recounted AFTER UPDATE OF person_id, image_id "
                             "ON faces WHEN OLD.person_id IS NOT NEW.person_id OR OLD.image_id IS NOT NEW.image_id "
                             f"BEGIN {_face_uncounted('OLD')}{_face_counted('NEW')}END",
}
# Counting afresh: the photos first, then the people from them (the triggers are not there yet).
PERSON_COUNT_BACKFILL = (
    "DELETE FROM person_images",
    "DELETE FROM person_counts",
    "INSERT INTO person_images (person_id, image_id, faces) SELECT person_id, image_id, COUNT(*) FROM faces "
    "WHERE person_id IS NOT NULL GROUP BY person_id, image_id",
    "INSERT INTO person_counts (person_id, faces, images) SELECT person_id, SUM(faces), COUNT(*) FROM person_images "
    "GROUP BY person_id",
)

IMAGE_COLUMNS = (
    "id, sha256, filename, content_type, width, height, size_bytes, status, error, attempts, face_count, "
    "uploaded_at, updated_at, taken_at"
)
FACE_COLUMNS = (
    "id, image_id, box_left, box_top, box_width, box_height, landmarks, detection_score, origin, descriptor, "
    "chip_key, person_id, label_source, model_version, confidence, labelled_at, created_at, quality, detector, "
    "descriptor_model, labelled_by, label_via, not_person_ids, review_score, review_reason, nearest_id, runner_up_id"
)
# Columns added after the first release: table -> (name, type), added to older databases on open.
ADDED_COLUMNS = {
    "faces": (("quality", "REAL"), ("detector", "TEXT"), ("descriptor_model", "TEXT"), ("labelled_by", "TEXT"),
              ("label_via", "TEXT"), ("not_person_ids", "TEXT NOT NULL DEFAULT '[]'"), ("review_score", "REAL"),
              ("review_reason", "TEXT"), ("nearest_id", "TEXT"), ("runner_up_id", "TEXT")),
    "people": (("never_tag", "INTEGER NOT NULL DEFAULT 0"), ("chosen_cover_id", "TEXT"),
               ("hidden", "INTEGER NOT NULL DEFAULT 0"), ("active_from", "TEXT"), ("active_to", "TEXT")),
    "images": (("taken_at", "INTEGER"),),
}
JOB_COLUMNS = "id, kind, state, progress, message, params, result, created_at, updated_at"


def _placeholders(columns: str) -> str:
    return ", ".join("?" for _ in columns.split(","))


INSERT_IMAGE = f"INSERT INTO images ({IMAGE_COLUMNS}) VALUES ({_placeholders(IMAGE_COLUMNS)})"
SELECT_IMAGES = f"SELECT {IMAGE_COLUMNS} FROM images"
# add_face and re-detection upsert faces by id: an UPDATE when the id exists, so the count triggers see it.
UPSERT_FACE = (f"INSERT INTO faces ({FACE_COLUMNS}) VALUES ({_placeholders(FACE_COLUMNS)}) ON CONFLICT (id) DO UPDATE "
               f"SET {', '.join(f'{c} = excluded.{c}' for c in FACE_COLUMNS.replace(' ', '').split(',')[1:])}")
SELECT_FACES = f"SELECT {FACE_COLUMNS} FROM faces"
SELECT_FACES_NO_DESCRIPTOR = SELECT_FACES.replace(" descriptor,", " NULL AS descriptor,", 1)
PERSON_COLUMNS = "id, name, created_at, never_tag, chosen_cover_id, hidden, active_from, active_to"
SELECT_PEOPLE = f"SELECT {PERSON_COLUMNS} FROM people"
# IGNORE: creating a job again with the same id changes nothing.
INSERT_JOB = f"INSERT OR IGNORE INTO jobs ({JOB_COLUMNS}) VALUES ({_placeholders(JOB_COLUMNS)})"
SELECT_JOBS = f"SELECT {JOB_COLUMNS} FROM jobs"
FORGET_LABEL = ("person_id = NULL, label_source = NULL, model_version = NULL, confidence = NULL, labelled_at = NULL, "
                "labelled_by = NULL, label_via = NULL")
LABEL_STATE_COLUMNS = ("person_id", "label_source", "model_version", "confidence", "labelled_at", "labelled_by",
                       "label_via", "not_person_ids", "review_score", "review_reason", "nearest_id", "runner_up_id")


def to_ms(moment: datetime | None) -> int | None:
    return None if moment is None else utc_ms(moment)


def from_ms(value: int | None) -> datetime | None:
    return None if value is None else datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=value)


def _when(value: int) -> datetime:
    moment = from_ms(value)
    assert moment is not None
    return moment


def image_values(image: ImageRecord) -> tuple[Any, ...]:
    return (
        image.id, image.sha256, image.filename, image.content_type, image.width, image.height,
        image.size_bytes, image.status.value, image.error, image.attempts, image.face_count,
        to_ms(image.uploaded_at), to_ms(image.updated_at), to_ms(image.taken_at),
    )  # fmt: skip


def image_from_row(row: sqlite3.Row) -> ImageRecord:
    return ImageRecord(
        id=row["id"], sha256=row["sha256"], filename=row["filename"], content_type=row["content_type"],
        width=row["width"], height=row["height"], size_bytes=row["size_bytes"], status=row["status"],
        error=row["error"], attempts=row["attempts"], face_count=row["face_count"],
        uploaded_at=_when(row["uploaded_at"]), updated_at=_when(row["updated_at"]), taken_at=from_ms(row["taken_at"]),
    )  # fmt: skip


def face_values(face: FaceRecord) -> tuple[Any, ...]:
    return (
        face.id, face.image_id, face.box.left, face.box.top, face.box.width, face.box.height,
        json.dumps([[p.x, p.y] for p in face.landmarks]), face.detection_score, face.origin.value,
        None if face.descriptor is None else json.dumps(face.descriptor), face.chip_key, face.person_id,
        None if face.label_source is None else face.label_source.value, face.model_version, face.confidence,
        to_ms(face.labelled_at), to_ms(face.created_at), face.quality, face.detector, face.descriptor_model,
        face.labelled_by, None if face.label_via is None else face.label_via.value, json.dumps(face.not_person_ids),
        *review_values(face.review),
    )  # fmt: skip


def face_from_row(row: sqlite3.Row) -> FaceRecord:
    box = Box(left=row["box_left"], top=row["box_top"], width=row["box_width"], height=row["box_height"])
    descriptor = row["descriptor"]
    return FaceRecord(
        id=row["id"], image_id=row["image_id"], box=box,
        landmarks=[Point(x=x, y=y) for x, y in json.loads(row["landmarks"])],
        detection_score=row["detection_score"], origin=row["origin"],
        descriptor=None if descriptor is None else json.loads(descriptor), chip_key=row["chip_key"],
        person_id=row["person_id"], label_source=row["label_source"], model_version=row["model_version"],
        confidence=row["confidence"], labelled_at=from_ms(row["labelled_at"]),
        created_at=_when(row["created_at"]), quality=row["quality"], detector=row["detector"],
        descriptor_model=row["descriptor_model"], labelled_by=row["labelled_by"], label_via=row["label_via"],
        not_person_ids=json.loads(row["not_person_ids"]), review=review_from_row(row),
    )  # fmt: skip


def review_values(review: ReviewHint | None) -> tuple[Any, ...]:
    """(review_score, review_reason, nearest_id, runner_up_id)."""
    if review is None:
        return None, None, None, None
    return review.score, review.reason.value, review.nearest_id, review.runner_up_id


def review_from_row(row: sqlite3.Row) -> ReviewHint | None:
    if row["review_score"] is None:
        return None
    return ReviewHint(score=row["review_score"], reason=row["review_reason"], nearest_id=row["nearest_id"],
                      runner_up_id=row["runner_up_id"])


def label_state_values(state: FaceLabelState) -> tuple[Any, ...]:
    """In LABEL_STATE_COLUMNS order."""
    return (
        state.person_id, None if state.label_source is None else state.label_source.value, state.model_version,
        state.confidence, to_ms(state.labelled_at), state.labelled_by,
        None if state.label_via is None else state.label_via.value, json.dumps(state.not_person_ids),
        *review_values(state.review),
    )  # fmt: skip


def person_from_row(row: sqlite3.Row) -> Person:
    return Person(id=row["id"], name=row["name"], created_at=_when(row["created_at"]),
                  never_tag=bool(row["never_tag"]), chosen_cover_id=row["chosen_cover_id"], hidden=bool(row["hidden"]),
                  active_from=row["active_from"], active_to=row["active_to"])


def details_values(details: PersonDetails) -> tuple[Any, ...]:
    return (details.chosen_cover_id, int(details.hidden), _iso(details.active_from), _iso(details.active_to))


def _iso(day: date | None) -> str | None:
    return None if day is None else day.isoformat()


def job_values(job: Job) -> tuple[Any, ...]:
    params, result = json.dumps(json_safe(job.params)), json.dumps(json_safe(job.result))
    return (
        job.id, job.kind, job.state.value, job.progress, job.message, params, result,
        to_ms(job.created_at), to_ms(job.updated_at),
    )  # fmt: skip


def job_from_row(row: sqlite3.Row) -> Job:
    return Job(
        id=row["id"], kind=row["kind"], state=row["state"], progress=row["progress"], message=row["message"],
        params=json.loads(row["params"]), result=json.loads(row["result"]),
        created_at=_when(row["created_at"]), updated_at=_when(row["updated_at"]),
    )  # fmt: skip


def action_from_row(row: sqlite3.Row) -> Action:
    """The body holds the action as saved; undone_at lives in its own column, the one that changes."""
    action = Action.model_validate_json(row["body"])
    action.undone_at = from_ms(row["undone_at"])
    return action
