"""Catalog contract, corrections: "not X", provenance, person details, undo records. Every implementation."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from contract_records import face, image

from services.core.catalog import Catalog, FaceQuery
from services.core.domain import Action, LabelSource, LabelVia, PersonDetails
from services.core.errors import Conflict, NotFound


async def _photo_with_faces(catalog: Catalog, n: int = 2, **image_fields: object) -> list[str]:
    img, _ = await catalog.add_image(image(**image_fields))
    faces = await catalog.replace_detected_faces(img.id, [face(img.id, 10 + 100 * i) for i in range(n)])
    return [f.id for f in faces]


async def test_not_x_is_remembered_and_no_model_names_the_face_x(catalog: Catalog) -> None:
    ben, matt = await catalog.create_person("Ben"), await catalog.create_person("Matt")
    (fid,) = await _photo_with_faces(catalog, 1)
    await catalog.set_model_label(fid, ben.id, "v1", 0.8)
    after = await catalog.add_not_person(fid, ben.id, by="ann", via=LabelVia.review)
    assert after.person_id is None and after.label_source is None  # unknown: a model may name it someone else
    assert after.not_person_ids == [ben.id]
    assert after.labelled_by == "ann" and after.label_via == LabelVia.review
    await catalog.set_model_label(fid, ben.id, "v2", 0.9)
    assert (await catalog.get_face(fid)).person_id is None  # type: ignore[union-attr]
    await catalog.set_model_label(fid, matt.id, "v2", 0.9)
    assert (await catalog.get_face(fid)).person_id == matt.id  # type: ignore[union-attr]
    # Saying it twice changes nothing; naming the face Ben by hand takes the "not" back.
    assert (await catalog.add_not_person(fid, ben.id)).not_person_ids == [ben.id]
    named = await catalog.set_person_label(fid, ben.id, by="bob", via=LabelVia.editor)
    assert named.person_id == ben.id and named.not_person_ids == [] and named.labelled_by == "bob"
    with pytest.raises(NotFound):
        await catalog.add_not_person(fid, "nobody")
    with pytest.raises(NotFound):
        await catalog.add_not_person("no-face", ben.id)


async def test_not_x_on_a_face_named_someone_else_keeps_that_name(catalog: Catalog) -> None:
    ben, matt = await catalog.create_person("Ben"), await catalog.create_person("Matt")
    (fid,) = await _photo_with_faces(catalog, 1)
    await catalog.set_person_label(fid, matt.id)
    after = await catalog.add_not_person(fid, ben.id)
    assert after.person_id == matt.id and after.label_source == LabelSource.person
    assert after.not_person_ids == [ben.id]


async def test_merges_keep_not_x_pointing_at_the_merged_person(catalog: Catalog) -> None:
    ben, benjamin = await catalog.create_person("Ben"), await catalog.create_person("Benjamin")
    fid, other = await _photo_with_faces(catalog, 2)
    await catalog.add_not_person(fid, ben.id)
    await catalog.set_person_label(other, ben.id)
    await catalog.merge_people(ben.id, benjamin.id)
    assert (await catalog.get_face(fid)).not_person_ids == [benjamin.id]  # type: ignore[union-attr]
    await catalog.set_model_label(fid, benjamin.id, "v3", 0.9)
    assert (await catalog.get_face(fid)).person_id is None  # type: ignore[union-attr]
    # renames keep it: it is kept by id
    await catalog.rename_person(benjamin.id, "Benjamin A.")
    assert (await catalog.get_face(fid)).not_person_ids == [benjamin.id]  # type: ignore[union-attr]


async def test_label_states_are_restored_exactly(catalog: Catalog) -> None:
    ben = await catalog.create_person("Ben")
    fid, other = await _photo_with_faces(catalog, 2)
    await catalog.set_model_label(fid, ben.id, "v1", 0.7)
    before = [(await catalog.get_face(f)).label_state() for f in (fid, other)]  # type: ignore[union-attr]
    await catalog.set_person_label(fid, None, by="ann", via=LabelVia.bulk)
    await catalog.add_not_person(other, ben.id)
    assert await catalog.restore_face_labels([*before, before[0].model_copy(update={"id": "gone"})]) == 2
    assert [(await catalog.get_face(f)).label_state() for f in (fid, other)] == before  # type: ignore[union-attr]


async def test_a_deleted_person_comes_back_with_the_same_id_and_details(catalog: Catalog) -> None:
    ann = await catalog.create_person("Ann")
    ann = await catalog.set_person_details(ann.id, PersonDetails(hidden=True, active_from=date(2001, 2, 3)))
    assert ann.hidden and ann.active_from == date(2001, 2, 3)
    await catalog.delete_person(ann.id)
    assert await catalog.restore_person(ann) == ann
    assert await catalog.get_person(ann.id) == ann
    await catalog.delete_person(ann.id)
    await catalog.create_person("ann")
    with pytest.raises(Conflict):
        await catalog.restore_person(ann)
    with pytest.raises(NotFound):
        await catalog.set_person_details("nobody", PersonDetails())


async def test_a_chosen_cover_wins_while_it_is_still_their_face(catalog: Catalog) -> None:
    ann = await catalog.create_person("Ann")
    first, second = await _photo_with_faces(catalog, 2)
    for fid in (first, second):
        await catalog.set_person_label(fid, ann.id)
    chosen = max(first, second)
    await catalog.set_person_details(ann.id, PersonDetails(chosen_cover_id=chosen))
    (summary,) = await catalog.list_people()
    assert summary.cover_face_id == chosen
    await catalog.set_person_label(chosen, None)
    (summary,) = await catalog.list_people()
    assert summary.cover_face_id == min(first, second)


async def test_no_model_names_someone_in_a_photo_taken_outside_their_dates(catalog: Catalog) -> None:
    young = await catalog.create_person("Young Ann")
    nineties = PersonDetails(active_from=date(1990, 1, 1), active_to=date(1999, 12, 31))
    await catalog.set_person_details(young.id, nineties)
    (old_photo,) = await _photo_with_faces(catalog, 1, taken_at=datetime(2015, 6, 1, tzinfo=UTC))
    img, _ = await catalog.add_image(image(7, taken_at=datetime(1995, 6, 1, tzinfo=UTC)))
    (in_range,) = await catalog.replace_detected_faces(img.id, [face(img.id, 10)])
    img2, _ = await catalog.add_image(image(8))
    (undated,) = await catalog.replace_detected_faces(img2.id, [face(img2.id, 10)])
    for fid in (old_photo, in_range.id, undated.id):
        await catalog.set_model_label(fid, young.id, "v1", 0.9)
    assert (await catalog.get_face(old_photo)).person_id is None  # type: ignore[union-attr]
    assert (await catalog.get_face(in_range.id)).person_id == young.id  # type: ignore[union-attr]
    assert (await catalog.get_face(undated.id)).person_id == young.id  # type: ignore[union-attr]
    assert (await catalog.get_image(img.id)).taken_at == datetime(1995, 6, 1, tzinfo=UTC)  # type: ignore[union-attr]


async def test_actions_are_listed_newest_first_and_undone_once(catalog: Catalog) -> None:
    first = await catalog.add_action(Action(id="a1", kind="face.not", summary="Not Ben", actor="ann",
                                            created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    await catalog.add_action(Action(id="a2", kind="person.merge", summary="Merged", actor="bob",
                                    created_at=datetime(2026, 1, 2, tzinfo=UTC)))
    await catalog.add_action(first)  # the same action again changes nothing
    assert [a.id for a in await catalog.list_actions(None, 10)] == ["a2", "a1"]
    assert [a.id for a in await catalog.list_actions("ann", 10)] == ["a1"]
    assert await catalog.get_action("a1") == first
    assert await catalog.mark_action_undone("a1")
    assert not await catalog.mark_action_undone("a1")
    assert not await catalog.mark_action_undone("nothing")
    assert (await catalog.get_action("a1")).undone_at is not None  # type: ignore[union-attr]


async def test_faces_said_not_to_be_someone_can_be_listed(catalog: Catalog) -> None:
    ben = await catalog.create_person("Ben")
    fid, other, third = await _photo_with_faces(catalog, 3)
    await catalog.add_not_person(fid, ben.id)
    await catalog.add_not_person(third, ben.id)
    await catalog.set_person_label(third, ben.id)  # naming them Ben takes the "not" back
    assert [f.id for f in await catalog.list_faces(FaceQuery(with_not_person=True))] == [fid]
    assert other not in [f.id for f in await catalog.list_faces(FaceQuery(with_not_person=True))]
