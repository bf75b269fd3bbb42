"""The webhook store in the embedded SQLite file: each record's JSON in ``doc``, with the columns that are
looked up or sorted on (times as integer milliseconds, as in the catalog)."""

from __future__ import annotations

import sqlite3
from datetime import datetime

from services.core.catalog.rules import utc_ms
from services.core.catalog.sqlite_base import SQLiteBase
from services.core.cursors import NewestKey, OldestKey
from services.core.errors import NotFound
from services.core.webhooks.model import Callback, Delivery, DeliveryState, Webhook
from services.core.webhooks.store import WebhookStore

SCHEMA = """
CREATE TABLE IF NOT EXISTS webhooks (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS upload_callbacks (
    image_id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS webhook_deliveries (
    id TEXT PRIMARY KEY, target TEXT NOT NULL, state TEXT NOT NULL, next_attempt_at INTEGER,
    lease_until INTEGER NOT NULL, created_at INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_due ON webhook_deliveries (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS deliveries_by_target ON webhook_deliveries (target, created_at DESC)
"""


class SQLiteWebhookStore(SQLiteBase, WebhookStore):
    SCHEMA = SCHEMA
    WHAT = "SQLite webhook store"

    # hooks

    async def add_hook(self, hook: Webhook) -> Webhook:
        async with self._session(write=True) as db:
            await db.execute("INSERT INTO webhooks (id, created_at, doc) VALUES (?, ?, ?)",
                             (hook.id, utc_ms(hook.created_at), hook.model_dump_json()))
        return hook

    async def get_hook(self, hook_id: str) -> Webhook | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM webhooks WHERE id = ?", (hook_id,))
        return None if row is None else Webhook.model_validate_json(row["doc"])

    async def list_hooks(self, limit: int | None = None, after: OldestKey | None = None) -> list[Webhook]:
        where, params = ("WHERE (created_at, id) > (?, ?)", [utc_ms(after.at), after.id]) if after else ("", [])
        async with self._session() as db:
            rows = await self._all(db, f"SELECT doc FROM webhooks {where} ORDER BY created_at, id LIMIT ?",
                                   (*params, -1 if limit is None else limit))
        return [Webhook.model_validate_json(row["doc"]) for row in rows]

    async def set_hook_paused(self, hook_id: str, paused: bool) -> Webhook:
        async with self._session(write=True) as db:
            row = await self._one(db, "SELECT doc FROM webhooks WHERE id = ?", (hook_id,))
            if row is None:
                raise NotFound(f"no webhook with id {hook_id}")
            hook = Webhook.model_validate_json(row["doc"]).model_copy(update={"paused": paused})
            await db.execute("UPDATE webhooks SET doc = ? WHERE id = ?", (hook.model_dump_json(), hook_id))
        return hook

    async def delete_hook(self, hook_id: str) -> bool:
        async with self._session(write=True) as db:
            await db.execute("DELETE FROM webhook_deliveries WHERE target = ?", (hook_id,))
            cursor = await db.execute("DELETE FROM webhooks WHERE id = ?", (hook_id,))
            return cursor.rowcount > 0

    # upload callbacks

    async def set_callback(self, callback: Callback) -> None:
        async with self._session(write=True) as db:
            await db.execute("INSERT OR REPLACE INTO upload_callbacks (image_id, created_at, doc) VALUES (?, ?, ?)",
                             (callback.image_id, utc_ms(callback.created_at), callback.model_dump_json()))

    async def get_callback(self, image_id: str) -> Callback | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM upload_callbacks WHERE image_id = ?", (image_id,))
        return None if row is None else Callback.model_validate_json(row["doc"])

    # deliveries

    async def claim_delivery(self, delivery: Delivery) -> bool:
        try:
            async with self._session(write=True) as db:
                await db.execute(
                    "INSERT INTO webhook_deliveries (id, target, state, next_attempt_at, lease_until, created_at, doc)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?)", _row(delivery))
        except sqlite3.IntegrityError:
            return False
        return True

    async def take_due_deliveries(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        async with self._session(write=True) as db:
            rows = await self._all(
                db, "SELECT doc FROM webhook_deliveries WHERE state = ? AND next_attempt_at <= ? AND lease_until <= ?"
                    " ORDER BY next_attempt_at, id LIMIT ?",
                (DeliveryState.pending.value, utc_ms(now), utc_ms(now), limit))
            taken = [Delivery.model_validate_json(row["doc"]).model_copy(update={"lease_until": lease_until})
                     for row in rows]
            for delivery in taken:
                await db.execute("UPDATE webhook_deliveries SET lease_until = ?, doc = ? WHERE id = ?",
                                 (utc_ms(lease_until), delivery.model_dump_json(), delivery.id))
        return taken

    async def save_delivery(self, delivery: Delivery) -> None:
        async with self._session(write=True) as db:
            cursor = await db.execute(
                "UPDATE webhook_deliveries SET target = ?, state = ?, next_attempt_at = ?, lease_until = ?,"
                " created_at = ?, doc = ? WHERE id = ?", (*_row(delivery)[1:], delivery.id))
            if cursor.rowcount == 0:
                raise NotFound(f"no delivery with id {delivery.id}")

    async def list_deliveries(self, target: str, limit: int, after: NewestKey | None = None) -> list[Delivery]:
        rows = await self._newest_first("doc", "webhook_deliveries", {"target": target}, after, limit)
        return [Delivery.model_validate_json(row["doc"]) for row in rows]

    async def prune_deliveries(self, finished_before: datetime) -> int:
        async with self._session(write=True) as db:
            await db.execute("DELETE FROM upload_callbacks WHERE created_at < ?", (utc_ms(finished_before),))
            cursor = await db.execute("DELETE FROM webhook_deliveries WHERE state != ? AND created_at < ?",
                                      (DeliveryState.pending.value, utc_ms(finished_before)))
            return int(cursor.rowcount)


def _row(delivery: Delivery) -> tuple[object, ...]:
    due = None if delivery.next_attempt_at is None else utc_ms(delivery.next_attempt_at)
    return (delivery.id, delivery.target, delivery.state.value, due, utc_ms(delivery.lease_until),
            utc_ms(delivery.created_at), delivery.model_dump_json())
