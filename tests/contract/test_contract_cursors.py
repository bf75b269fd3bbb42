"""Catalog contract, keyset pages: every list walked by cursor sees each row once, in order, with filters, while
rows are added ahead of the walk or deleted during it. Runs on every catalog implementation."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from contract_records import face, image

from services.core.catalog import Catalog, FaceQuery
from services.core.catalog import sqlite as sqlite_catalog
from services.core.catalog.paging import iter_faces
from services.core.cursors import (
    FaceKey,
    ImageKey,
    InvalidCursor,
    NewestKey,
    OldestKey,
    PersonKey,
    ReviewKey,
    decode,
    encode,
)
from services.core.domain import Action, ImageQuery, ImageStatus, PeopleQuery, ReviewHint, ReviewReason


async def _walk(catalog: Catalog, query: ImageQuery, between: object = None) -> list[str]:
    seen: list[str] = []
    while True:
        page = await catalog.list_images(query)
        seen.extend(i.id for i in page.items)
        if page.next_cursor is None:
            return seen
        if callable(between):
            await between(len(seen))
        query = query.model_copy(update={"after": decode(ImageKey, page.next_cursor)})


async def test_a_walk_sees_each_photo_once_while_newer_ones_arrive(catalog: Catalog) -> None:
    first = [(await catalog.add_image(image(n, minutes=n // 4)))[0] for n in range(30)]  # ties of four
    arrivals = iter(range(100, 200))

    async def upload_more(_: int) -> None:
        for _ in range(3):  # newer than everything: they land at the head, before the walk's cursor
            await catalog.add_image(image(next(arrivals), minutes=1000))

    seen = await _walk(catalog, ImageQuery(limit=4), upload_more)
    # Newest first, ties by id descending: exactly the 30, once each.
    assert seen == [i.id for i in sorted(first, key=lambda i: (i.uploaded_at, i.id), reverse=True)]
    assert len(set(seen)) == 30


async def test_a_walk_skips_photos_deleted_under_it_and_no_others(catalog: Catalog) -> None:
    records = [(await catalog.add_image(image(n, minutes=n // 2)))[0] for n in range(20)]
    newest_first = [i.id for i in sorted(records, key=lambda i: (i.uploaded_at, i.id), reverse=True)]
    ids = set(newest_first)
    gone: set[str] = set()

    async def delete_some(seen: int) -> None:
        # The photo the cursor points at (already seen) and one not reached yet.
        for image_id in (newest_first[seen - 1], newest_first[seen + 1]):
            if await catalog.delete_image(image_id):
                gone.add(image_id)

    seen = await _walk(catalog, ImageQuery(limit=5), delete_some)
    assert len(seen) == len(set(seen))
    assert set(seen) == ids - (gone - set(seen))  # nothing skipped but what was deleted before it was reached
    assert [i for i in newest_first if i in seen] == seen


async def test_cursor_walks_keep_every_filter(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    wanted: list[str] = []
    for n in range(12):
        record, _ = await catalog.add_image(image(n, minutes=n // 3))
        faces = [face(record.id, 10), face(record.id, 200)]
        await catalog.replace_detected_faces(record.id, faces)
        if n % 2 == 0:
            await catalog.set_person_label(faces[0].id, ann)
        if n % 3 != 0:
            await catalog.set_image_status(record.id, ImageStatus.done)
        if n % 2 == 0 and n % 3 != 0:
            wanted.append(record)
    query = ImageQuery(person_ids=[ann], status=ImageStatus.done, has_unknown=True, limit=1)
    assert await _walk(catalog, query) == [i.id for i in sorted(wanted, key=lambda i: (i.uploaded_at, i.id),
                                                                reverse=True)]
    dated = ImageQuery(uploaded_from=image(0, minutes=1).uploaded_at, uploaded_to=image(0, minutes=2).uploaded_at,
                       limit=2)
    assert len(await _walk(catalog, dated)) == 6


async def test_face_walks_see_each_face_once_in_face_order(catalog: Catalog) -> None:
    expected = []
    for n in range(6):
        record, _ = await catalog.add_image(image(n))
        expected += await catalog.replace_detected_faces(record.id, [face(record.id, x) for x in (300, 10, 10, 150)])
    walked = [f.id async for f in iter_faces(catalog, FaceQuery(), page_size=5)]
    assert walked == [f.id for f in sorted(expected, key=lambda f: (f.image_id, f.box.left, f.id))]

    # Deleting faces already passed and adding faces to photos already passed changes nothing for the walk.
    added, seen = [], []
    first_image = next(f.image_id for f in expected if f.id == walked[0])
    async for found in iter_faces(catalog, FaceQuery(), page_size=3):
        seen.append(found.id)
        if len(seen) == 7:
            await catalog.delete_face(seen[0])
            passed = await catalog.add_face(face(first_image, 1))
            added.append(passed.id)
    assert seen == walked and not set(added) & set(seen)


async def test_faces_of_many_images_come_in_one_query(catalog: Catalog) -> None:
    records = [(await catalog.add_image(image(n)))[0] for n in range(4)]
    for record in records:
        await catalog.replace_detected_faces(record.id, [face(record.id, 40), face(record.id, 5)])
    wanted = {records[0].id, records[2].id}
    found = await catalog.list_faces(FaceQuery(image_ids=sorted(wanted)))
    assert {f.image_id for f in found} == wanted and len(found) == 4
    assert found == sorted(found, key=lambda f: (f.image_id, f.box.left, f.id))
    assert await catalog.list_faces(FaceQuery(image_ids=[])) == []


async def test_faces_listed_for_a_page_come_without_descriptors_and_otherwise_whole(catalog: Catalog) -> None:
    record, _ = await catalog.add_image(image(1))
    await catalog.replace_detected_faces(record.id, [face(record.id, 5, descriptor=[0.25] * 128,
                                                          descriptor_model="sface-2021dec")])
    (full,) = await catalog.list_faces(FaceQuery(image_ids=[record.id]))
    (light,) = await catalog.list_faces(FaceQuery(image_ids=[record.id], load_descriptor=False))
    assert full.descriptor == [0.25] * 128 and light.descriptor is None
    assert light == full.model_copy(update={"descriptor": None})


async def test_the_review_queue_pages_by_score(catalog: Catalog) -> None:
    record, _ = await catalog.add_image(image(1))
    faces = await catalog.replace_detected_faces(record.id, [face(record.id, 10 * n) for n in range(7)])
    for n, detected in enumerate(faces):
        hint = ReviewHint(score=[0.9, 0.5, 0.5, 0.5, 0.2, 0.7, 0.1][n], reason=ReviewReason.borderline)
        await catalog.set_model_label(detected.id, None, "v1", 0.3, hint)
    first = await catalog.list_faces(FaceQuery(to_review=True, limit=3))
    rest = await catalog.list_faces(FaceQuery(to_review=True, limit=10).model_copy(
        update={"after": FaceQuery(to_review=True).after_face(first[-1]).after}))
    walked = first + rest
    assert [f.review.score for f in walked if f.review] == [0.9, 0.7, 0.5, 0.5, 0.5, 0.2, 0.1]
    assert len({f.id for f in walked}) == 7


async def test_people_pages_by_name_with_counts_for_the_page(catalog: Catalog) -> None:
    names = ["dora", "Alan", "bea", "Cid", "eve"]
    people = {name: await catalog.create_person(name) for name in names}
    record, _ = await catalog.add_image(image(1))
    faces = await catalog.replace_detected_faces(record.id, [face(record.id, 10), face(record.id, 90)])
    for detected in faces:
        await catalog.set_person_label(detected.id, people["Cid"].id)
    await catalog.set_person_details(people["bea"].id, people["bea"].model_copy(update={"hidden": True}))
    first = await catalog.people_page(PeopleQuery(limit=2))
    second = await catalog.people_page(PeopleQuery(limit=2, after=decode(PersonKey, first.next_cursor)))
    last = await catalog.people_page(PeopleQuery(limit=2, after=decode(PersonKey, second.next_cursor)))
    assert [p.name for p in first.items + second.items + last.items] == ["Alan", "bea", "Cid", "dora", "eve"]
    assert last.next_cursor is None
    cid = second.items[0]
    assert (cid.face_count, cid.image_count, cid.cover_face_id) == (2, 1, min(f.id for f in faces))
    shown = await catalog.people_page(PeopleQuery(include_hidden=False, limit=10))
    assert [p.name for p in shown.items] == ["Alan", "Cid", "dora", "eve"] and shown.next_cursor is None


async def test_image_counts_follow_uploads_status_changes_and_deletes(catalog: Catalog) -> None:
    records = [(await catalog.add_image(image(n)))[0] for n in range(5)]
    await catalog.add_image(image(0))  # the same bytes again: not a new photo
    await catalog.set_image_status(records[0].id, ImageStatus.done)
    await catalog.set_image_status(records[1].id, ImageStatus.done)
    await catalog.set_image_status(records[1].id, ImageStatus.done)  # again: still one
    await catalog.set_image_status(records[2].id, ImageStatus.failed, "broken")
    await catalog.delete_image(records[3].id)
    counts = await catalog.image_counts()
    assert counts == {ImageStatus.queued: 1, ImageStatus.detecting: 0, ImageStatus.classifying: 0,
                      ImageStatus.done: 2, ImageStatus.failed: 1}


async def test_actions_page_newest_first(catalog: Catalog) -> None:
    for n in range(5):
        await catalog.add_action(Action(id=f"a{n}", kind="faces.bulk", summary="", actor="ann",
                                        created_at=image(0, minutes=n // 2).uploaded_at))
    first = await catalog.list_actions("ann", 2)
    rest = await catalog.list_actions("ann", 10, NewestKey(at=first[-1].created_at, id=first[-1].id))
    assert [a.id for a in first + rest] == ["a4", "a3", "a2", "a1", "a0"]


def _altered(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("cursor", ["not base64 at all!", "e30", encode(FaceKey(image_id="i", left=1, id="f")),
                                    "x" * 5000, _altered('{"kind": "image", "at": "9999-99-99", "id": "a"}'),
                                    _altered('{"kind": "image", "at": 1e400, "id": "a"}'),
                                    _altered('{"kind": "image", "at": "2024-01-01T00:00:00Z", "id": "' + "a" * 200
                                             + '"}')])
def test_a_bad_tampered_or_foreign_cursor_is_refused(cursor: str) -> None:
    with pytest.raises(InvalidCursor, match="not a cursor from this list"):
        decode(ImageKey, cursor)


@pytest.mark.parametrize("text", ['{"kind": "face", "image_id": "i", "left": 99999999999999999999999, "id": "f"}',
                                  '{"kind": "review", "score": NaN, "id": "f"}',
                                  '{"kind": "review", "score": Infinity, "id": "f"}'])
def test_numbers_no_store_holds_are_refused(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode(FaceKey if '"face"' in text else ReviewKey, _altered(text))


def test_a_face_cursor_is_refused_for_the_review_order() -> None:
    with pytest.raises(InvalidCursor):
        FaceQuery(to_review=True, after=FaceKey(image_id="i", left=1, id="f"))


def test_a_photo_order_cursor_is_refused_for_the_label_time_order() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidCursor):
        FaceQuery(labelled_since=since, after=FaceKey(image_id="i", left=1, id="f"))
    with pytest.raises(InvalidCursor):
        FaceQuery(after=OldestKey(at=since, id="f"))


async def test_faces_labelled_since_a_time_come_oldest_label_first_and_page_by_it(catalog: Catalog) -> None:
    # The face index's catch-up: what was labelled since its last look, read in label order, never photo by photo.
    ann = (await catalog.create_person("Ann")).id
    records = [(await catalog.add_image(image(n)))[0] for n in range(3)]
    faces = [f for r in records for f in await catalog.replace_detected_faces(r.id, [face(r.id, 50), face(r.id, 9)])]
    started = datetime.now(UTC) - timedelta(seconds=1)
    for n, chosen in enumerate(reversed(faces)):  # labelled in the opposite of photo order, the last one twice
        if n % 2:
            await catalog.set_person_label(chosen.id, ann)
        else:
            await catalog.set_model_label(chosen.id, ann if n % 4 else None, "v1", 0.6)
    await asyncio.sleep(0.01)  # labels are timed to the millisecond: this one must come strictly later
    await catalog.set_person_label(faces[-1].id, None)
    labelled = [await catalog.get_face(f.id) for f in faces]
    expected = [f.id for f in sorted((f for f in labelled if f is not None), key=lambda f: (f.labelled_at, f.id))]
    assert expected[-1] == faces[-1].id  # relabelled last: it moved to the end
    walked = [f.id async for f in iter_faces(catalog, FaceQuery(labelled_since=started), page_size=2)]
    assert walked == expected
    later = await catalog.get_face(faces[-1].id)
    assert later is not None and later.labelled_at is not None
    assert [f.id for f in await catalog.list_faces(FaceQuery(labelled_since=later.labelled_at))] == [faces[-1].id]


async def test_sqlite_reads_what_was_labelled_since_through_the_label_time_index(tmp_path: Path) -> None:
    # Before, the catch-up walked every face in photo order to find the few new ones: half a second at 250,000
    # faces, every few seconds, with pages waiting behind it.
    path = tmp_path / "plan.db"
    catalog = sqlite_catalog.SQLiteCatalog(path)
    await catalog.connect()
    await catalog.close()
    now = datetime.now(UTC)
    after = OldestKey(at=now, id="f")
    # Everything labelled since (the face index), and people's labels since (the learning status).
    for index, first in (("labelled_order", FaceQuery(labelled_since=now)),
                         ("source_labelled", FaceQuery(labelled_since=now, label_source="person"))):
        with contextlib.closing(sqlite3.connect(path)) as db:
            for query in (first, first.model_copy(update={"after": after})):
                sql, params = sqlite_catalog.faces_select(query)
                plan = " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", params))
                assert f"USING INDEX faces_{index}" in plan and "TEMP B-TREE" not in plan, plan


async def test_people_by_ids_come_in_one_query(catalog: Catalog) -> None:
    ann, bob = await catalog.create_person("Ann"), await catalog.create_person("Bob")
    await catalog.create_person("Cid")
    found = await catalog.get_people([bob.id, "no-such-person", ann.id])
    assert sorted(p.name for p in found) == ["Ann", "Bob"]
    assert await catalog.get_people([]) == []


async def test_all_people_lists_everyone_by_name_without_counting(catalog: Catalog) -> None:
    for name in ("bea", "Alan", "Cid"):
        await catalog.create_person(name)
    assert [p.name for p in await catalog.all_people()] == ["Alan", "bea", "Cid"]


@pytest.mark.parametrize("rare_up_to", [0, 2000])
async def test_person_search_answers_the_same_for_people_in_few_or_many_photos(
        catalog: Catalog, monkeypatch: pytest.MonkeyPatch, rare_up_to: int) -> None:
    # SQLite reads a person in few photos through their faces and one in many by walking the gallery.
    monkeypatch.setattr(sqlite_catalog, "RARE_PERSON", rare_up_to)
    ann, bob = (await catalog.create_person("Ann")).id, (await catalog.create_person("Bob")).id
    wanted = []
    for n in range(9):
        record, _ = await catalog.add_image(image(n, minutes=n // 2))
        faces = await catalog.replace_detected_faces(record.id, [face(record.id, 10), face(record.id, 90)])
        await catalog.set_person_label(faces[0].id, ann)
        if n % 3:
            await catalog.set_person_label(faces[1].id, bob)
            wanted.append(record)
    order = [i.id for i in sorted(wanted, key=lambda i: (i.uploaded_at, i.id), reverse=True)]
    assert await _walk(catalog, ImageQuery(person_ids=[bob, ann], limit=2)) == order
