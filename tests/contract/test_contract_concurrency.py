"""Several catalog clients on one store at once, as the gateway and the worker processes are."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from contract_records import face, image

from services.core.catalog import Catalog, FaceQuery
from services.core.domain import FaceOrigin, ImageQuery
from services.core.errors import Conflict


async def test_face_counts_stay_right_under_concurrent_writers(
    catalog: Catalog, open_more: Callable[[], Catalog]
) -> None:
    record, _ = await catalog.add_image(image(1))
    clients = [open_more() for _ in range(4)]
    ann = (await catalog.create_person("Ann")).id

    async def draw_and_label(client: Catalog, n: int) -> None:
        for i in range(6):
            drawn = await client.add_face(face(record.id, 1000 * n + 60 * i, origin=FaceOrigin.manual))
            if i % 2:
                await client.set_person_label(drawn.id, ann)

    await asyncio.gather(*(draw_and_label(client, n) for n, client in enumerate(clients)))
    stored = await catalog.get_image(record.id)
    assert stored is not None and stored.face_count == 24
    assert len(await catalog.list_faces(FaceQuery(image_id=record.id))) == 24
    assert len((await catalog.list_images(ImageQuery(person_ids=[ann], has_unknown=True))).items) == 1


async def test_concurrent_uploads_of_the_same_bytes_make_one_image(
    catalog: Catalog, open_more: Callable[[], Catalog]
) -> None:
    clients = [open_more() for _ in range(4)]
    results = await asyncio.gather(*(client.add_image(image(7)) for client in clients))
    assert sum(created for _, created in results) == 1
    assert len({stored.id for stored, _ in results}) == 1
    assert len((await catalog.list_images(ImageQuery())).items) == 1


async def test_concurrent_creation_of_one_name_makes_one_person(
    catalog: Catalog, open_more: Callable[[], Catalog]
) -> None:
    clients = [open_more() for _ in range(4)]
    names = ["Ann", "ann", "ANN", " Ann "]
    results = await asyncio.gather(
        *(client.create_person(name) for client, name in zip(clients, names, strict=True)), return_exceptions=True
    )
    assert sum(not isinstance(result, BaseException) for result in results) == 1
    assert all(isinstance(result, Conflict) for result in results if isinstance(result, BaseException))
    assert len(await catalog.list_people()) == 1
