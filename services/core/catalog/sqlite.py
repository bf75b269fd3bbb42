"""The embedded catalog: one SQLite file shared by the gateway and the worker processes (see sqlite_base)."""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from typing import Any

import aiosqlite

from services.core.catalog import sqlite_rows as rows
from services.core.catalog.base import Catalog, FaceQuery
from services.core.catalog.indexes import sqlite_statements
from services.core.catalog.rules import (
    UNFINISHED_STATUSES,
    PersonPair,
    clean_person_name,
    json_safe,
    mentions,
    name_key,
    name_key_changes,
    pair_of,
    plan_redetection,
    provisional_key,
    within_dates,
)
from services.core.catalog.sqlite_base import SQLiteBase
from services.core.cursors import FaceKey, NewestKey, OldestKey, PersonKey, ReviewKey, cut, image_key
from services.core.domain import (
    Action,
    FaceLabelState,
    FaceRecord,
    ImageQuery,
    ImageRecord,
    ImageStatus,
    Job,
    JobState,
    LabelSource,
    LabelVia,
    Page,
    PeopleQuery,
    Person,
    PersonDetails,
    PersonSummary,
    Point,
    ReviewHint,
    new_id,
    utcnow,
)
from services.core.errors import Conflict, NotFound

RARE_PERSON = 2000  # faces: a person in fewer is searched through their faces, else by walking the gallery


class SQLiteCatalog(SQLiteBase, Catalog):
    SCHEMA = rows.SCHEMA
    WHAT = "SQLite catalog"

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        for table, added in rows.ADDED_COLUMNS.items():
            present = {row["name"] for row in await self._all(db, f"PRAGMA table_info({table})", ())}
            for column, kind in added:
                if column not in present:
                    await db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        await self._migrate_name_keys(db)
        for statement in sqlite_statements():
            await db.execute(statement)
        await self._start_counts(db)
        await db.execute(f"PRAGMA user_version = {rows.SCHEMA_VERSION}")

    async def _start_counts(self, db: aiosqlite.Connection) -> None:
        """Count images per status once (a file from before the counters), then let the triggers keep it."""
        if await self._one(db, "SELECT 1 FROM image_counts LIMIT 1") is None:
            await db.execute("INSERT INTO image_counts (status, n) SELECT status, COUNT(*) FROM images GROUP BY status")
        await db.executemany("INSERT OR IGNORE INTO image_counts (status, n) VALUES (?, 0)",
                             [(status.value,) for status in ImageStatus])
        for trigger in rows.COUNT_TRIGGERS:
            await db.execute(trigger)
        await self._start_person_counts(db)

    async def _start_person_counts(self, db: aiosqlite.Connection) -> None:
        """Count faces and photos per person afresh when any of their triggers is missing (a file from before
        them: its faces were written uncounted), then create the triggers, in the same transaction."""
        names = tuple(rows.PERSON_COUNT_TRIGGERS)
        found = await self._all(db, f"SELECT name FROM sqlite_master WHERE type = 'trigger' AND name IN "
                                    f"({', '.join('?' for _ in names)})", names)
        if len(found) == len(names):
            return
        for statement in rows.PERSON_COUNT_BACKFILL:
            await db.execute(statement)
        for trigger in rows.PERSON_COUNT_TRIGGERS.values():
            await db.execute(trigger)

    # --- name keys (migration) ---
    async def _migrate_name_keys(self, db: aiosqlite.Connection) -> None:
        """Recompute every person's name key with today's rule; people whose names now share a key are both
        kept (the later one gets a distinct key) to be offered for merging. Cheap: one read when up to date."""
        people = await self._all(db, "SELECT id, name, name_key FROM people ORDER BY created_at, id")
        changes = name_key_changes([(row["id"], row["name"], row["name_key"]) for row in people])
        # Two steps so no two people hold one key in between (the column is unique).
        await db.executemany("UPDATE people SET name_key = ? WHERE id = ?",
                             [(provisional_key(person_id), person_id) for person_id in changes])
        await db.executemany("UPDATE people SET name_key = ? WHERE id = ?",
                             [(key, person_id) for person_id, key in changes.items()])
    # --- end of name keys ---

    # images

    async def add_image(self, image: ImageRecord) -> tuple[ImageRecord, bool]:
        async with self._session(write=True) as db:
            same = await self._one(db, f"{rows.SELECT_IMAGES} WHERE sha256 = ?", (image.sha256,))
            if same is not None:
                return rows.image_from_row(same), False
            if await self._one(db, "SELECT 1 FROM images WHERE id = ?", (image.id,)) is not None:
                raise Conflict(f"image id {image.id} is already used by different content")
            await db.execute(rows.INSERT_IMAGE, rows.image_values(image))
            stored = await self._one(db, f"{rows.SELECT_IMAGES} WHERE id = ?", (image.id,))
        assert stored is not None
        return rows.image_from_row(stored), True

    async def add_many(self, images: list[ImageRecord], faces: list[FaceRecord]) -> None:
        counts = Counter(face.image_id for face in faces)
        async with self._session(write=True) as db:
            counted = [image.model_copy(update={"face_count": counts[image.id]}) for image in images]
            await db.executemany(rows.INSERT_IMAGE, [rows.image_values(image) for image in counted])
            await db.executemany(rows.UPSERT_FACE, [rows.face_values(face) for face in faces])

    async def get_image(self, image_id: str) -> ImageRecord | None:
        async with self._session() as db:
            row = await self._one(db, f"{rows.SELECT_IMAGES} WHERE id = ?", (image_id,))
        return None if row is None else rows.image_from_row(row)

    async def images_by_sha256(self, digests: list[str]) -> list[ImageRecord]:
        if not digests:
            return []
        marks = ", ".join("?" * len(digests))
        async with self._session() as db:
            found = await self._all(db, f"{rows.SELECT_IMAGES} WHERE sha256 IN ({marks})", tuple(digests))
        return [rows.image_from_row(row) for row in found]

    async def set_image_status(
        self, image_id: str, status: ImageStatus, error: str | None = None, *, count_attempt: bool = False
    ) -> None:
        sql = "UPDATE images SET status = ?, error = ?, updated_at = ?, attempts = attempts + ? WHERE id = ?"
        params = (ImageStatus(status).value, error, rows.to_ms(utcnow()), int(count_attempt), image_id)
        async with self._session(write=True) as db:
            cursor = await db.execute(sql, params)
            if cursor.rowcount == 0:
                raise NotFound(f"no image with id {image_id}")

    async def list_images(self, query: ImageQuery) -> Page[ImageRecord]:
        async with self._session() as db:
            where, params = self._image_filter(query, await self._rare_person(db, query.person_ids))
            if query.after is not None:
                where += " AND (uploaded_at, id) < (?, ?)"
                params = (*params, rows.to_ms(query.after.at), query.after.id)
            sql = f"{rows.SELECT_IMAGES} WHERE {where} ORDER BY uploaded_at DESC, id DESC LIMIT ?"
            found = await self._all(db, sql, (*params, query.limit + 1))  # one more: is there a next page?
        items, after = cut([rows.image_from_row(row) for row in found], query.limit, image_key)
        return Page[ImageRecord](items=items, next_cursor=after)

    async def image_counts(self) -> dict[ImageStatus, int]:
        async with self._session() as db:
            found = await self._all(db, "SELECT status, n FROM image_counts")
        counts = {status: 0 for status in ImageStatus}
        counts.update({ImageStatus(row["status"]): int(row["n"]) for row in found})
        return counts

    async def _rare_person(self, db: aiosqlite.Connection, person_ids: list[str]) -> str | None:
        """The searched person in fewest faces, if they are in at most RARE_PERSON (each count stops there).

        A person in few photos is best read from their faces and sorted (walking the gallery newest first would
        pass most of the library before finding a page of them); a person in many is best found by walking the
        gallery newest first (a page of them comes soon). SQLite's planner cannot tell the two apart."""
        counted = []
        for person_id in dict.fromkeys(person_ids):
            row = await self._one(db, "SELECT COUNT(*) FROM (SELECT 1 FROM faces WHERE person_id = ? LIMIT ?)",
                                  (person_id, RARE_PERSON + 1))
            counted.append((int(row[0]) if row else 0, person_id))
        return min(counted)[1] if counted and min(counted)[0] <= RARE_PERSON else None

    @staticmethod
    def _image_filter(query: ImageQuery, rare_person: str | None) -> tuple[str, tuple[Any, ...]]:
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        if query.status is not None:
            clauses.append("status = ?")
            params.append(ImageStatus(query.status).value)
        for person_id in dict.fromkeys(query.person_ids):
            if person_id == rare_person:  # their photos, through their faces, then sorted
                clauses.append("images.id IN (SELECT image_id FROM faces WHERE person_id = ?)")
            else:
                clauses.append("EXISTS (SELECT 1 FROM faces f WHERE f.person_id = ? AND f.image_id = images.id)")
            params.append(person_id)
        if query.has_unknown is not None:
            exists = "EXISTS (SELECT 1 FROM faces f WHERE f.person_id IS NULL AND f.image_id = images.id)"
            clauses.append(exists if query.has_unknown else f"NOT {exists}")
        if query.uploaded_from is not None:
            clauses.append("uploaded_at >= ?")
            params.append(rows.to_ms(query.uploaded_from))
        if query.uploaded_to is not None:
            clauses.append("uploaded_at <= ?")
            params.append(rows.to_ms(query.uploaded_to))
        return " AND ".join(clauses), tuple(params)

    async def stalled_images(self, updated_before: datetime) -> list[ImageRecord]:
        sql = f"{rows.SELECT_IMAGES} WHERE status IN (?, ?, ?) AND updated_at < ? ORDER BY updated_at, id"
        async with self._session() as db:
            found = await self._all(db, sql, (*UNFINISHED_STATUSES, rows.to_ms(updated_before)))
        return [rows.image_from_row(row) for row in found]

    async def delete_image(self, image_id: str) -> bool:
        async with self._session(write=True) as db:
            await db.execute("DELETE FROM faces WHERE image_id = ?", (image_id,))
            cursor = await db.execute("DELETE FROM images WHERE id = ?", (image_id,))
            return cursor.rowcount > 0

    # faces

    async def _require_image(self, db: aiosqlite.Connection, image_id: str) -> None:
        if await self._one(db, "SELECT 1 FROM images WHERE id = ?", (image_id,)) is None:
            raise NotFound(f"no image with id {image_id}")

    async def _require_person(self, db: aiosqlite.Connection, person_id: str | None) -> None:
        if person_id is not None and not await self._person_exists(db, person_id):
            raise NotFound(f"no person with id {person_id}")

    async def _person_exists(self, db: aiosqlite.Connection, person_id: str) -> bool:
        return await self._one(db, "SELECT 1 FROM people WHERE id = ?", (person_id,)) is not None

    @staticmethod
    async def _count_faces(db: aiosqlite.Connection, image_id: str) -> None:
        sql = "UPDATE images SET face_count = (SELECT COUNT(*) FROM faces WHERE image_id = ?) WHERE id = ?"
        await db.execute(sql, (image_id, image_id))

    async def _faces_of(self, db: aiosqlite.Connection, image_id: str) -> list[FaceRecord]:
        sql = f"{rows.SELECT_FACES} WHERE image_id = ? ORDER BY box_left, id"
        return [rows.face_from_row(row) for row in await self._all(db, sql, (image_id,))]

    async def _face(self, db: aiosqlite.Connection, face_id: str) -> FaceRecord | None:
        row = await self._one(db, f"{rows.SELECT_FACES} WHERE id = ?", (face_id,))
        return None if row is None else rows.face_from_row(row)

    async def replace_detected_faces(self, image_id: str, faces: list[FaceRecord]) -> list[FaceRecord]:
        async with self._session(write=True) as db:
            await self._require_image(db, image_id)
            plan = plan_redetection(image_id, await self._faces_of(db, image_id), faces)
            await db.executemany("DELETE FROM faces WHERE id = ?", [(face,) for face in plan.delete_ids])
            await db.executemany(rows.UPSERT_FACE, [rows.face_values(face) for face in plan.insert])
            await self._count_faces(db, image_id)
            return await self._faces_of(db, image_id)

    async def add_face(self, face: FaceRecord) -> FaceRecord:
        async with self._session(write=True) as db:
            await self._require_image(db, face.image_id)
            await self._require_person(db, face.person_id)
            earlier = await self._face(db, face.id)
            await db.execute(rows.UPSERT_FACE, rows.face_values(face))
            await self._count_faces(db, face.image_id)
            if earlier is not None and earlier.image_id != face.image_id:
                await self._count_faces(db, earlier.image_id)
            stored = await self._face(db, face.id)
        assert stored is not None
        return stored

    async def get_face(self, face_id: str) -> FaceRecord | None:
        async with self._session() as db:
            return await self._face(db, face_id)

    async def list_faces(self, query: FaceQuery) -> list[FaceRecord]:
        sql, params = faces_select(query)
        async with self._session() as db:
            found = await self._all(db, sql, params)
        return [rows.face_from_row(row) for row in found]

    async def set_face_analysis(self, face_id: str, descriptor: list[float], chip_key: str,
                                descriptor_model: str | None = None, *, quality: float | None = None,
                                landmarks: list[Point] | None = None) -> None:
        sql = ("UPDATE faces SET descriptor = ?, chip_key = ?, descriptor_model = ?, quality = COALESCE(?, quality), "
               "landmarks = COALESCE(?, landmarks) WHERE id = ?")
        marks = None if landmarks is None else json.dumps([[p.x, p.y] for p in landmarks])
        async with self._session(write=True) as db:
            cursor = await db.execute(sql, (json.dumps([float(v) for v in descriptor]), chip_key, descriptor_model,
                                            quality, marks, face_id))
            if cursor.rowcount == 0:
                raise NotFound(f"no face with id {face_id}")

    async def set_model_label(self, face_id: str, person_id: str | None, model_version: str, confidence: float,
                              review: ReviewHint | None = None) -> bool:
        sql = (
            "UPDATE faces SET person_id = ?, label_source = ?, model_version = ?, confidence = ?, "
            "labelled_at = ?, labelled_by = NULL, label_via = NULL, review_score = ?, review_reason = ?, "
            "nearest_id = ?, runner_up_id = ? WHERE id = ? AND (label_source IS NULL OR label_source != ?)"
        )
        async with self._session(write=True) as db:
            if person_id is not None and not await self._may_name(db, face_id, person_id):
                person_id = None
            params = (
                person_id, LabelSource.model.value, model_version, confidence, rows.to_ms(utcnow()),
                *rows.review_values(review), face_id, LabelSource.person.value,
            )  # fmt: skip
            cursor = await db.execute(sql, params)
            if cursor.rowcount:
                return True
            if await self._one(db, "SELECT 1 FROM faces WHERE id = ?", (face_id,)) is None:
                raise NotFound(f"no face with id {face_id}")
            return False

    async def _may_name(self, db: aiosqlite.Connection, face_id: str, person_id: str) -> bool:
        """Whether a model may name this face this person: they exist, have not opted out, no person said the face
        is not them, and the photo was not taken outside their dates."""
        person_row = await self._one(db, f"{rows.SELECT_PEOPLE} WHERE id = ? AND never_tag = 0", (person_id,))
        face = await self._face(db, face_id)
        if person_row is None or face is None or person_id in face.not_person_ids:
            return False
        taken = await self._one(db, "SELECT taken_at FROM images WHERE id = ?", (face.image_id,))
        return within_dates(rows.person_from_row(person_row), rows.from_ms(taken["taken_at"]) if taken else None)

    async def set_person_label(self, face_id: str, person_id: str | None, *, by: str | None = None,
                               via: LabelVia | None = None) -> FaceRecord:
        def named(face: FaceRecord) -> FaceLabelState:
            return FaceLabelState(id=face_id, person_id=person_id, label_source=LabelSource.person,
                                  labelled_at=utcnow(), labelled_by=by, label_via=via,
                                  not_person_ids=[p for p in face.not_person_ids if p != person_id])

        return await self._relabel(face_id, person_id, named)

    async def add_not_person(self, face_id: str, person_id: str, *, by: str | None = None,
                             via: LabelVia | None = None) -> FaceRecord:
        def not_them(face: FaceRecord) -> FaceLabelState:
            state = face.label_state()
            if person_id not in state.not_person_ids:
                state.not_person_ids.append(person_id)
            if face.person_id == person_id:
                state = FaceLabelState(id=face_id, labelled_by=by, label_via=via, not_person_ids=state.not_person_ids)
            return state

        return await self._relabel(face_id, person_id, not_them)

    async def _relabel(self, face_id: str, person_id: str | None,
                       change: Callable[[FaceRecord], FaceLabelState]) -> FaceRecord:
        """A person's change to one face's label, in one transaction; NotFound for an unknown face or person."""
        async with self._session(write=True) as db:
            await self._require_person(db, person_id)
            face = await self._face(db, face_id)
            if face is None:
                raise NotFound(f"no face with id {face_id}")
            await self._write_label_state(db, change(face))
            face = await self._face(db, face_id)
        assert face is not None
        return face

    @staticmethod
    async def _write_label_state(db: aiosqlite.Connection, state: FaceLabelState) -> int:
        assignments = ", ".join(f"{column} = ?" for column in rows.LABEL_STATE_COLUMNS)
        cursor = await db.execute(f"UPDATE faces SET {assignments} WHERE id = ?",
                                  (*rows.label_state_values(state), state.id))
        return int(cursor.rowcount)

    async def restore_face_labels(self, states: list[FaceLabelState]) -> int:
        async with self._session(write=True) as db:
            known = {row["id"] for row in await self._all(db, f"SELECT id FROM people WHERE id IN "
                                                              f"({', '.join('?' for _ in states) or 'NULL'})",
                                                          tuple(s.person_id for s in states))}
            restored = 0
            for state in states:
                if state.person_id is not None and state.person_id not in known:
                    state = FaceLabelState(id=state.id, not_person_ids=state.not_person_ids)
                restored += await self._write_label_state(db, state)
        return restored

    async def delete_face(self, face_id: str) -> bool:
        async with self._session(write=True) as db:
            face = await self._face(db, face_id)
            if face is None:
                return False
            await db.execute("DELETE FROM faces WHERE id = ?", (face_id,))
            await self._count_faces(db, face.image_id)
        return True

    # people

    async def create_person(self, name: str) -> Person:
        person = Person(id=new_id(), name=clean_person_name(name), created_at=utcnow())
        sql = "INSERT INTO people (id, name, name_key, created_at) VALUES (?, ?, ?, ?)"
        params = (person.id, person.name, name_key(person.name), rows.to_ms(person.created_at))
        async with self._session(write=True) as db:
            try:
                await db.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"a person named {person.name!r} already exists") from exc
        return person

    async def get_person(self, person_id: str) -> Person | None:
        async with self._session() as db:
            row = await self._one(db, f"{rows.SELECT_PEOPLE} WHERE id = ?", (person_id,))
        return None if row is None else rows.person_from_row(row)

    async def all_people(self) -> list[Person]:
        async with self._session() as db:
            found = await self._all(db, f"{rows.SELECT_PEOPLE} ORDER BY name_key, id")
        return [rows.person_from_row(row) for row in found]

    async def get_people(self, person_ids: list[str]) -> list[Person]:
        marks = ", ".join("?" for _ in person_ids) or "NULL"
        async with self._session() as db:
            found = await self._all(db, f"{rows.SELECT_PEOPLE} WHERE id IN ({marks})", tuple(person_ids))
        return [rows.person_from_row(row) for row in found]

    async def find_person(self, name: str) -> Person | None:
        async with self._session() as db:
            row = await self._one(db, f"{rows.SELECT_PEOPLE} WHERE name_key = ?", (name_key(name),))
        return None if row is None else rows.person_from_row(row)

    async def people_page(self, query: PeopleQuery) -> Page[PersonSummary]:
        clauses, params = ["1 = 1"], []
        if query.after is not None:
            clauses.append("(name_key, id) > (?, ?)")
            params += [query.after.name_key, query.after.id]
        if not query.include_hidden:
            clauses.append("hidden = 0")
        if query.ids is not None:
            clauses.append(f"id IN ({', '.join('?' for _ in query.ids) or 'NULL'})")
            params += query.ids
        if query.name_contains:
            clauses.append("instr(name_key, ?) > 0")  # plain text: no LIKE wildcards to escape
            params.append(query.name_contains)
        limit = -1 if query.limit is None else query.limit + 1  # one more: is there a next page?
        # The page's people, their counters (kept by triggers) and their cover by index lookups: the cost follows
        # the page, not the library. Cover: the chosen face while it is still theirs, else the smallest id among
        # person-labelled faces, else the smallest id of any face (the smaller of the first model-labelled and
        # the first unlabelled one: the only other label sources).
        def first(source: str) -> str:
            return f"(SELECT id FROM faces WHERE person_id = p.id AND {source} ORDER BY id LIMIT 1)"

        model, unlabelled = first(f"label_source = '{LabelSource.model.value}'"), first("label_source IS NULL")
        sql = f"""
            SELECT p.id, p.name, p.name_key, p.created_at, p.never_tag, p.chosen_cover_id, p.hidden, p.active_from,
                   p.active_to, COALESCE(c.faces, 0) AS faces, COALESCE(c.images, 0) AS images,
                   CASE WHEN c.faces > 0 THEN COALESCE(
                       (SELECT id FROM faces WHERE id = p.chosen_cover_id AND person_id = p.id),
                       {first(f"label_source = '{LabelSource.person.value}'")},
                       (SELECT MIN(id) FROM faces WHERE id IN ({model}, {unlabelled}))) END AS cover
            FROM (SELECT * FROM people WHERE {' AND '.join(clauses)} ORDER BY name_key, id LIMIT ?) p
            LEFT JOIN person_counts c ON c.person_id = p.id
            ORDER BY p.name_key, p.id
        """
        async with self._session() as db:
            found = await self._all(db, sql, (*params, limit))
        page, after = cut(found, query.limit, lambda row: PersonKey(name_key=row["name_key"], id=row["id"]))
        items = [
            PersonSummary(
                **rows.person_from_row(row).model_dump(),
                face_count=row["faces"],
                image_count=row["images"],
                cover_face_id=row["cover"],
            )
            for row in page
        ]
        return Page[PersonSummary](items=items, next_cursor=after)

    async def rename_person(self, person_id: str, name: str) -> Person:
        cleaned = clean_person_name(name)
        async with self._session(write=True) as db:
            sql = "UPDATE people SET name = ?, name_key = ? WHERE id = ?"
            try:
                cursor = await db.execute(sql, (cleaned, name_key(cleaned), person_id))
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"a person named {cleaned!r} already exists") from exc
            if cursor.rowcount == 0:
                raise NotFound(f"no person with id {person_id}")
            row = await self._one(db, f"{rows.SELECT_PEOPLE} WHERE id = ?", (person_id,))
        assert row is not None
        return rows.person_from_row(row)

    async def set_never_tag(self, person_id: str, never_tag: bool) -> Person:
        async with self._session(write=True) as db:
            await db.execute("UPDATE people SET never_tag = ? WHERE id = ?", (int(never_tag), person_id))
            row = await self._one(db, f"{rows.SELECT_PEOPLE} WHERE id = ?", (person_id,))
            if row is None:
                raise NotFound(f"no person with id {person_id}")
            if never_tag:
                await db.execute("UPDATE faces SET person_id = NULL WHERE person_id = ? AND label_source = ?",
                                 (person_id, LabelSource.model.value))
        return rows.person_from_row(row)

    async def set_person_details(self, person_id: str, details: PersonDetails) -> Person:
        sql = "UPDATE people SET chosen_cover_id = ?, hidden = ?, active_from = ?, active_to = ? WHERE id = ?"
        async with self._session(write=True) as db:
            cursor = await db.execute(sql, (*rows.details_values(details), person_id))
            if cursor.rowcount == 0:
                raise NotFound(f"no person with id {person_id}")
            row = await self._one(db, f"{rows.SELECT_PEOPLE} WHERE id = ?", (person_id,))
        assert row is not None
        return rows.person_from_row(row)

    async def delete_person(self, person_id: str) -> bool:
        async with self._session(write=True) as db:
            cursor = await db.execute("DELETE FROM people WHERE id = ?", (person_id,))
            if cursor.rowcount == 0:
                return False
            await db.execute(f"UPDATE faces SET {rows.FORGET_LABEL} WHERE person_id = ?", (person_id,))
        return True

    async def restore_person(self, person: Person) -> Person:
        sql = ("INSERT INTO people (id, name, name_key, created_at, never_tag, chosen_cover_id, hidden, active_from, "
               "active_to) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET name = excluded.name, "
               "name_key = excluded.name_key, never_tag = excluded.never_tag, chosen_cover_id = "
               "excluded.chosen_cover_id, hidden = excluded.hidden, active_from = excluded.active_from, "
               "active_to = excluded.active_to")
        params = (person.id, person.name, name_key(person.name), rows.to_ms(person.created_at), int(person.never_tag),
                  *rows.details_values(person))
        async with self._session(write=True) as db:
            try:
                await db.execute(sql, params)
            except sqlite3.IntegrityError as exc:
                raise Conflict(f"a person named {person.name!r} exists again; rename them first") from exc
            row = await self._one(db, f"{rows.SELECT_PEOPLE} WHERE id = ?", (person.id,))
        assert row is not None
        return rows.person_from_row(row)

    async def merge_people(self, source_id: str, target_id: str) -> Person:
        async with self._session(write=True) as db:
            found = {
                row["id"]: row
                for row in await self._all(db, f"{rows.SELECT_PEOPLE} WHERE id IN (?, ?)", (source_id, target_id))
            }
            for person_id in (source_id, target_id):
                if person_id not in found:
                    raise NotFound(f"no person with id {person_id}")
            if source_id == target_id:
                raise Conflict("a person cannot be merged into themselves")
            await db.execute("UPDATE faces SET person_id = ? WHERE person_id = ?", (target_id, source_id))
            # "Not the source" becomes "not the target"; JSON lists are rewritten row by row (few faces have any).
            marked = await self._all(db, f"{rows.SELECT_FACES} WHERE not_person_ids LIKE ?", (f'%"{source_id}"%',))
            for face in map(rows.face_from_row, marked):
                state = face.label_state()
                state.not_person_ids = list(dict.fromkeys(target_id if p == source_id else p
                                                          for p in face.not_person_ids))
                await self._write_label_state(db, state)
            await db.execute("DELETE FROM people WHERE id = ?", (source_id,))
        return rows.person_from_row(found[target_id])

    async def mark_not_same(self, first_id: str, second_id: str) -> PersonPair:
        pair = pair_of(first_id, second_id)
        sql = "INSERT OR IGNORE INTO people_not_same (first_id, second_id, created_at) VALUES (?, ?, ?)"
        async with self._session(write=True) as db:
            await db.execute(sql, (*pair, rows.to_ms(utcnow())))
        return pair

    async def not_same_pairs(self) -> set[PersonPair]:
        async with self._session() as db:
            found = await self._all(db, "SELECT first_id, second_id FROM people_not_same")
        return {(row["first_id"], row["second_id"]) for row in found}

    async def erase_person_traces(self, person_id: str, face_ids: set[str]) -> list[str]:
        async with self._session(write=True) as db:
            actions = await self._all(db, "SELECT id, body FROM actions")
            gone = [row["id"] for row in actions if mentions(row["body"], {person_id, *face_ids})]
            await db.executemany("DELETE FROM actions WHERE id = ?", [(action_id,) for action_id in gone])
            marked = await self._all(db, f"{rows.SELECT_FACES} WHERE not_person_ids LIKE ?", (f'%"{person_id}"%',))
            for face in map(rows.face_from_row, marked):
                state = face.label_state()
                state.not_person_ids = [p for p in face.not_person_ids if p != person_id]
                await self._write_label_state(db, state)
            await db.execute("DELETE FROM people_not_same WHERE first_id = ? OR second_id = ?", (person_id, person_id))
        return gone

    # undoable actions

    async def add_action(self, action: Action) -> Action:
        sql = "INSERT OR IGNORE INTO actions (id, actor, created_at, undone_at, body) VALUES (?, ?, ?, ?, ?)"
        async with self._session(write=True) as db:
            await db.execute(sql, (action.id, action.actor, rows.to_ms(action.created_at),
                                   rows.to_ms(action.undone_at), action.model_dump_json()))
        return action

    async def get_action(self, action_id: str) -> Action | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT body, undone_at FROM actions WHERE id = ?", (action_id,))
        return None if row is None else rows.action_from_row(row)

    async def list_actions(self, actor: str | None, limit: int, after: NewestKey | None = None) -> list[Action]:
        found = await self._newest_first("body, undone_at", "actions", {"actor": actor}, after, limit)
        return [rows.action_from_row(row) for row in found]

    async def mark_action_undone(self, action_id: str) -> bool:
        sql = "UPDATE actions SET undone_at = ? WHERE id = ? AND undone_at IS NULL"
        async with self._session(write=True) as db:
            cursor = await db.execute(sql, (rows.to_ms(utcnow()), action_id))
        return cursor.rowcount > 0

    # jobs

    async def create_job(self, job: Job) -> Job:
        async with self._session(write=True) as db:
            await db.execute(rows.INSERT_JOB, rows.job_values(job))
            row = await self._one(db, f"{rows.SELECT_JOBS} WHERE id = ?", (job.id,))
        assert row is not None
        return rows.job_from_row(row)

    async def get_job(self, job_id: str) -> Job | None:
        async with self._session() as db:
            row = await self._one(db, f"{rows.SELECT_JOBS} WHERE id = ?", (job_id,))
        return None if row is None else rows.job_from_row(row)

    async def list_jobs(self) -> list[Job]:
        async with self._session() as db:
            found = await self._all(db, f"{rows.SELECT_JOBS} ORDER BY created_at, id")
        return [rows.job_from_row(row) for row in found]

    async def update_job(
        self,
        job_id: str,
        *,
        state: JobState | None = None,
        progress: float | None = None,
        message: str | None = None,
        result: dict[str, object] | None = None,
    ) -> Job:
        changes: dict[str, Any] = {"updated_at": rows.to_ms(utcnow())}
        if state is not None:
            changes["state"] = JobState(state).value
        if progress is not None:
            changes["progress"] = progress
        if message is not None:
            changes["message"] = message
        if result is not None:
            changes["result"] = json.dumps(json_safe(result))
        assignments = ", ".join(f"{column} = ?" for column in changes)  # column names are ours, not input
        async with self._session(write=True) as db:
            sql = f"UPDATE jobs SET {assignments} WHERE id = ?"
            cursor = await db.execute(sql, (*changes.values(), job_id))
            if cursor.rowcount == 0:
                raise NotFound(f"no job with id {job_id}")
            row = await self._one(db, f"{rows.SELECT_JOBS} WHERE id = ?", (job_id,))
        assert row is not None
        return rows.job_from_row(row)


def faces_select(query: FaceQuery) -> tuple[str, tuple[Any, ...]]:
    """The SELECT (and its parameters) that lists the faces ``query`` asks for, in its order."""
    clauses: list[str] = ["1 = 1"]
    params: list[Any] = []
    for column, value in (("image_id", query.image_id), ("person_id", query.person_id)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if query.image_ids is not None:
        clauses.append(f"image_id IN ({', '.join('?' for _ in query.image_ids) or 'NULL'})")
        params.extend(query.image_ids)
    if query.label_source is not None:
        clauses.append("label_source = ?")
        params.append(query.label_source)
    if query.unknown_only:
        clauses.append("person_id IS NULL")
    if query.with_descriptor:
        clauses.append("descriptor IS NOT NULL")
    if query.labelled_since is not None:
        clauses.append("labelled_at >= ?")
        params.append(rows.to_ms(query.labelled_since))
    if query.with_not_person:
        clauses.append("not_person_ids != '[]'")
    order = {FaceKey: "image_id, box_left, id", ReviewKey: "review_score DESC, id",
             OldestKey: "labelled_at, id"}[query.order]
    if query.to_review:
        clauses.append("review_score IS NOT NULL AND (label_source IS NULL OR label_source != 'person')")
    after = query.after
    if isinstance(after, FaceKey):
        clauses.append("(image_id, box_left, id) > (?, ?, ?)")
        params.extend((after.image_id, after.left, after.id))
    elif isinstance(after, OldestKey):
        clauses.append("(labelled_at, id) > (?, ?)")
        params.extend((rows.to_ms(after.at), after.id))
    elif after is not None:  # review order: score descending, then id ascending
        clauses.append("review_score <= ? AND (review_score < ? OR id > ?)")  # the first bounds the index
        params.extend((after.score, after.score, after.id))
    select = rows.SELECT_FACES if query.load_descriptor else rows.SELECT_FACES_NO_DESCRIPTOR
    return f"{select} WHERE {' AND '.join(clauses)} ORDER BY {order} LIMIT ?", (*params, query.limit)
