"""Catalog contract, the people list's counts and covers: after every way a face can change, they match the faces.

The SQLite catalog keeps the counts in trigger-maintained tables (so a page does not count the library); these
tests hold them to what a person's faces say, on every implementation.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from contract_records import face, image

from services.core.catalog import Catalog, FaceQuery, open_catalog
from services.core.catalog import sqlite_rows as rows
from services.core.cursors import PersonKey, decode
from services.core.domain import FaceRecord, LabelSource, LabelVia, PeopleQuery, PersonDetails, PersonSummary

Expected = dict[str, tuple[int, int, str | None]]  # person id -> (faces, photos, cover)


def _cover(summary: PersonSummary, faces: list[FaceRecord]) -> str | None:
    """The chosen face while it is theirs, else their first person-labelled face, else their first face."""
    ids = {f.id for f in faces}
    if summary.chosen_cover_id in ids:
        return summary.chosen_cover_id
    confirmed = [f.id for f in faces if f.label_source == LabelSource.person]
    return min(confirmed or ids, default=None)


async def _expected(catalog: Catalog, people: list[PersonSummary]) -> Expected:
    expected: Expected = {}
    for person in people:
        faces = await catalog.list_faces(FaceQuery(person_id=person.id, limit=100_000))
        expected[person.id] = (len(faces), len({f.image_id for f in faces}), _cover(person, faces))
    return expected


async def _check(catalog: Catalog) -> Expected:
    """Every person's counts and cover, whole and a page at a time, against their faces counted directly."""
    people = await catalog.list_people()
    expected = await _expected(catalog, people)
    assert {p.id: (p.face_count, p.image_count, p.cover_face_id) for p in people} == expected
    paged: list[PersonSummary] = []
    query = PeopleQuery(limit=2)
    while True:
        page = await catalog.people_page(query)
        paged += page.items
        if page.next_cursor is None:
            break
        query = PeopleQuery(limit=2, after=decode(PersonKey, page.next_cursor))
    assert paged == people
    return expected


async def test_counts_and_covers_follow_every_change_to_faces(catalog: Catalog) -> None:
    ann, bob, cid = [await catalog.create_person(name) for name in ("Ann", "Bob", "Cid")]
    ann_id, bob_id, cid_id = ann.id, bob.id, cid.id
    first, _ = await catalog.add_image(image(1))
    second, _ = await catalog.add_image(image(2))
    third, _ = await catalog.add_image(image(3))
    f1 = await catalog.replace_detected_faces(first.id, [face(first.id, x) for x in (0, 100, 200)])
    f2 = await catalog.replace_detected_faces(second.id, [face(second.id, x) for x in (0, 100)])
    assert all(n == (0, 0, None) for n in (await _check(catalog)).values())

    # A model names faces; Ann twice on one photo.
    for detected, person_id in ((f1[0], ann_id), (f1[1], ann_id), (f2[0], ann_id), (f2[1], bob_id)):
        await catalog.set_model_label(detected.id, person_id, "v1", 0.8)
    counts = await _check(catalog)
    assert counts[ann_id][:2] == (3, 2) and counts[bob_id][:2] == (1, 1)

    # A person names a face someone else, then takes a model's name off, then a model renames a face.
    await catalog.set_person_label(f1[1].id, bob_id)
    assert (await _check(catalog))[ann_id][:2] == (2, 2)
    await catalog.set_person_label(f1[0].id, None)
    assert (await _check(catalog))[ann_id][:2] == (1, 1)
    await catalog.set_model_label(f2[1].id, cid_id, "v2", 0.9)
    assert (await _check(catalog))[bob_id][:2] == (1, 1)
    await catalog.add_not_person(f2[0].id, ann_id)  # "not Ann" makes the face unknown
    assert (await _check(catalog))[ann_id] == (0, 0, None)

    # Faces added one by one, replaced in place, moved to another photo and to another person.
    added = face(third.id, 0, person_id=ann_id, label_source=LabelSource.person)
    await catalog.add_face(added)
    await catalog.add_face(added)  # the same face again: nothing changes
    assert (await _check(catalog))[ann_id] == (1, 1, added.id)
    moved = added.model_copy(update={"image_id": first.id, "person_id": bob_id})
    await catalog.add_face(moved)
    counts = await _check(catalog)
    assert counts[ann_id] == (0, 0, None) and counts[bob_id][:2] == (2, 1)
    await catalog.add_face(moved.model_copy(update={"image_id": second.id}))  # Bob's two faces on two photos
    assert (await _check(catalog))[bob_id][:2] == (2, 2)

    # Re-detection keeps the person-labelled faces and replaces the rest (a model's names go with them).
    await catalog.set_model_label(f1[2].id, ann_id, "v1", 0.7)
    redetected = await catalog.replace_detected_faces(first.id, [face(first.id, x) for x in (0, 200, 400)])
    assert (await _check(catalog))[ann_id] == (0, 0, None)
    redone = [f for f in redetected if f.id not in {f1[0].id, f1[1].id}]  # the person-labelled two are kept
    assert len(redone) == 2
    await catalog.set_model_label(redone[0].id, ann_id, "v3", 0.9)
    await catalog.set_model_label(redone[1].id, ann_id, "v3", 0.9)
    assert (await _check(catalog))[ann_id][:2] == (2, 1)

    # A library added in bulk.
    fourth = image(4)
    bulk = [face(fourth.id, 0, person_id=ann_id, label_source=LabelSource.model, model_version="v1"),
            face(fourth.id, 100, person_id=ann_id, label_source=LabelSource.person),
            face(fourth.id, 200, person_id=cid_id, label_source=LabelSource.model, model_version="v1"),
            face(fourth.id, 300)]
    await catalog.add_many([fourth], bulk)
    counts = await _check(catalog)
    assert counts[ann_id] == (4, 2, bulk[1].id) and counts[cid_id][:2] == (2, 2)

    # A chosen cover counts while the face is theirs.
    await catalog.set_person_details(ann_id, PersonDetails(chosen_cover_id=bulk[0].id))
    assert (await _check(catalog))[ann_id][2] == bulk[0].id
    await catalog.set_person_label(bulk[0].id, cid_id)
    assert (await _check(catalog))[ann_id] == (3, 2, bulk[1].id)

    # Merge Cid into Bob, then split some faces off to a new person.
    before_merge = {f.id: f.label_state() for f in await catalog.list_faces(FaceQuery(person_id=cid_id))}
    await catalog.merge_people(cid_id, bob_id)
    counts = await _check(catalog)
    assert cid_id not in counts and counts[bob_id][:2] == (5, 3)
    dan = await catalog.create_person("Dan")
    for moving in list(before_merge)[:2]:
        await catalog.set_person_label(moving, dan.id, via=LabelVia.split_off)
    counts = await _check(catalog)
    assert counts[dan.id][0] == 2 and counts[bob_id][0] == 3

    # Undo the merge: Cid comes back with their faces' earlier labels.
    await catalog.restore_person(cid)
    await catalog.restore_face_labels(list(before_merge.values()))
    counts = await _check(catalog)
    assert counts[cid_id][:2] == (3, 2) and counts[dan.id] == (0, 0, None)

    # A person who never wants a model's name loses the model's names.
    await catalog.set_never_tag(cid_id, True)
    assert (await _check(catalog))[cid_id] == (1, 1, bulk[0].id)
    found = await catalog.people_page(PeopleQuery(ids=[cid_id, dan.id], name_contains="ci"))
    assert [(p.id, p.face_count, p.image_count) for p in found.items] == [(cid_id, 1, 1)]

    # Delete a face, a photo, a person; then erase a person: their faces go, then they do.
    await catalog.delete_face(bulk[1].id)
    assert (await _check(catalog))[ann_id][:2] == (2, 1)
    await catalog.delete_image(second.id)
    assert (await _check(catalog))[bob_id][:2] == (1, 1)
    await catalog.delete_person(bob_id)
    assert bob_id not in await _check(catalog)
    for gone in await catalog.list_faces(FaceQuery(person_id=ann_id)):
        await catalog.delete_face(gone.id)
    await catalog.delete_person(ann_id)
    await catalog.erase_person_traces(ann_id, set())
    assert ann_id not in await _check(catalog)
    # Hidden people are left out unless asked for; their counts are the same either way.
    await catalog.set_person_details(dan.id, PersonDetails(hidden=True))
    shown = await catalog.people_page(PeopleQuery(include_hidden=False))
    assert dan.id not in {p.id for p in shown.items}
    await _check(catalog)


async def test_a_catalog_file_from_before_the_counters_is_counted_on_open(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    catalog = open_catalog(f"sqlite:///{path}")
    ann, bob = await catalog.create_person("Ann"), await catalog.create_person("Bob")
    photos = [image(n) for n in range(3)]
    faces = [face(photo.id, 100 * k, person_id=(ann.id, bob.id, None)[k % 3], label_source=LabelSource.model)
             for photo in photos for k in range(4)]
    await catalog.add_many(photos, faces)
    await catalog.close()
    # The file as an earlier release left it: no counter tables or triggers, and faces written since uncounted.
    with closing(sqlite3.connect(path)) as db, db:
        for trigger in rows.PERSON_COUNT_TRIGGERS:
            db.execute(f"DROP TRIGGER {trigger}")
        db.execute("DROP TABLE person_counts")
        db.execute("DROP TABLE person_images")
        db.execute("UPDATE faces SET person_id = ? WHERE id = ?", (ann.id, faces[1].id))
        db.execute("DELETE FROM faces WHERE id = ?", (faces[4].id,))

    reopened = open_catalog(f"sqlite:///{path}")
    try:
        counts = await _check(reopened)
        assert counts[ann.id][:2] == (6, 3) and counts[bob.id][:2] == (2, 2)
        await reopened.set_person_label(faces[0].id, bob.id)  # and the triggers count from here on
        counts = await _check(reopened)
        assert counts[ann.id][:2] == (5, 3) and counts[bob.id][:2] == (3, 3)
    finally:
        await reopened.close()
