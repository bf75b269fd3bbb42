"""The webhook store on MongoDB (and FerretDB): a collection per record kind, ``_id`` the record id."""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from services.core.catalog.mongo_base import Doc, Indexes, MongoBase, guard_methods
from services.core.catalog.mongo_docs import to_doc
from services.core.catalog.rules import utc_ms
from services.core.cursors import NewestKey, OldestKey
from services.core.errors import NotFound
from services.core.webhooks.model import Callback, Delivery, DeliveryState, Webhook
from services.core.webhooks.store import WebhookStore

R = TypeVar("R", bound=BaseModel)

_INDEXES: Indexes = {
    "webhooks": [([("created_at", ASCENDING)], {"name": "oldest_first"})],
    "webhook_leases": [([("at", ASCENDING)], {"name": "by_time"})],
    "webhook_deliveries": [([("state", ASCENDING), ("next_attempt_at", ASCENDING)], {"name": "due"}),
                           ([("target", ASCENDING), ("created_at", DESCENDING)], {"name": "by_target"})],
}


def _from(model: type[R], doc: Doc) -> R:
    fields = {key: value for key, value in doc.items() if key != "_id"}
    return model.model_validate({**fields, "id" if "id" in model.model_fields else "image_id": doc["_id"]})


def _callback_doc(callback: Callback) -> Doc:
    doc = to_doc(callback)
    doc["_id"] = doc.pop("image_id")
    return doc


@guard_methods(WebhookStore)
class MongoWebhookStore(MongoBase, WebhookStore):
    INDEXES = _INDEXES

    # hooks

    async def add_hook(self, hook: Webhook) -> Webhook:
        await (await self._col("webhooks")).insert_one(to_doc(hook))
        return hook

    async def get_hook(self, hook_id: str) -> Webhook | None:
        doc = await (await self._col("webhooks")).find_one({"_id": hook_id})
        return None if doc is None else _from(Webhook, doc)

    async def list_hooks(self, limit: int | None = None, after: OldestKey | None = None) -> list[Webhook]:
        where: Doc = {}
        if after is not None:  # the first condition bounds the index range
            where = {"$and": [{"created_at": {"$gte": after.at}},
                              {"$or": [{"created_at": {"$gt": after.at}}, {"_id": {"$gt": after.id}}]}]}
        cursor = (await self._col("webhooks")).find(where).sort([("created_at", ASCENDING), ("_id", ASCENDING)])
        if limit is not None:
            cursor = cursor.limit(limit)
        return [_from(Webhook, doc) for doc in await cursor.to_list(None)]

    async def set_hook_paused(self, hook_id: str, paused: bool) -> Webhook:
        doc = await (await self._col("webhooks")).find_one_and_update(
            {"_id": hook_id}, {"$set": {"paused": paused}}, return_document=ReturnDocument.AFTER)
        if doc is None:
            raise NotFound(f"no webhook with id {hook_id}")
        return _from(Webhook, doc)

    async def delete_hook(self, hook_id: str) -> bool:
        await (await self._col("webhook_deliveries")).delete_many({"target": hook_id})
        result = await (await self._col("webhooks")).delete_one({"_id": hook_id})
        return result.deleted_count > 0

    # upload callbacks

    async def set_callback(self, callback: Callback) -> None:
        doc = _callback_doc(callback)
        await (await self._col("upload_callbacks")).replace_one({"_id": doc["_id"]}, doc, upsert=True)

    async def get_callback(self, image_id: str) -> Callback | None:
        doc = await (await self._col("upload_callbacks")).find_one({"_id": image_id})
        return None if doc is None else _from(Callback, doc)

    # deliveries

    async def claim_delivery(self, delivery: Delivery) -> bool:
        try:
            await (await self._col("webhook_deliveries")).insert_one(to_doc(delivery))
        except DuplicateKeyError:
            return False
        return True

    async def take_due_deliveries(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        deliveries = await self._col("webhook_deliveries")
        due = {"state": DeliveryState.pending.value, "next_attempt_at": {"$lte": now}, "lease_until": {"$lte": now}}
        cursor = deliveries.find(due).sort([("next_attempt_at", ASCENDING), ("_id", ASCENDING)]).limit(limit)
        taken: list[Delivery] = []
        leases = await self._col("webhook_leases")
        for doc in await cursor.to_list(None):
            # A compare-and-set on the lease seen, made of an insert under a unique id: of two gateways that saw
            # the same lease, one inserts. (FerretDB 1.x's conditional updates are not atomic; its inserts are.)
            try:
                await leases.insert_one({"_id": f"{doc['_id']}@{utc_ms(doc['lease_until'])}", "at": now})
            except DuplicateKeyError:
                continue
            await deliveries.update_one({"_id": doc["_id"]}, {"$set": {"lease_until": lease_until}})
            taken.append(_from(Delivery, {**doc, "lease_until": lease_until}))
        return taken

    async def save_delivery(self, delivery: Delivery) -> None:
        result = await (await self._col("webhook_deliveries")).replace_one({"_id": delivery.id}, to_doc(delivery))
        if result.matched_count == 0:
            raise NotFound(f"no delivery with id {delivery.id}")

    async def list_deliveries(self, target: str, limit: int, after: NewestKey | None = None) -> list[Delivery]:
        where: Doc = {"target": target}
        if after is not None:  # the first condition bounds the index range
            where = {"$and": [where, {"created_at": {"$lte": after.at}},
                              {"$or": [{"created_at": {"$lt": after.at}}, {"_id": {"$lt": after.id}}]}]}
        cursor = (await self._col("webhook_deliveries")).find(where).sort(
            [("created_at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [_from(Delivery, doc) for doc in await cursor.to_list(None)]

    async def prune_deliveries(self, finished_before: datetime) -> int:
        await (await self._col("webhook_leases")).delete_many({"at": {"$lt": finished_before}})
        await (await self._col("upload_callbacks")).delete_many({"created_at": {"$lt": finished_before}})
        result = await (await self._col("webhook_deliveries")).delete_many(
            {"state": {"$ne": DeliveryState.pending.value}, "created_at": {"$lt": finished_before}})
        return int(result.deleted_count)
