"""Everything stored about one person, as a zip they can be given: every photo they appear in, with
their face boxes, the name, and when each face was labelled and by whom (person or model)."""

from __future__ import annotations

import asyncio
import json
import mimetypes
import re
import tempfile
import zipfile
from pathlib import Path

from services.core import blob_layout
from services.core.domain import utcnow
from services.core.erasure import faces_of
from services.core.errors import NotFound
from services.core.stores import Stores


def _file_name(image_id: str, filename: str, content_type: str) -> str:
    stem = re.sub(r"[^\w.-]+", "_", Path(filename).stem).strip("._")[:60]
    extension = mimetypes.guess_extension(content_type) or ""
    return f"photos/{image_id}{'-' + stem if stem else ''}{extension}"


async def export_person(stores: Stores, person_id: str, into: Path) -> Path:
    """Write the zip to a new file in the folder ``into``; its path."""
    person = await stores.catalog.get_person(person_id)
    if person is None:
        raise NotFound(f"No person with id {person_id!r}.")
    faces = await faces_of(stores, person.id)
    by_image: dict[str, list[dict[str, object]]] = {}
    for face in faces:
        by_image.setdefault(face.image_id, []).append({
            "face_id": face.id, "box": face.box.model_dump(), "labelled_by": face.label_source,
            "labelled_at": face.labelled_at.isoformat() if face.labelled_at else None,
            "model_version": face.model_version, "confidence": face.confidence})
    fd, name = tempfile.mkstemp(prefix="facetag-export-", suffix=".zip", dir=into)
    photos = []
    with open(fd, "wb") as out, zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as archive:
        for image_id, image_faces in by_image.items():
            image = await stores.catalog.get_image(image_id)
            if image is None:
                continue
            path = _file_name(image.id, image.filename, image.content_type)
            try:
                archive.writestr(path, await asyncio.to_thread(stores.blobs.get, blob_layout.original(image.id)))
            except NotFound:
                path = ""
            photos.append({"image_id": image.id, "filename": image.filename, "file": path or None,
                           "uploaded_at": image.uploaded_at.isoformat(), "width": image.width,
                           "height": image.height, "faces": image_faces})
        archive.writestr("person.json", json.dumps({
            "person": {"id": person.id, "name": person.name, "created_at": person.created_at.isoformat(),
                       "never_tag": person.never_tag},
            "exported_at": utcnow().isoformat(), "photos": photos,
            "note": "Boxes are pixels in the upright photo (left, top, width, height).",
        }, indent=1, default=str))
    return Path(name)
