"""Catalog contract, faces: re-detection, labels and their sources, listing. Every implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from contract_records import face, image

from services.core.catalog import Catalog, FaceQuery
from services.core.domain import FaceOrigin, FaceRecord, LabelSource, Point
from services.core.errors import InvalidInput, NotFound


async def _image(catalog: Catalog, n: int = 1) -> str:
    record, _ = await catalog.add_image(image(n))
    return record.id


async def _face_count(catalog: Catalog, image_id: str) -> int:
    record = await catalog.get_image(image_id)
    assert record is not None
    return record.face_count


async def test_detected_faces_round_trip_in_left_to_right_order(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    right = face(image_id, 300, landmarks=[Point(x=1.5, y=2.25)] * 5, detection_score=0.75)
    left = face(image_id, 20)
    middle_b = face(image_id, 150, id="b-face", top=200)
    middle_a = face(image_id, 150, id="a-face")
    stored = await catalog.replace_detected_faces(image_id, [right, left, middle_b, middle_a])
    assert stored == [left, middle_a, middle_b, right]
    assert await catalog.get_face(right.id) == right
    assert await _face_count(catalog, image_id) == 4


async def test_redetection_is_idempotent(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    faces = [face(image_id, 10), face(image_id, 200)]
    first = await catalog.replace_detected_faces(image_id, faces)
    again = await catalog.replace_detected_faces(image_id, faces)
    assert first == again
    assert await _face_count(catalog, image_id) == 2


async def test_redetection_replaces_earlier_detector_faces_even_model_labelled(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    ann = (await catalog.create_person("Ann")).id
    [old_a, old_b] = await catalog.replace_detected_faces(image_id, [face(image_id, 10), face(image_id, 200)])
    await catalog.set_model_label(old_a.id, ann, "v1", 0.9)
    fresh = [face(image_id, 12), face(image_id, 400), face(image_id, 600)]
    stored = await catalog.replace_detected_faces(image_id, fresh)
    assert [f.id for f in stored] == [f.id for f in fresh]
    assert await catalog.get_face(old_a.id) is None and await catalog.get_face(old_b.id) is None
    assert await _face_count(catalog, image_id) == 3


async def test_redetection_keeps_person_labels_and_manual_boxes(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    ann = (await catalog.create_person("Ann")).id
    [confirmed, said_unknown, model_only] = await catalog.replace_detected_faces(
        image_id, [face(image_id, 0), face(image_id, 200), face(image_id, 400)]
    )
    await catalog.set_person_label(confirmed.id, ann)
    await catalog.set_person_label(said_unknown.id, None)  # a person's "unknown" is a label too
    await catalog.set_model_label(model_only.id, ann, "v1", 0.6)
    drawn = await catalog.add_face(face(image_id, 800, origin=FaceOrigin.manual))

    again = [
        face(image_id, 5),  # the confirmed face seen again (IoU 0.82): dropped
        face(image_id, 205),  # the "unknown" face seen again: dropped
        face(image_id, 410),  # replaces the model-labelled face
        face(image_id, 790),  # the drawn box seen again (IoU 0.67): dropped
        face(image_id, 1000),  # someone new
    ]
    stored = await catalog.replace_detected_faces(image_id, again)
    assert [f.id for f in stored] == [confirmed.id, said_unknown.id, again[2].id, drawn.id, again[4].id]
    kept = await catalog.get_face(confirmed.id)
    assert kept is not None and kept.person_id == ann and kept.label_source == LabelSource.person
    assert await catalog.get_face(model_only.id) is None
    assert await _face_count(catalog, image_id) == 5


async def test_redetection_keeps_a_detection_that_only_touches_a_kept_face(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    ann = (await catalog.create_person("Ann")).id
    [confirmed] = await catalog.replace_detected_faces(image_id, [face(image_id, 0)])
    await catalog.set_person_label(confirmed.id, ann)
    neighbour = face(image_id, 20)  # overlap 30x50 of 50x50 boxes: IoU 0.43 < 0.5
    stored = await catalog.replace_detected_faces(image_id, [neighbour])
    assert [f.id for f in stored] == [confirmed.id, neighbour.id]


async def test_faces_of_a_missing_image_are_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        await catalog.replace_detected_faces("no-such-image", [face("no-such-image", 0)])
    with pytest.raises(NotFound):
        await catalog.add_face(face("no-such-image", 0, origin=FaceOrigin.manual))


async def test_redetection_refuses_faces_of_another_image(catalog: Catalog) -> None:
    image_id, other = await _image(catalog, 1), await _image(catalog, 2)
    with pytest.raises(InvalidInput):
        await catalog.replace_detected_faces(image_id, [face(other, 0)])


async def test_add_face_inserts_or_replaces_by_id(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    drawn = face(image_id, 40, origin=FaceOrigin.manual)
    assert await catalog.add_face(drawn) == drawn
    moved = drawn.model_copy(update={"box": drawn.box.model_copy(update={"left": 60})})
    assert await catalog.add_face(moved) == moved
    assert await catalog.add_face(moved) == moved
    assert await catalog.get_face(drawn.id) == moved
    assert await _face_count(catalog, image_id) == 1


async def test_add_face_with_an_unknown_person_is_not_found(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    with pytest.raises(NotFound):
        await catalog.add_face(face(image_id, 0, person_id="no-such-person", label_source=LabelSource.person))


async def test_delete_face_updates_the_count(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    [a, b] = await catalog.replace_detected_faces(image_id, [face(image_id, 0), face(image_id, 100)])
    assert await catalog.delete_face(a.id)
    assert not await catalog.delete_face(a.id)
    assert await catalog.get_face(a.id) is None
    assert await _face_count(catalog, image_id) == 1
    assert [f.id for f in await catalog.list_faces(FaceQuery(image_id=image_id))] == [b.id]


async def test_face_analysis_is_stored(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    [detected] = await catalog.replace_detected_faces(image_id, [face(image_id, 0)])
    descriptor = [i / 127 - 0.5 for i in range(128)]
    await catalog.set_face_analysis(detected.id, descriptor, f"faces/{detected.id}/chip.png")
    stored = await catalog.get_face(detected.id)
    assert stored is not None
    assert stored.descriptor == descriptor and stored.chip_key == f"faces/{detected.id}/chip.png"
    with pytest.raises(NotFound):
        await catalog.set_face_analysis("no-such-face", descriptor, "x")


async def test_model_labels_record_version_and_confidence(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    ann = (await catalog.create_person("Ann")).id
    [detected] = await catalog.replace_detected_faces(image_id, [face(image_id, 0)])
    assert await catalog.set_model_label(detected.id, ann, "v3", 0.87)
    labelled = await catalog.get_face(detected.id)
    assert labelled is not None
    assert labelled.person_id == ann and labelled.label_source == LabelSource.model
    assert labelled.model_version == "v3" and labelled.confidence == pytest.approx(0.87)
    assert labelled.labelled_at is not None
    assert await catalog.set_model_label(detected.id, None, "v4", 0.2)  # a newer model: unknown
    relabelled = await catalog.get_face(detected.id)
    assert relabelled is not None and relabelled.person_id is None and relabelled.model_version == "v4"
    with pytest.raises(NotFound):
        await catalog.set_model_label("no-such-face", ann, "v3", 0.5)


async def test_a_model_never_overwrites_a_person_label(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    ann = (await catalog.create_person("Ann")).id
    bob = (await catalog.create_person("Bob")).id
    [a, b] = await catalog.replace_detected_faces(image_id, [face(image_id, 0), face(image_id, 100)])
    await catalog.set_model_label(a.id, bob, "v1", 0.9)
    confirmed = await catalog.set_person_label(a.id, ann)
    assert confirmed.person_id == ann and confirmed.label_source == LabelSource.person
    assert confirmed.model_version is None and confirmed.confidence is None
    await catalog.set_person_label(b.id, None)
    assert not await catalog.set_model_label(a.id, bob, "v2", 0.99)
    assert not await catalog.set_model_label(b.id, bob, "v2", 0.99)
    assert await catalog.get_face(a.id) == confirmed
    still_unknown = await catalog.get_face(b.id)
    assert still_unknown is not None and still_unknown.person_id is None
    assert still_unknown.label_source == LabelSource.person


async def test_a_model_naming_a_deleted_person_labels_the_face_unknown(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    gone = (await catalog.create_person("Gone")).id
    await catalog.delete_person(gone)
    [detected] = await catalog.replace_detected_faces(image_id, [face(image_id, 0)])
    assert await catalog.set_model_label(detected.id, gone, "v1", 0.9)
    stored = await catalog.get_face(detected.id)
    assert stored is not None and stored.person_id is None and stored.label_source == LabelSource.model


async def test_person_labels_need_a_real_face_and_person(catalog: Catalog) -> None:
    image_id = await _image(catalog)
    ann = (await catalog.create_person("Ann")).id
    [detected] = await catalog.replace_detected_faces(image_id, [face(image_id, 0)])
    with pytest.raises(NotFound):
        await catalog.set_person_label("no-such-face", ann)
    with pytest.raises(NotFound):
        await catalog.set_person_label(detected.id, "no-such-person")
    unchanged = await catalog.get_face(detected.id)
    assert unchanged is not None and unchanged.label_source is None


async def _labelled_gallery(catalog: Catalog) -> dict[str, FaceRecord]:
    """Two images: faces labelled by a person, by a model, and not at all, with and without descriptors."""
    ann = (await catalog.create_person("Ann")).id
    first, second = await _image(catalog, 1), await _image(catalog, 2)
    a1, a2 = await catalog.replace_detected_faces(first, [face(first, 300), face(first, 10)])
    b1, b2 = await catalog.replace_detected_faces(second, [face(second, 50), face(second, 500)])
    await catalog.set_person_label(a2.id, ann)
    await catalog.set_model_label(b1.id, ann, "v1", 0.7)
    await catalog.set_model_label(b2.id, None, "v1", 0.1)
    await catalog.set_face_analysis(a2.id, [0.0] * 128, "chips/a2")
    await catalog.set_face_analysis(b1.id, [1.0] * 128, "chips/b1")
    faces = {"a1": a1, "a2": a2, "b1": b1, "b2": b2}
    for name, record in faces.items():
        stored = await catalog.get_face(record.id)
        assert stored is not None
        faces[name] = stored
    return faces


async def test_list_faces_filters(catalog: Catalog) -> None:
    faces = await _labelled_gallery(catalog)
    ann = faces["a2"].person_id

    async def names(**filters: object) -> list[str]:
        found = await catalog.list_faces(FaceQuery.model_validate(filters))
        by_id = {record.id: name for name, record in faces.items()}
        return [by_id[record.id] for record in found]

    order = sorted(faces, key=lambda n: (faces[n].image_id, faces[n].box.left, faces[n].id))
    assert await names() == order
    assert await names(image_id=faces["a1"].image_id) == ["a1", "a2"]
    assert sorted(await names(person_id=ann)) == ["a2", "b1"]
    assert sorted(await names(unknown_only=True)) == ["a1", "b2"]
    assert await names(label_source="person") == ["a2"]
    assert sorted(await names(label_source="model")) == ["b1", "b2"]
    assert sorted(await names(with_descriptor=True)) == ["a2", "b1"]
    assert await names(person_id=ann, label_source="model", with_descriptor=True) == ["b1"]
    assert await names(person_id=ann, unknown_only=True) == []
    assert await names(after=FaceQuery().after_face(faces[order[0]]).after, limit=2) == order[1:3]


async def test_list_faces_labelled_since(catalog: Catalog) -> None:
    faces = await _labelled_gallery(catalog)
    labelled = {name for name, record in faces.items() if record.labelled_at is not None}
    assert labelled == {"a2", "b1", "b2"}
    earliest = min(record.labelled_at for record in faces.values() if record.labelled_at is not None)
    found = await catalog.list_faces(FaceQuery(labelled_since=earliest))
    assert {record.id for record in found} == {faces[name].id for name in labelled}
    future = datetime.now(UTC) + timedelta(days=1)
    assert await catalog.list_faces(FaceQuery(labelled_since=future)) == []
