"""Catalog contract, people: names, counts, rename, delete and merge. Every implementation."""

from __future__ import annotations

import pytest
from contract_records import face, image

from services.core.catalog import Catalog, FaceQuery
from services.core.domain import ImageQuery, LabelSource
from services.core.errors import Conflict, InvalidInput, NotFound

# Names that a query language could read as an operator or a pattern: here they are only text.
OPERATOR_SHAPED = ['{"$ne": ""}', "$ne", ".*", "^A", "A|B", "%", "_", "' OR '1'='1", "$where", "a.b"]


async def test_create_get_and_find_a_person(catalog: Catalog) -> None:
    ann = await catalog.create_person("  Ann Lee ")
    assert ann.name == "Ann Lee"
    assert await catalog.get_person(ann.id) == ann
    assert await catalog.find_person("ann lee") == ann
    assert await catalog.find_person("ANN LEE") == ann
    assert await catalog.find_person("Ann") is None
    assert await catalog.get_person("no-such-person") is None


async def test_names_are_unique_regardless_of_case(catalog: Catalog) -> None:
    await catalog.create_person("Zoë")
    for taken in ("zoë", "ZOË", " Zoë "):
        with pytest.raises(Conflict):
            await catalog.create_person(taken)
    assert len(await catalog.list_people()) == 1


async def test_empty_names_are_refused(catalog: Catalog) -> None:
    with pytest.raises(InvalidInput):
        await catalog.create_person("   ")
    ann = await catalog.create_person("Ann")
    with pytest.raises(InvalidInput):
        await catalog.rename_person(ann.id, "")


async def test_operator_shaped_names_are_plain_text(catalog: Catalog) -> None:
    for name in OPERATOR_SHAPED:
        person = await catalog.create_person(name)
        assert (await catalog.find_person(name)) == person
    assert await catalog.find_person('{"$ne": null}') is None
    assert await catalog.find_person(".") is None
    assert await catalog.find_person("A") is None
    people = await catalog.list_people()
    assert sorted(p.name for p in people) == sorted(OPERATOR_SHAPED)
    ordinary = await catalog.create_person("A")
    assert await catalog.find_person("a") == ordinary


async def test_people_are_listed_by_name_ignoring_case(catalog: Catalog) -> None:
    for name in ("bob", "Alice", "carol", "Bea", "alan"):
        await catalog.create_person(name)
    assert [p.name for p in await catalog.list_people()] == ["alan", "Alice", "Bea", "bob", "carol"]


async def test_people_summaries_count_faces_images_and_pick_a_confirmed_cover(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    bob = (await catalog.create_person("Bob")).id
    await catalog.create_person("Cid")  # nobody has tagged Cid yet
    first, _ = await catalog.add_image(image(1))
    second, _ = await catalog.add_image(image(2))
    f1 = await catalog.replace_detected_faces(first.id, [face(first.id, x) for x in (0, 100, 200)])
    f2 = await catalog.replace_detected_faces(second.id, [face(second.id, x) for x in (0, 100)])
    for detected in (f1[0], f1[1], f2[0]):  # Ann twice on the first photo, once on the second
        await catalog.set_model_label(detected.id, ann, "v1", 0.8)
    confirmed = max(f1[1].id, f2[0].id)  # not simply the smallest id of Ann's faces
    await catalog.set_person_label(confirmed, ann)
    await catalog.set_model_label(f2[1].id, bob, "v1", 0.9)

    summaries = {p.name: p for p in await catalog.list_people()}
    assert [name for name in summaries] == ["Ann", "Bob", "Cid"]
    assert (summaries["Ann"].face_count, summaries["Ann"].image_count) == (3, 2)
    assert summaries["Ann"].cover_face_id == confirmed
    assert (summaries["Bob"].face_count, summaries["Bob"].image_count) == (1, 1)
    assert summaries["Bob"].cover_face_id == f2[1].id  # no confirmed face: any face of Bob's
    assert (summaries["Cid"].face_count, summaries["Cid"].image_count, summaries["Cid"].cover_face_id) == (
        0,
        0,
        None,
    )


async def test_rename(catalog: Catalog) -> None:
    ann = await catalog.create_person("ann")
    await catalog.create_person("Bob")
    renamed = await catalog.rename_person(ann.id, "Ann")  # the same name in another case is allowed
    assert renamed.name == "Ann" and renamed.id == ann.id
    assert await catalog.get_person(ann.id) == renamed
    with pytest.raises(Conflict):
        await catalog.rename_person(ann.id, "BOB")
    assert (await catalog.get_person(ann.id)) == renamed
    with pytest.raises(NotFound):
        await catalog.rename_person("no-such-person", "Cid")
    moved = await catalog.rename_person(ann.id, "Anna")
    assert await catalog.find_person("ann") is None
    assert await catalog.find_person("anna") == moved
    await catalog.create_person("Ann")  # the old name is free again


async def test_delete_person_makes_their_faces_unknown(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    record, _ = await catalog.add_image(image(1))
    [confirmed, guessed] = await catalog.replace_detected_faces(record.id, [face(record.id, 0), face(record.id, 100)])
    await catalog.set_person_label(confirmed.id, ann)
    await catalog.set_model_label(guessed.id, ann, "v1", 0.9)
    assert len((await catalog.list_images(ImageQuery(has_unknown=True))).items) == 0

    assert await catalog.delete_person(ann)
    assert not await catalog.delete_person(ann)
    assert await catalog.get_person(ann) is None
    for face_id in (confirmed.id, guessed.id):
        stored = await catalog.get_face(face_id)
        assert stored is not None
        assert stored.person_id is None and stored.label_source is None and stored.model_version is None
    assert len((await catalog.list_images(ImageQuery(has_unknown=True))).items) == 1
    assert len((await catalog.list_images(ImageQuery(person_ids=[ann]))).items) == 0
    # No longer a person label, so a model may now label these faces again.
    assert await catalog.set_model_label(confirmed.id, None, "v2", 0.4)


async def test_merge_moves_every_face_and_keeps_label_sources(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    annie = (await catalog.create_person("Annie")).id
    first, _ = await catalog.add_image(image(1))
    second, _ = await catalog.add_image(image(2))
    [a] = await catalog.replace_detected_faces(first.id, [face(first.id, 0)])
    [b, c] = await catalog.replace_detected_faces(second.id, [face(second.id, 0), face(second.id, 100)])
    await catalog.set_person_label(a.id, annie)
    await catalog.set_model_label(b.id, annie, "v1", 0.7)
    await catalog.set_person_label(c.id, ann)

    target = await catalog.merge_people(annie, ann)
    assert target.id == ann and target.name == "Ann"
    assert await catalog.get_person(annie) is None
    moved = {f.id: f for f in await catalog.list_faces(FaceQuery(person_id=ann))}
    assert set(moved) == {a.id, b.id, c.id}
    assert moved[a.id].label_source == LabelSource.person
    assert moved[b.id].label_source == LabelSource.model and moved[b.id].model_version == "v1"
    assert {i.id for i in (await catalog.list_images(ImageQuery(person_ids=[ann]))).items} == {first.id, second.id}
    assert len((await catalog.list_images(ImageQuery(person_ids=[annie]))).items) == 0
    [summary] = await catalog.list_people()
    assert (summary.face_count, summary.image_count) == (3, 2)


async def test_merge_errors(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    with pytest.raises(NotFound):
        await catalog.merge_people("no-such-person", ann)
    with pytest.raises(NotFound):
        await catalog.merge_people(ann, "no-such-person")
    with pytest.raises(Conflict):
        await catalog.merge_people(ann, ann)
    assert await catalog.get_person(ann) is not None
