"""Catalog records to API shapes, with person names and download URLs filled in."""

from __future__ import annotations

from services.core.catalog import Catalog, FaceQuery
from services.core.catalog.paging import iter_faces
from services.core.domain import FaceRecord, ImageRecord, Person
from services.core.quality_gate import is_good
from services.core.settings import get_settings
from services.gateway.schemas import FaceOut, ImageOut, PersonRef


class PeopleCache:
    """Person lookups for one response, each id fetched once (and the quality rule the response shows)."""

    def __init__(self, catalog: Catalog, min_quality: float | None = None) -> None:
        self.catalog = catalog
        self.known: dict[str, Person | None] = {}
        self.min_quality = get_settings().min_face_quality if min_quality is None else min_quality

    async def load(self, person_ids: set[str]) -> None:
        """Fetch these people in one query (a page's worth), so the refs that follow ask nothing more."""
        wanted = sorted(person_ids - self.known.keys())
        if wanted:
            found = {person.id: person for person in await self.catalog.get_people(wanted)}
            self.known.update({person_id: found.get(person_id) for person_id in wanted})

    async def ref(self, person_id: str | None) -> PersonRef | None:
        if person_id is None:
            return None
        if person_id not in self.known:
            self.known[person_id] = await self.catalog.get_person(person_id)
        person = self.known[person_id]
        return PersonRef(id=person.id, name=person.name) if person else None

    async def name(self, person_id: str | None) -> str | None:
        ref = await self.ref(person_id)
        return ref.name if ref else None


async def face_out(face: FaceRecord, people: PeopleCache) -> FaceOut:
    return FaceOut(
        id=face.id,
        image_id=face.image_id,
        box=face.box,
        landmarks=face.landmarks,
        detection_score=face.detection_score,
        origin=face.origin,
        person=await people.ref(face.person_id),
        label_source=face.label_source,
        model_version=face.model_version,
        confidence=face.confidence,
        chip_url=f"/v1/faces/{face.id}/chip" if face.chip_key else None,
        quality=face.quality,
        low_quality=not is_good(face.quality, people.min_quality),
        detector=face.detector,
        descriptor_model=face.descriptor_model,
        labelled_at=face.labelled_at,
        labelled_by=face.labelled_by,
        label_via=face.label_via,
        not_people=[ref for pid in face.not_person_ids if (ref := await people.ref(pid)) is not None],
    )


async def image_out(image: ImageRecord, catalog: Catalog, people: PeopleCache | None = None) -> ImageOut:
    faces = await catalog.list_faces(FaceQuery(image_id=image.id))
    return await _image_out(image, faces, people or PeopleCache(catalog))


async def image_outs(images: list[ImageRecord], catalog: Catalog) -> list[ImageOut]:
    """A page of photos with their faces and names: one query for all the page's faces, one for their people."""
    by_image: dict[str, list[FaceRecord]] = {image.id: [] for image in images}
    async for face in iter_faces(catalog, FaceQuery(image_ids=list(by_image), load_descriptor=False)):
        by_image[face.image_id].append(face)
    people = PeopleCache(catalog)
    await people.load({pid for faces in by_image.values() for f in faces for pid in (f.person_id, *f.not_person_ids)
                       if pid is not None})
    return [await _image_out(image, by_image[image.id], people) for image in images]


async def _image_out(image: ImageRecord, faces: list[FaceRecord], people: PeopleCache) -> ImageOut:
    base = f"/v1/images/{image.id}"
    return ImageOut(
        **image.model_dump(include={"id", "status", "error", "filename", "content_type", "width", "height",
                                    "size_bytes", "face_count", "uploaded_at", "updated_at", "taken_at"}),
        url=base,
        original_url=f"{base}/original",
        thumbnail_url=f"{base}/thumbnail",
        faces=[await face_out(f, people) for f in faces],
    )
