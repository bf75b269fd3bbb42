"""The embedded catalog shared by several processes at once, as the gateway and the workers share it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from contract_records import image

from services.core.catalog import FaceQuery, open_catalog
from services.core.domain import ImageQuery

REPO_ROOT = Path(__file__).resolve().parents[2]

# Each process: its own person and ten photos of them, plus manual boxes on one photo they all share.
WORKER = textwrap.dedent(
    """
    import asyncio, hashlib, sys
    from services.core.catalog import open_catalog
    from services.core.domain import Box, FaceOrigin, FaceRecord, ImageRecord, new_id

    async def main(url: str, n: int) -> None:
        catalog = open_catalog(url)
        await catalog.connect()
        person = await catalog.create_person(f"Person {n}")
        shared, _ = await catalog.add_image(
            ImageRecord(id=new_id(), sha256=hashlib.sha256(b"image-999").hexdigest())
        )
        for i in range(10):
            photo, _ = await catalog.add_image(
                ImageRecord(id=new_id(), sha256=hashlib.sha256(f"{n}-{i}".encode()).hexdigest())
            )
            faces = [
                FaceRecord(id=new_id(), image_id=photo.id, box=Box(left=100 * k, top=0, width=50, height=50))
                for k in range(3)
            ]
            await catalog.replace_detected_faces(photo.id, faces)
            await catalog.set_person_label(faces[0].id, person.id)
            box = Box(left=1000 * n + 60 * i, top=0, width=50, height=50)
            await catalog.add_face(FaceRecord(id=new_id(), image_id=shared.id, box=box, origin=FaceOrigin.manual))
        await catalog.close()

    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
    """
)


async def test_several_processes_write_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'shared.db'}"
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, url, str(n)], cwd=REPO_ROOT, stderr=subprocess.PIPE)
        for n in range(3)
    ]
    for worker in workers:
        _, errors = worker.communicate(timeout=120)
        assert worker.returncode == 0, errors.decode()

    catalog = open_catalog(url)
    try:
        assert len((await catalog.list_images(ImageQuery())).items) == 31
        shared, created = await catalog.add_image(image(999))
        assert not created and shared.face_count == 30
        people = await catalog.list_people()
        assert [(p.name, p.face_count, p.image_count) for p in people] == [(f"Person {n}", 10, 10) for n in range(3)]
        assert len(await catalog.list_faces(FaceQuery(limit=1000))) == 3 * 10 * 3 + 30
    finally:
        await catalog.close()
