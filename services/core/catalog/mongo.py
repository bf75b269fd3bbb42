"""The production catalog on MongoDB (and FerretDB, which the tests run against).

Only plain finds, single-document updates, indexes and simple aggregations: FerretDB 1.x supports
those, and standalone MongoDB has no multi-document transactions anyway. Every user-supplied value
goes into a filter as a plain value under a fixed field name, so it is never read as an operator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING, DeleteOne, ReplaceOne, ReturnDocument
from pymongo.errors import DuplicateKeyError, OperationFailure

from services.core.catalog import mongo_docs as docs
from services.core.catalog.base import Catalog, FaceQuery
from services.core.catalog.indexes import RETIRED, mongo_specs
from services.core.catalog.mongo_base import (
    Doc,
    Indexes,
    MongoBase,
    all_of,
    guard_methods,
    reported_as_unavailable,
)
from services.core.catalog.rules import (
    UNFINISHED_STATUSES,
    PersonPair,
    as_utc,
    clean_person_name,
    face_order,
    json_safe,
    mentions,
    name_key,
    name_key_changes,
    pair_of,
    plan_redetection,
    provisional_key,
    within_dates,
)
from services.core.cursors import FaceKey, NewestKey, OldestKey, PersonKey, ReviewKey, cut, image_key
from services.core.domain import (
    Action,
    FaceLabelState,
    FaceRecord,
    ImageQuery,
    ImageRecord,
    ImageStatus,
    Job,
    JobState,
    LabelSource,
    LabelVia,
    Page,
    PeopleQuery,
    Person,
    PersonDetails,
    PersonSummary,
    Point,
    ReviewHint,
    new_id,
    utcnow,
)
from services.core.errors import Conflict, NotFound

_FORGET_LABEL = {"person_id": None, "label_source": None, "model_version": None, "confidence": None,
                 "labelled_at": None, "labelled_by": None, "label_via": None}  # fmt: skip
_INDEXES: Indexes = mongo_specs()

def _is_duplicate_key(exc: OperationFailure) -> bool:
    # FerretDB 1.x on SQLite reports a unique-index clash in an update as an internal error
    # ("UNIQUE constraint failed") rather than MongoDB's duplicate key error 11000.
    return isinstance(exc, DuplicateKeyError) or "UNIQUE constraint failed" in str(exc)


async def _none() -> None:
    return None


@guard_methods(Catalog)
class MongoCatalog(MongoBase, Catalog):
    INDEXES = _INDEXES

    # --- name keys (migration) ---
    _name_keys_checked = False

    async def connect(self) -> None:
        await super().connect()
        if self._name_keys_checked:
            return
        try:
            await self._drop_retired_indexes()
            await self._migrate_name_keys()
        except BaseException:
            await self.close()  # connect again, and so migrate again, on the next use
            raise
        self._name_keys_checked = True

    async def _drop_retired_indexes(self) -> None:
        for collection, names in RETIRED.items():
            existing = await (await self._col(collection)).index_information()
            for name in names:
                if name in existing:
                    with contextlib.suppress(OperationFailure):  # another process dropped it first
                        await (await self._col(collection)).drop_index(name)

    async def _migrate_name_keys(self) -> None:
        """Recompute every person's name key with today's rule; people whose names now share a key are both
        kept (the later one gets a distinct key) to be offered for merging. Several processes may run this at
        once: each computes the same keys, and the provisional ones are unique per person."""
        people = await self._col("people")
        cursor = people.find({}, projection={"name": 1, "name_key": 1}).sort([("created_at", ASCENDING),
                                                                              ("_id", ASCENDING)])
        found = [(doc["_id"], doc["name"], doc.get("name_key", "")) for doc in await cursor.to_list(None)]
        changes = name_key_changes(found)
        for person_id in changes:  # two steps so no two people hold one key in between (the index is unique)
            await people.update_one({"_id": person_id}, {"$set": {"name_key": provisional_key(person_id)}})
        for person_id, key in changes.items():
            await people.update_one({"_id": person_id}, {"$set": {"name_key": key}})
    # --- end of name keys ---

    # images

    async def add_image(self, image: ImageRecord) -> tuple[ImageRecord, bool]:
        images = await self._col("images")
        doc = docs.image_doc(image)
        try:
            await images.insert_one(doc)
        except DuplicateKeyError:
            same = await images.find_one({"sha256": image.sha256})
            if same is not None:
                return docs.image_from(same), False
            raise Conflict(f"image id {image.id} is already used by different content") from None
        return docs.image_from(doc), True

    async def add_many(self, images: list[ImageRecord], faces: list[FaceRecord]) -> None:
        owners: dict[str, list[str | None]] = {image.id: [] for image in images}
        for face in faces:
            owners[face.image_id].append(face.person_id)
        if images:
            await (await self._col("images")).insert_many([{**docs.image_doc(i), **docs.face_fields(owners[i.id])}
                                                           for i in images])
        if faces:
            await (await self._col("faces")).insert_many([docs.to_doc(face) for face in faces])

    async def get_image(self, image_id: str) -> ImageRecord | None:
        found = await (await self._col("images")).find_one({"_id": image_id})
        return None if found is None else docs.image_from(found)

    async def images_by_sha256(self, digests: list[str]) -> list[ImageRecord]:
        if not digests:
            return []
        found = (await self._col("images")).find({"sha256": {"$in": digests}})
        return [docs.image_from(doc) async for doc in found]

    async def set_image_status(
        self, image_id: str, status: ImageStatus, error: str | None = None, *, count_attempt: bool = False
    ) -> None:
        change = {
            "$set": {"status": ImageStatus(status).value, "error": error, "updated_at": utcnow()},
            "$inc": {"attempts": int(count_attempt)},
        }
        result = await (await self._col("images")).update_one({"_id": image_id}, change)
        if result.matched_count == 0:
            raise NotFound(f"no image with id {image_id}")

    async def list_images(self, query: ImageQuery) -> Page[ImageRecord]:
        images = await self._col("images")
        conditions: list[Doc] = []
        if query.status is not None:
            conditions.append({"status": ImageStatus(query.status).value})
        # Equality against an array field matches when any element equals: one condition per person.
        conditions.extend({"person_ids": person_id} for person_id in dict.fromkeys(query.person_ids))
        if query.has_unknown is not None:
            conditions.append({"has_unknown": query.has_unknown})
        if query.uploaded_from is not None:
            conditions.append({"uploaded_at": {"$gte": as_utc(query.uploaded_from)}})
        if query.uploaded_to is not None:
            conditions.append({"uploaded_at": {"$lte": as_utc(query.uploaded_to)}})
        if query.after is not None:
            at = as_utc(query.after.at)  # the first condition bounds the index range
            conditions += [{"uploaded_at": {"$lte": at}},
                           {"$or": [{"uploaded_at": {"$lt": at}}, {"_id": {"$lt": query.after.id}}]}]
        where = all_of(conditions)
        cursor = images.find(where).sort([("uploaded_at", DESCENDING), ("_id", DESCENDING)])
        found = await cursor.limit(query.limit + 1).to_list(None)  # one more: is there a next page?
        items, after = cut([docs.image_from(doc) for doc in found], query.limit, image_key)
        return Page[ImageRecord](items=items, next_cursor=after)

    async def image_counts(self) -> dict[ImageStatus, int]:
        # An indexed count per status (by_status): no counter documents, which without multi-document
        # transactions would drift from the images whenever a writer stopped between the two writes.
        images = await self._col("images")
        counts = await asyncio.gather(*(images.count_documents({"status": status.value}) for status in ImageStatus))
        return dict(zip(ImageStatus, counts, strict=True))

    async def stalled_images(self, updated_before: datetime) -> list[ImageRecord]:
        where = {"status": {"$in": list(UNFINISHED_STATUSES)}, "updated_at": {"$lt": as_utc(updated_before)}}
        cursor = (await self._col("images")).find(where).sort([("updated_at", ASCENDING), ("_id", ASCENDING)])
        return [docs.image_from(doc) for doc in await cursor.to_list(None)]

    async def delete_image(self, image_id: str) -> bool:
        # Faces first: an interrupted delete leaves an image that a retry removes, never orphan faces.
        await (await self._col("faces")).delete_many({"image_id": image_id})
        result = await (await self._col("images")).delete_one({"_id": image_id})
        return result.deleted_count > 0

    # faces

    async def _refresh_image(self, image_id: str) -> None:
        """Recompute the image's face fields from its faces.

        Each refresh first bumps ``faces_rev`` and then writes only if it is still the latest, so
        with concurrent writers the last refresh (which read every earlier write) is the one kept.
        """
        images, faces = await self._col("images"), await self._col("faces")
        # No projection in find_one_and_*: FerretDB 1.x's findAndModify does not support one.
        bumped = await images.find_one_and_update(
            {"_id": image_id}, {"$inc": {"faces_rev": 1}}, return_document=ReturnDocument.AFTER
        )
        if bumped is None:
            return
        found = faces.find({"image_id": image_id}, projection={"person_id": 1})
        owners = [face.get("person_id") async for face in found]
        await images.update_one({"_id": image_id, "faces_rev": bumped["faces_rev"]}, {"$set": docs.face_fields(owners)})

    async def _require(self, collection: str, record_id: str | None, what: str) -> None:
        if record_id is None:
            return
        if await (await self._col(collection)).find_one({"_id": record_id}, projection={"_id": 1}) is None:
            raise NotFound(f"no {what} with id {record_id}")

    async def _faces_of(self, image_id: str) -> list[FaceRecord]:
        cursor = (await self._col("faces")).find({"image_id": image_id})
        return sorted((docs.face_from(doc) for doc in await cursor.to_list(None)), key=face_order)

    async def replace_detected_faces(self, image_id: str, faces: list[FaceRecord]) -> list[FaceRecord]:
        await self._require("images", image_id, "image")
        plan = plan_redetection(image_id, await self._faces_of(image_id), faces)
        collection = await self._col("faces")
        # One bulk write of single-id operations: FerretDB reads the whole collection for an `_id: {$in: ...}`.
        writes: list[DeleteOne | ReplaceOne] = [DeleteOne({"_id": face_id}) for face_id in plan.delete_ids]
        writes += [ReplaceOne({"_id": f.id}, docs.to_doc(f), upsert=True) for f in plan.insert]
        if writes:
            await collection.bulk_write(writes)
        await self._refresh_image(image_id)
        return await self._faces_of(image_id)

    async def add_face(self, face: FaceRecord) -> FaceRecord:
        await self._require("images", face.image_id, "image")
        await self._require("people", face.person_id, "person")
        collection = await self._col("faces")
        earlier = await collection.find_one_and_replace({"_id": face.id}, docs.to_doc(face), upsert=True)
        await self._refresh_image(face.image_id)
        if earlier is not None and earlier["image_id"] != face.image_id:
            await self._refresh_image(earlier["image_id"])
        stored = await self.get_face(face.id)
        if stored is None:  # deleted again by someone else in between
            raise NotFound(f"no face with id {face.id}")
        return stored

    async def get_face(self, face_id: str) -> FaceRecord | None:
        found = await (await self._col("faces")).find_one({"_id": face_id})
        return None if found is None else docs.face_from(found)

    async def list_faces(self, query: FaceQuery) -> list[FaceRecord]:
        where, projection, order = _faces_find(query)
        cursor = (await self._col("faces")).find(where, projection).sort(order).limit(query.limit)
        return [docs.face_from(doc) for doc in await cursor.to_list(None)]

    async def walk_faces(self, query: FaceQuery, page_size: int) -> AsyncIterator[FaceRecord]:
        """One cursor in the query's order, fetched ``page_size`` at a time. MongoDB reads it from the same index
        as keyset pages; FerretDB 1.x sorts the whole collection for every query, so there each keyset page
        would cost a full sort (a walk of 250,000 faces: hours) where one cursor costs one."""
        where, projection, order = _faces_find(query)
        with reported_as_unavailable(self):
            faces = await self._col("faces")
            cursor = faces.find(where, projection, batch_size=page_size).sort(order)
            try:
                async for doc in cursor:
                    yield docs.face_from(doc)
            finally:
                await cursor.close()

    async def set_face_analysis(self, face_id: str, descriptor: list[float], chip_key: str,
                                descriptor_model: str | None = None, *, quality: float | None = None,
                                landmarks: list[Point] | None = None) -> None:
        fields: dict[str, Any] = {"descriptor": [float(v) for v in descriptor], "chip_key": chip_key,
                                  "descriptor_model": descriptor_model}
        if quality is not None:
            fields["quality"] = quality
        if landmarks is not None:
            fields["landmarks"] = [p.model_dump() for p in landmarks]
        change = {"$set": fields}
        result = await (await self._col("faces")).update_one({"_id": face_id}, change)
        if result.matched_count == 0:
            raise NotFound(f"no face with id {face_id}")

    async def _may_name(self, face_id: str, person_id: str) -> bool:
        """Whether a model may name this face this person: they exist, have not opted out, no person said the face
        is not them, and the photo was not taken outside their dates."""
        person_doc = await (await self._col("people")).find_one({"_id": person_id, "never_tag": {"$ne": True}})
        face = await self.get_face(face_id)
        if person_doc is None or face is None or person_id in face.not_person_ids:
            return False
        image = await self.get_image(face.image_id)
        return within_dates(docs.person_from(person_doc), image.taken_at if image else None)

    async def set_model_label(self, face_id: str, person_id: str | None, model_version: str, confidence: float,
                              review: ReviewHint | None = None) -> bool:
        if person_id is not None and not await self._may_name(face_id, person_id):
            person_id = None
        label = {
            "person_id": person_id, "label_source": LabelSource.model.value, "model_version": model_version,
            "confidence": confidence, "labelled_at": utcnow(), "labelled_by": None, "label_via": None,
            "review": None if review is None else review.model_dump(),
        }  # fmt: skip
        faces = await self._col("faces")
        # The filter makes "not labelled by a person" and the write one atomic step.
        before = await faces.find_one_and_update(
            {"_id": face_id, "label_source": {"$ne": LabelSource.person.value}}, {"$set": label},
        )  # fmt: skip
        if before is None:
            if await faces.find_one({"_id": face_id}, projection={"_id": 1}) is None:
                raise NotFound(f"no face with id {face_id}")
            return False
        if before.get("person_id") != person_id:
            await self._refresh_image(before["image_id"])
        return True

    async def set_person_label(self, face_id: str, person_id: str | None, *, by: str | None = None,
                               via: LabelVia | None = None) -> FaceRecord:
        await self._require("people", person_id, "person")
        label = {
            "person_id": person_id, "label_source": LabelSource.person.value, "model_version": None,
            "confidence": None, "labelled_at": utcnow(), "labelled_by": by, "label_via": via, "review": None,
        }  # fmt: skip
        change: Doc = {"$set": label}
        if person_id is not None:
            change["$pull"] = {"not_person_ids": person_id}
        after = await (await self._col("faces")).find_one_and_update(
            {"_id": face_id}, change, return_document=ReturnDocument.AFTER
        )
        if after is None:
            raise NotFound(f"no face with id {face_id}")
        await self._refresh_image(after["image_id"])
        return docs.face_from(after)

    async def add_not_person(self, face_id: str, person_id: str, *, by: str | None = None,
                             via: LabelVia | None = None) -> FaceRecord:
        await self._require("people", person_id, "person")
        faces = await self._col("faces")
        # Two steps, each atomic: remember "not X", then forget the label only if it still says X.
        if (await faces.update_one({"_id": face_id}, {"$addToSet": {"not_person_ids": person_id}})).matched_count == 0:
            raise NotFound(f"no face with id {face_id}")
        forget = {**_FORGET_LABEL, "labelled_by": by, "label_via": via, "review": None}
        if (await faces.update_one({"_id": face_id, "person_id": person_id}, {"$set": forget})).modified_count:
            face = await self.get_face(face_id)
            if face is not None:
                await self._refresh_image(face.image_id)
        face = await self.get_face(face_id)
        if face is None:
            raise NotFound(f"no face with id {face_id}")
        return face

    async def restore_face_labels(self, states: list[FaceLabelState]) -> int:
        faces = await self._col("faces")
        wanted = {s.person_id for s in states if s.person_id is not None}
        known = {doc["_id"] async for doc in (await self._col("people")).find({"_id": {"$in": sorted(wanted)}},
                                                                              projection={"_id": 1})}
        restored, images = 0, set()
        for state in states:
            if state.person_id is not None and state.person_id not in known:
                state = FaceLabelState(id=state.id, not_person_ids=state.not_person_ids)
            fields = docs.to_doc(state)
            fields.pop("_id")
            before = await faces.find_one_and_update({"_id": state.id}, {"$set": fields})
            if before is not None:
                restored += 1
                images.add(before["image_id"])
        for image_id in sorted(images):
            await self._refresh_image(image_id)
        return restored

    async def delete_face(self, face_id: str) -> bool:
        removed = await (await self._col("faces")).find_one_and_delete({"_id": face_id})
        if removed is None:
            return False
        await self._refresh_image(removed["image_id"])
        return True

    # people

    async def create_person(self, name: str) -> Person:
        person = Person(id=new_id(), name=clean_person_name(name), created_at=utcnow())
        try:
            await (await self._col("people")).insert_one({**docs.to_doc(person), "name_key": name_key(person.name)})
        except DuplicateKeyError:
            raise Conflict(f"a person named {person.name!r} already exists") from None
        return person

    async def get_person(self, person_id: str) -> Person | None:
        found = await (await self._col("people")).find_one({"_id": person_id})
        return None if found is None else docs.person_from(found)

    async def all_people(self) -> list[Person]:
        found = (await self._col("people")).find().sort([("name_key", ASCENDING), ("_id", ASCENDING)])
        return [docs.person_from(doc) for doc in await found.to_list(None)]

    async def get_people(self, person_ids: list[str]) -> list[Person]:
        found = (await self._col("people")).find({"_id": {"$in": list(person_ids)}})
        return [docs.person_from(doc) for doc in await found.to_list(None)]

    async def find_person(self, name: str) -> Person | None:
        found = await (await self._col("people")).find_one({"name_key": name_key(name)})
        return None if found is None else docs.person_from(found)

    async def _per_person(self, pipeline: list[Doc]) -> dict[str, int]:
        cursor = (await self._col("faces")).aggregate(pipeline)
        return {row["_id"]: row["n"] for row in await cursor.to_list(None)}

    async def _cover_face(self, person_id: str, chosen: str | None) -> str | None:
        """The chosen face while it is still theirs, else the smallest id among person-labelled faces, else the
        smallest id of any face.

        One indexed lookup per person: FerretDB 1.x's $group has only $sum and $count, no $min.
        """
        faces = await self._col("faces")
        wheres: list[Doc] = [{"_id": chosen, "person_id": person_id}] if chosen else []
        wheres += [{"person_id": person_id, "label_source": LabelSource.person.value}, {"person_id": person_id}]
        for where in wheres:
            found = await faces.find_one(where, projection={"_id": 1}, sort=[("_id", ASCENDING)])
            if found is not None:
                return str(found["_id"])
        return None

    async def people_page(self, query: PeopleQuery) -> Page[PersonSummary]:
        conditions: list[Doc] = []
        if query.after is not None:
            key = query.after
            conditions += [{"name_key": {"$gte": key.name_key}},
                           {"$or": [{"name_key": {"$gt": key.name_key}}, {"_id": {"$gt": key.id}}]}]
        if not query.include_hidden:
            conditions.append({"hidden": {"$ne": True}})
        if query.ids is not None:
            conditions.append({"_id": {"$in": query.ids}})
        if query.name_contains:
            conditions.append({"name_key": {"$regex": re.escape(query.name_contains)}})  # plain text, escaped
        cursor = (await self._col("people")).find(all_of(conditions))
        cursor = cursor.sort([("name_key", ASCENDING), ("_id", ASCENDING)])
        found = await (cursor if query.limit is None else cursor.limit(query.limit + 1)).to_list(None)
        people, after = cut(found, query.limit, lambda doc: PersonKey(name_key=doc["name_key"], id=doc["_id"]))
        # Counts for the page's people only, through the person_faces index: the cost follows the page.
        labelled: Doc = {"$match": {"person_id": {"$in": [doc["_id"] for doc in people]}}}
        face_counts = await self._per_person([labelled, {"$group": {"_id": "$person_id", "n": {"$sum": 1}}}])
        # Distinct images: group by (person, image) first, then count those pairs per person.
        pairs: Doc = {"$group": {"_id": {"p": "$person_id", "i": "$image_id"}}}
        image_counts = await self._per_person([labelled, pairs, {"$group": {"_id": "$_id.p", "n": {"$sum": 1}}}])
        covers = await asyncio.gather(
            *(self._cover_face(doc["_id"], doc.get("chosen_cover_id")) if doc["_id"] in face_counts else _none()
              for doc in people)
        )
        items = [
            PersonSummary(
                **docs.person_from(doc).model_dump(),
                face_count=face_counts.get(doc["_id"], 0),
                image_count=image_counts.get(doc["_id"], 0),
                cover_face_id=cover,
            )
            for doc, cover in zip(people, covers, strict=True)
        ]
        return Page[PersonSummary](items=items, next_cursor=after)

    async def rename_person(self, person_id: str, name: str) -> Person:
        cleaned = clean_person_name(name)
        key = name_key(cleaned)
        people = await self._col("people")
        taken = await people.find_one({"name_key": key, "_id": {"$ne": person_id}}, projection={"_id": 1})
        if taken is not None:
            raise Conflict(f"a person named {cleaned!r} already exists")
        try:  # the unique index still decides a race with a concurrent rename or create
            result = await people.update_one({"_id": person_id}, {"$set": {"name": cleaned, "name_key": key}})
        except OperationFailure as exc:
            if _is_duplicate_key(exc):
                raise Conflict(f"a person named {cleaned!r} already exists") from None
            raise
        if result.matched_count == 0:
            raise NotFound(f"no person with id {person_id}")
        renamed = await self.get_person(person_id)
        if renamed is None:  # deleted by someone else just now
            raise NotFound(f"no person with id {person_id}")
        return renamed

    async def _relabel_faces(self, person_id: str, change: Doc) -> None:
        """Apply ``change`` to every face of a person, then refresh the images they are on."""
        faces = await self._col("faces")
        image_ids = await faces.distinct("image_id", {"person_id": person_id})
        await faces.update_many({"person_id": person_id}, {"$set": change})
        for image_id in image_ids:
            await self._refresh_image(image_id)

    async def set_never_tag(self, person_id: str, never_tag: bool) -> Person:
        people, faces = await self._col("people"), await self._col("faces")
        if (await people.update_one({"_id": person_id}, {"$set": {"never_tag": never_tag}})).matched_count == 0:
            raise NotFound(f"no person with id {person_id}")
        if never_tag:
            guessed = {"person_id": person_id, "label_source": LabelSource.model.value}
            image_ids = await faces.distinct("image_id", guessed)
            await faces.update_many(guessed, {"$set": {"person_id": None}})
            for image_id in image_ids:
                await self._refresh_image(image_id)
        person = await self.get_person(person_id)
        assert person is not None
        return person

    async def set_person_details(self, person_id: str, details: PersonDetails) -> Person:
        fields = docs.to_doc(details)
        fields.pop("_id", None)
        if (await (await self._col("people")).update_one({"_id": person_id}, {"$set": fields})).matched_count == 0:
            raise NotFound(f"no person with id {person_id}")
        person = await self.get_person(person_id)
        if person is None:
            raise NotFound(f"no person with id {person_id}")
        return person

    async def restore_person(self, person: Person) -> Person:
        people = await self._col("people")
        doc = {**docs.to_doc(person), "name_key": name_key(person.name)}
        try:
            await people.replace_one({"_id": person.id}, doc, upsert=True)
        except OperationFailure as exc:
            if _is_duplicate_key(exc):
                raise Conflict(f"a person named {person.name!r} exists again; rename them first") from None
            raise
        restored = await self.get_person(person.id)
        assert restored is not None
        return restored

    async def delete_person(self, person_id: str) -> bool:
        if await self.get_person(person_id) is None:
            return False
        # Faces first: if interrupted, the person still exists and deleting again finishes the job.
        await self._relabel_faces(person_id, _FORGET_LABEL)
        result = await (await self._col("people")).delete_one({"_id": person_id})
        return result.deleted_count > 0

    async def merge_people(self, source_id: str, target_id: str) -> Person:
        source, target = await self.get_person(source_id), await self.get_person(target_id)
        if source is None:
            raise NotFound(f"no person with id {source_id}")
        if target is None:
            raise NotFound(f"no person with id {target_id}")
        if source_id == target_id:
            raise Conflict("a person cannot be merged into themselves")
        await self._relabel_faces(source_id, {"person_id": target_id})
        faces = await self._col("faces")
        # "Not the source" becomes "not the target" (two steps: FerretDB 1.x has no positional update).
        marked = {"not_person_ids": source_id}
        await faces.update_many(marked, {"$addToSet": {"not_person_ids": target_id}})
        await faces.update_many(marked, {"$pull": {"not_person_ids": source_id}})
        await (await self._col("people")).delete_one({"_id": source_id})
        return target

    async def mark_not_same(self, first_id: str, second_id: str) -> PersonPair:
        pair = pair_of(first_id, second_id)
        fields = {"first_id": pair[0], "second_id": pair[1], "created_at": utcnow()}
        # The pair is its own id: saying it twice stores it once.
        await (await self._col("people_not_same")).update_one({"_id": "|".join(pair)}, {"$setOnInsert": fields},
                                                               upsert=True)
        return pair

    async def not_same_pairs(self) -> set[PersonPair]:
        found = (await self._col("people_not_same")).find({}, projection={"first_id": 1, "second_id": 1})
        return {(doc["first_id"], doc["second_id"]) for doc in await found.to_list(None)}

    async def erase_person_traces(self, person_id: str, face_ids: set[str]) -> list[str]:
        actions = await self._col("actions")
        gone = [doc["_id"] async for doc in actions.find({})
                if mentions(json.dumps(doc, default=str), {person_id, *face_ids})]
        if gone:
            await actions.delete_many({"_id": {"$in": gone}})
        await (await self._col("faces")).update_many({"not_person_ids": person_id},
                                                     {"$pull": {"not_person_ids": person_id}})
        await (await self._col("people_not_same")).delete_many({"$or": [{"first_id": person_id},
                                                                        {"second_id": person_id}]})
        return [str(action_id) for action_id in gone]

    # undoable actions

    async def add_action(self, action: Action) -> Action:
        with contextlib.suppress(DuplicateKeyError):  # saved already: the same action again
            await (await self._col("actions")).insert_one(docs.to_doc(action))
        return action

    async def get_action(self, action_id: str) -> Action | None:
        found = await (await self._col("actions")).find_one({"_id": action_id})
        return None if found is None else docs.action_from(found)

    async def list_actions(self, actor: str | None, limit: int, after: NewestKey | None = None) -> list[Action]:
        conditions: list[Doc] = [] if actor is None else [{"actor": actor}]
        if after is not None:
            at = as_utc(after.at)
            conditions += [{"created_at": {"$lte": at}},
                           {"$or": [{"created_at": {"$lt": at}}, {"_id": {"$lt": after.id}}]}]
        where = all_of(conditions)
        cursor = (await self._col("actions")).find(where).sort([("created_at", DESCENDING), ("_id", DESCENDING)])
        return [docs.action_from(doc) for doc in await cursor.limit(limit).to_list(None)]

    async def mark_action_undone(self, action_id: str) -> bool:
        result = await (await self._col("actions")).update_one({"_id": action_id, "undone_at": None},
                                                              {"$set": {"undone_at": utcnow()}})
        return result.modified_count > 0

    # jobs

    async def create_job(self, job: Job) -> Job:
        jobs = await self._col("jobs")
        doc = docs.job_doc(job)
        try:
            await jobs.insert_one(doc)
        except DuplicateKeyError:
            existing = await jobs.find_one({"_id": job.id})
            if existing is not None:
                return docs.job_from(existing)
            raise
        return docs.job_from(doc)

    async def get_job(self, job_id: str) -> Job | None:
        found = await (await self._col("jobs")).find_one({"_id": job_id})
        return None if found is None else docs.job_from(found)

    async def list_jobs(self) -> list[Job]:
        cursor = (await self._col("jobs")).find().sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        return [docs.job_from(doc) for doc in await cursor.to_list(None)]

    async def update_job(
        self,
        job_id: str,
        *,
        state: JobState | None = None,
        progress: float | None = None,
        message: str | None = None,
        result: dict[str, object] | None = None,
    ) -> Job:
        change: Doc = {"updated_at": utcnow()}
        if state is not None:
            change["state"] = JobState(state).value
        if progress is not None:
            change["progress"] = progress
        if message is not None:
            change["message"] = message
        if result is not None:
            change["result"] = json_safe(result)
        after = await (await self._col("jobs")).find_one_and_update(
            {"_id": job_id}, {"$set": change}, return_document=ReturnDocument.AFTER
        )
        if after is None:
            raise NotFound(f"no job with id {job_id}")
        return docs.job_from(after)


def _faces_find(query: FaceQuery) -> tuple[Doc, Doc | None, list[tuple[str, int]]]:
    """Filter, projection and sort that list the faces ``query`` asks for, in its order."""
    conditions: list[Doc] = []
    if query.image_id is not None:
        conditions.append({"image_id": query.image_id})
    if query.image_ids is not None:
        # One photo, the usual case of a photo just done: an equality. FerretDB reads the whole collection for
        # any `$in`, and this runs for every photo processed.
        ids = query.image_ids
        conditions.append({"image_id": ids[0] if len(ids) == 1 else {"$in": ids}})
    if query.person_id is not None:
        conditions.append({"person_id": query.person_id})
    if query.unknown_only:
        conditions.append({"person_id": None})
    if query.label_source is not None:
        conditions.append({"label_source": query.label_source})
    if query.with_descriptor:
        conditions.append({"descriptor": {"$ne": None}})
    if query.labelled_since is not None:
        conditions.append({"labelled_at": {"$gte": as_utc(query.labelled_since)}})
    if query.with_not_person:
        conditions.append({"not_person_ids": {"$exists": True, "$ne": []}})
    order = {FaceKey: [("image_id", ASCENDING), ("box.left", ASCENDING), ("_id", ASCENDING)],
             ReviewKey: [("review.score", DESCENDING), ("_id", ASCENDING)],
             OldestKey: [("labelled_at", ASCENDING), ("_id", ASCENDING)]}[query.order]
    if query.to_review:
        conditions += [{"review": {"$ne": None}}, {"label_source": {"$ne": LabelSource.person.value}}]
    key = query.after  # in each order, the first condition bounds the index range
    if isinstance(key, FaceKey):
        conditions += [{"image_id": {"$gte": key.image_id}},
                       {"$or": [{"image_id": {"$gt": key.image_id}}, {"box.left": {"$gt": key.left}},
                                {"box.left": key.left, "_id": {"$gt": key.id}}]}]
    elif isinstance(key, OldestKey):
        at = as_utc(key.at)
        conditions += [{"labelled_at": {"$gte": at}},
                       {"$or": [{"labelled_at": {"$gt": at}}, {"_id": {"$gt": key.id}}]}]
    elif key is not None:
        conditions += [{"review.score": {"$lte": key.score}},
                       {"$or": [{"review.score": {"$lt": key.score}}, {"_id": {"$gt": key.id}}]}]
    projection = None if query.load_descriptor else {"descriptor": False}
    return all_of(conditions), projection, order
