"""Catalog contract, images: dedupe, status, paging, filters. Runs on every catalog implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from contract_records import EPOCH, face, image

from services.core.catalog import Catalog, FaceQuery
from services.core.cursors import ImageKey, decode
from services.core.domain import ImageQuery, ImageStatus
from services.core.errors import Conflict, NotFound


async def test_add_and_get_image_round_trips_every_field(catalog: Catalog) -> None:
    record = image(1, filename="beach.jpg", width=4000, height=3000, size_bytes=123_456)
    stored, created = await catalog.add_image(record)
    assert created
    assert stored == record
    assert await catalog.get_image(record.id) == record
    assert await catalog.get_image("no-such-id") is None


async def test_same_bytes_uploaded_twice_return_the_first_image(catalog: Catalog) -> None:
    first, _ = await catalog.add_image(image(1))
    again, created = await catalog.add_image(image(1, filename="copy.jpg"))  # new id, same sha256
    assert not created
    assert again.id == first.id and again.filename == first.filename
    page = await catalog.list_images(ImageQuery())
    assert len(page.items) == 1


async def test_adding_the_same_image_again_is_idempotent(catalog: Catalog) -> None:
    record = image(1)
    await catalog.add_image(record)
    stored, created = await catalog.add_image(record)
    assert not created and stored == record


async def test_an_id_reused_for_other_bytes_is_a_conflict(catalog: Catalog) -> None:
    first, _ = await catalog.add_image(image(1))
    with pytest.raises(Conflict):
        await catalog.add_image(image(2, image_id=first.id))


async def test_times_are_utc_and_naive_times_mean_utc(catalog: Catalog) -> None:
    naive = datetime(2024, 1, 2, 3, 4, 5, 678_901)
    record, _ = await catalog.add_image(image(1, uploaded_at=naive))
    stored = await catalog.get_image(record.id)
    assert stored is not None
    assert stored.uploaded_at == datetime(2024, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)
    assert stored.updated_at.tzinfo is not None


async def test_status_transitions_count_attempts_and_keep_errors_readable(catalog: Catalog) -> None:
    record, _ = await catalog.add_image(image(1))
    await catalog.set_image_status(record.id, ImageStatus.detecting, count_attempt=True)
    detecting = await catalog.get_image(record.id)
    assert detecting is not None
    assert detecting.status == ImageStatus.detecting and detecting.attempts == 1
    assert detecting.updated_at > record.updated_at

    await catalog.set_image_status(record.id, ImageStatus.failed, "the MinIO store did not answer")
    failed = await catalog.get_image(record.id)
    assert failed is not None
    assert failed.status == ImageStatus.failed and failed.error == "the MinIO store did not answer"
    assert failed.attempts == 1

    await catalog.set_image_status(record.id, ImageStatus.detecting, count_attempt=True)
    await catalog.set_image_status(record.id, ImageStatus.done)
    done = await catalog.get_image(record.id)
    assert done is not None
    assert done.status == ImageStatus.done and done.error is None and done.attempts == 2


async def test_status_of_a_missing_image_is_not_found(catalog: Catalog) -> None:
    with pytest.raises(NotFound):
        await catalog.set_image_status("no-such-id", ImageStatus.done)


async def test_newest_first_with_ties_by_id_descending(catalog: Catalog) -> None:
    older, _ = await catalog.add_image(image(1, minutes=0))
    tie_a, _ = await catalog.add_image(image(2, minutes=5, image_id="aaaa"))
    tie_b, _ = await catalog.add_image(image(3, minutes=5, image_id="bbbb"))
    newest, _ = await catalog.add_image(image(4, minutes=9))
    page = await catalog.list_images(ImageQuery())
    assert [i.id for i in page.items] == [newest.id, tie_b.id, tie_a.id, older.id]


async def test_cursor_pages_cover_every_image_once_in_order(catalog: Catalog) -> None:
    ids = [(await catalog.add_image(image(n, minutes=n // 3)))[0].id for n in range(23)]  # ties of three
    seen: list[str] = []
    after: ImageKey | None = None
    sizes = []
    while True:
        page = await catalog.list_images(ImageQuery(after=after, limit=5))
        sizes.append(len(page.items))
        seen.extend(i.id for i in page.items)
        if page.next_cursor is None:
            break
        after = decode(ImageKey, page.next_cursor)
    assert sizes == [5, 5, 5, 5, 3]  # the last page says it is the last: no empty page after it
    assert sorted(seen) == sorted(ids) and len(set(seen)) == 23
    full = await catalog.list_images(ImageQuery(limit=500))
    assert [i.id for i in full.items] == seen


async def test_filter_by_status(catalog: Catalog) -> None:
    a, _ = await catalog.add_image(image(1))
    b, _ = await catalog.add_image(image(2))
    await catalog.set_image_status(b.id, ImageStatus.done)
    done = await catalog.list_images(ImageQuery(status=ImageStatus.done))
    queued = await catalog.list_images(ImageQuery(status=ImageStatus.queued))
    assert [i.id for i in done.items] == [b.id] and len(done.items) == 1
    assert [i.id for i in queued.items] == [a.id] and len(queued.items) == 1


async def test_filter_by_upload_time_includes_both_ends(catalog: Catalog) -> None:
    records = [(await catalog.add_image(image(n, minutes=10 * n)))[0] for n in range(5)]
    query = ImageQuery(uploaded_from=EPOCH + timedelta(minutes=10), uploaded_to=EPOCH + timedelta(minutes=30))
    page = await catalog.list_images(query)
    assert [i.id for i in page.items] == [records[3].id, records[2].id, records[1].id]
    assert len(page.items) == 3
    later = await catalog.list_images(ImageQuery(uploaded_from=EPOCH + timedelta(minutes=31)))
    assert [i.id for i in later.items] == [records[4].id]


async def _photo_with(catalog: Catalog, n: int, *people: str | None) -> str:
    """An image whose faces are labelled by a person with ``people`` (None = an unknown face)."""
    record, _ = await catalog.add_image(image(n))
    faces = [face(record.id, left=100 * i) for i in range(len(people))]
    await catalog.replace_detected_faces(record.id, faces)
    for detected, person_id in zip(faces, people, strict=True):
        if person_id is not None:
            await catalog.set_person_label(detected.id, person_id)
    return record.id


async def test_person_search_needs_every_listed_person(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    bob = (await catalog.create_person("Bob")).id
    cid = (await catalog.create_person("Cid")).id
    ann_only = await _photo_with(catalog, 1, ann)
    ann_bob = await _photo_with(catalog, 2, ann, bob)
    all_three = await _photo_with(catalog, 3, bob, ann, cid)
    await _photo_with(catalog, 4, bob)

    with_ann = await catalog.list_images(ImageQuery(person_ids=[ann]))
    assert {i.id for i in with_ann.items} == {ann_only, ann_bob, all_three} and len(with_ann.items) == 3
    with_both = await catalog.list_images(ImageQuery(person_ids=[ann, bob]))
    assert {i.id for i in with_both.items} == {ann_bob, all_three} and len(with_both.items) == 2
    with_three = await catalog.list_images(ImageQuery(person_ids=[cid, ann, bob, ann]))
    assert [i.id for i in with_three.items] == [all_three]
    nobody = await catalog.list_images(ImageQuery(person_ids=[ann, "no-such-person"]))
    assert nobody.items == [] and len(nobody.items) == 0


async def test_person_search_counts_a_photo_once_when_someone_appears_twice(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    twice = await _photo_with(catalog, 1, ann, ann)
    page = await catalog.list_images(ImageQuery(person_ids=[ann]))
    assert [i.id for i in page.items] == [twice] and len(page.items) == 1


async def test_has_unknown_means_at_least_one_face_without_a_person(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    known = await _photo_with(catalog, 1, ann)
    mixed = await _photo_with(catalog, 2, ann, None)
    unknown = await _photo_with(catalog, 3, None)
    no_faces = await _photo_with(catalog, 4)

    with_unknown = await catalog.list_images(ImageQuery(has_unknown=True))
    assert {i.id for i in with_unknown.items} == {mixed, unknown} and len(with_unknown.items) == 2
    without = await catalog.list_images(ImageQuery(has_unknown=False))
    assert {i.id for i in without.items} == {known, no_faces} and len(without.items) == 2
    ann_and_unknown = await catalog.list_images(ImageQuery(person_ids=[ann], has_unknown=True))
    assert [i.id for i in ann_and_unknown.items] == [mixed]


async def test_has_unknown_follows_labels_as_they_change(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    record, _ = await catalog.add_image(image(1))
    [detected] = await catalog.replace_detected_faces(record.id, [face(record.id, 10)])
    assert len((await catalog.list_images(ImageQuery(has_unknown=True))).items) == 1
    assert await catalog.set_model_label(detected.id, ann, "v1", 0.8)
    assert len((await catalog.list_images(ImageQuery(has_unknown=True))).items) == 0
    assert [i.id for i in (await catalog.list_images(ImageQuery(person_ids=[ann]))).items] == [record.id]
    await catalog.set_person_label(detected.id, None)  # a person says: not Ann, unknown
    assert len((await catalog.list_images(ImageQuery(has_unknown=True))).items) == 1
    assert len((await catalog.list_images(ImageQuery(person_ids=[ann]))).items) == 0


async def test_filters_combine_with_cursor_pages(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    ids = [await _photo_with(catalog, n, ann, None) for n in range(7)]
    await _photo_with(catalog, 50, ann)
    for image_id in ids[:5]:
        await catalog.set_image_status(image_id, ImageStatus.done)
    query = ImageQuery(status=ImageStatus.done, person_ids=[ann], has_unknown=True, limit=2)
    first = await catalog.list_images(query)
    page = await catalog.list_images(query.model_copy(update={"after": decode(ImageKey, first.next_cursor)}))
    assert [i.id for i in first.items] == [ids[4], ids[3]]
    assert [i.id for i in page.items] == [ids[2], ids[1]]  # newest first: 4, 3 | 2, 1 | 0


async def test_stalled_images_are_unfinished_and_not_updated_since(catalog: Catalog) -> None:
    now = datetime.now(UTC)
    old = now - timedelta(hours=1)
    stuck_queued, _ = await catalog.add_image(image(1, updated_at=old))
    stuck_detecting, _ = await catalog.add_image(image(2, updated_at=old - timedelta(minutes=1)))
    finished, _ = await catalog.add_image(image(3, updated_at=old))
    recent, _ = await catalog.add_image(image(4))
    await catalog.set_image_status(stuck_detecting.id, ImageStatus.detecting)
    await catalog.set_image_status(finished.id, ImageStatus.done)
    await catalog.set_image_status(recent.id, ImageStatus.classifying)
    # Status changes bump updated_at, so only the untouched queued image is stalled now.
    stalled = await catalog.stalled_images(now - timedelta(minutes=10))
    assert [i.id for i in stalled] == [stuck_queued.id]
    everything = await catalog.stalled_images(datetime.now(UTC) + timedelta(minutes=1))
    assert {i.id for i in everything} == {stuck_queued.id, stuck_detecting.id, recent.id}


async def test_delete_image_removes_its_faces(catalog: Catalog) -> None:
    ann = (await catalog.create_person("Ann")).id
    gone = await _photo_with(catalog, 1, ann, None)
    kept = await _photo_with(catalog, 2, ann)
    assert await catalog.delete_image(gone)
    assert await catalog.get_image(gone) is None
    assert not await catalog.delete_image(gone)
    assert await catalog.list_faces(FaceQuery(image_id=gone)) == []
    assert [f.image_id for f in await catalog.list_faces(FaceQuery(person_id=ann))] == [kept]
    [summary] = await catalog.list_people()
    assert summary.face_count == 1 and summary.image_count == 1
