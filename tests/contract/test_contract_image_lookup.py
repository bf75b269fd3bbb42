"""Catalog contract, finding images by their content hash (what a resumed import asks). Every implementation."""

from __future__ import annotations

import hashlib

from contract_records import image

from services.core.catalog import Catalog


async def test_images_are_found_by_the_sha256_of_their_bytes(catalog: Catalog) -> None:
    stored = [(await catalog.add_image(image(n)))[0] for n in range(3)]
    unknown = hashlib.sha256(b"never uploaded").hexdigest()

    found = await catalog.images_by_sha256([stored[0].sha256, unknown, stored[2].sha256])

    assert sorted(i.id for i in found) == sorted([stored[0].id, stored[2].id])
    assert {i.sha256: i for i in found}[stored[2].sha256] == stored[2]  # the whole record, not just the id
    assert await catalog.images_by_sha256([unknown]) == []
    assert await catalog.images_by_sha256([]) == []


async def test_a_deleted_image_is_no_longer_found_by_its_hash(catalog: Catalog) -> None:
    stored, _ = await catalog.add_image(image(1))
    await catalog.delete_image(stored.id)
    assert await catalog.images_by_sha256([stored.sha256]) == []
