"""Catalog contract, bulk loading: a library added in one go reads as if added record by record."""

from __future__ import annotations

from contract_records import EPOCH, face, image

from services.core.catalog import Catalog, FaceQuery
from services.core.domain import ImageQuery, LabelSource


async def test_a_library_added_in_bulk_answers_like_one_added_face_by_face(catalog: Catalog) -> None:
    ann, bob = await catalog.create_person("Ann"), await catalog.create_person("Bob")
    first, second, empty = image(1), image(2), image(3)
    named = face(first.id, 300, person_id=ann.id, label_source=LabelSource.person, descriptor=[0.5, 0.25],
                 created_at=EPOCH)
    guessed = face(first.id, 100, person_id=bob.id, label_source=LabelSource.model, model_version="v1",
                   confidence=0.75, created_at=EPOCH)
    stranger = face(second.id, 50, created_at=EPOCH)
    guessed_ann = face(second.id, 200, person_id=ann.id, label_source=LabelSource.model, model_version="v1",
                       confidence=0.5, created_at=EPOCH)

    await catalog.add_many([first, second, empty], [named, guessed, stranger, guessed_ann])

    counts = {i.id: i.face_count for i in (await catalog.list_images(ImageQuery())).items}
    assert counts == {first.id: 2, second.id: 2, empty.id: 0}
    assert await catalog.list_faces(FaceQuery(image_id=first.id)) == [guessed, named]  # left to right
    assert await catalog.get_face(named.id) == named
    with_ann = await catalog.list_images(ImageQuery(person_ids=[ann.id]))
    assert [i.id for i in with_ann.items] == [second.id, first.id] and with_ann.next_cursor is None
    assert [i.id for i in (await catalog.list_images(ImageQuery(has_unknown=True))).items] == [second.id]
    people = {p.name: (p.face_count, p.image_count) for p in await catalog.list_people()}
    assert people == {"Ann": (2, 2), "Bob": (1, 1)}
