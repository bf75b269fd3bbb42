"""The access store in the embedded SQLite file, beside the catalog's tables.

Each record is its pydantic JSON in ``doc``, with the fields that are looked up or sorted on as
columns of their own (times as integer milliseconds, as in the catalog).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from services.core.access.model import ApiToken, AuditEntry, AuditQuery, Session, Throttle, User
from services.core.access.store import AccessStore, username_key
from services.core.catalog.rules import as_utc, utc_ms
from services.core.catalog.sqlite_base import SQLiteBase
from services.core.cursors import NewestKey, UserKey, cut
from services.core.domain import Page
from services.core.errors import Conflict, NotFound

R = TypeVar("R", bound=BaseModel)

SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    id TEXT PRIMARY KEY, username_key TEXT NOT NULL UNIQUE, doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY, user_id TEXT NOT NULL, expires_at INTEGER NOT NULL, doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id);
CREATE TABLE IF NOT EXISTS api_tokens (
    id TEXT PRIMARY KEY, digest TEXT NOT NULL UNIQUE, user_id TEXT NOT NULL, created_at INTEGER NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS api_tokens_by_user ON api_tokens (user_id, created_at);
CREATE TABLE IF NOT EXISTS login_throttles (key TEXT PRIMARY KEY, doc TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    id TEXT PRIMARY KEY, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, target_id TEXT,
    doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_by_time ON audit (at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_actor_newest ON audit (actor, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_action_newest ON audit (action, at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_target_newest ON audit (target_id, at DESC, id DESC);
"""


def _doc(record: BaseModel) -> str:
    """The record's JSON with every time in UTC to the millisecond, as MongoDB keeps them."""
    fields = {key: _utc_ms(value) if isinstance(value, datetime) else value for key, value in record}
    return type(record).model_validate(fields).model_dump_json()


def _utc_ms(moment: datetime) -> datetime:
    moment = as_utc(moment)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _load(model: type[R], row: Any) -> R:
    return model.model_validate_json(row["doc"])


class SQLiteAccessStore(SQLiteBase, AccessStore):
    SCHEMA = SCHEMA
    WHAT = "SQLite access store"

    # users

    async def add_user(self, user: User) -> User:
        async with self._session(write=True) as db:
            if await self._one(db, "SELECT 1 FROM users WHERE username_key = ?", (username_key(user.username),)):
                raise Conflict(f"the username {user.username!r} is taken")
            await db.execute("INSERT INTO users (id, username_key, doc) VALUES (?, ?, ?)",
                             (user.id, username_key(user.username), _doc(user)))
        return user

    async def get_user(self, user_id: str) -> User | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM users WHERE id = ?", (user_id,))
        return None if row is None else _load(User, row)

    async def find_user(self, username: str) -> User | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM users WHERE username_key = ?", (username_key(username),))
        return None if row is None else _load(User, row)

    async def list_users(self, limit: int | None = None, after: UserKey | None = None) -> list[User]:
        where, params = ("WHERE (username_key, id) > (?, ?)", [after.name_key, after.id]) if after else ("", [])
        async with self._session() as db:
            found = await self._all(db, f"SELECT doc FROM users {where} ORDER BY username_key, id LIMIT ?",
                                    (*params, -1 if limit is None else limit))
        return [_load(User, row) for row in found]

    async def save_user(self, user: User) -> User:
        key = username_key(user.username)
        async with self._session(write=True) as db:
            if await self._one(db, "SELECT 1 FROM users WHERE username_key = ? AND id != ?", (key, user.id)):
                raise Conflict(f"the username {user.username!r} is taken")
            cursor = await db.execute("UPDATE users SET username_key = ?, doc = ? WHERE id = ?",
                                      (key, _doc(user), user.id))
            if cursor.rowcount == 0:
                raise NotFound(f"no user with id {user.id}")
        return user

    async def delete_user(self, user_id: str) -> bool:
        async with self._session(write=True) as db:
            await db.execute("DELETE FROM sessions WHERE user_id = ?", (user_id,))
            await db.execute("DELETE FROM api_tokens WHERE user_id = ?", (user_id,))
            cursor = await db.execute("DELETE FROM users WHERE id = ?", (user_id,))
            return cursor.rowcount > 0

    # sessions

    async def add_session(self, session: Session) -> None:
        async with self._session(write=True) as db:
            await db.execute("INSERT INTO sessions (id, user_id, expires_at, doc) VALUES (?, ?, ?, ?)",
                             (session.id, session.user_id, utc_ms(session.expires_at), _doc(session)))

    async def get_session(self, session_id: str, now: datetime) -> Session | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM sessions WHERE id = ? AND expires_at > ?",
                                  (session_id, utc_ms(now)))
        return None if row is None else _load(Session, row)

    async def delete_session(self, session_id: str) -> bool:
        async with self._session(write=True) as db:
            cursor = await db.execute("DELETE FROM sessions WHERE id = ?", (session_id,))
            return cursor.rowcount > 0

    async def delete_sessions_of(self, user_id: str, keep: str | None = None) -> int:
        async with self._session(write=True) as db:
            cursor = await db.execute("DELETE FROM sessions WHERE user_id = ? AND id != ?", (user_id, keep or ""))
            return int(cursor.rowcount)

    # tokens

    async def add_token(self, token: ApiToken) -> ApiToken:
        async with self._session(write=True) as db:
            await db.execute("INSERT INTO api_tokens (id, digest, user_id, created_at, doc) VALUES (?, ?, ?, ?, ?)",
                             (token.id, token.digest, token.user_id, utc_ms(token.created_at), _doc(token)))
        return token

    async def get_token(self, token_id: str) -> ApiToken | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM api_tokens WHERE id = ?", (token_id,))
        return None if row is None else _load(ApiToken, row)

    async def find_token(self, digest: str) -> ApiToken | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM api_tokens WHERE digest = ?", (digest,))
        return None if row is None else _load(ApiToken, row)

    async def list_tokens(self, user_id: str | None = None, limit: int | None = None,
                          after: NewestKey | None = None) -> list[ApiToken]:
        found = await self._newest_first("doc", "api_tokens", {"user_id": user_id}, after, limit)
        return [_load(ApiToken, row) for row in found]

    async def mark_token_used(self, token_id: str, at: datetime) -> None:
        async with self._session(write=True) as db:
            row = await self._one(db, "SELECT doc FROM api_tokens WHERE id = ?", (token_id,))
            if row is not None:
                token = _load(ApiToken, row).model_copy(update={"last_used_at": at})
                await db.execute("UPDATE api_tokens SET doc = ? WHERE id = ?", (_doc(token), token_id))

    async def delete_token(self, token_id: str) -> bool:
        async with self._session(write=True) as db:
            cursor = await db.execute("DELETE FROM api_tokens WHERE id = ?", (token_id,))
            return cursor.rowcount > 0

    # sign-in throttling

    async def get_throttle(self, key: str) -> Throttle | None:
        async with self._session() as db:
            row = await self._one(db, "SELECT doc FROM login_throttles WHERE key = ?", (key,))
        return None if row is None else _load(Throttle, row)

    async def save_throttle(self, throttle: Throttle) -> None:
        async with self._session(write=True) as db:
            await db.execute("INSERT OR REPLACE INTO login_throttles (key, doc) VALUES (?, ?)",
                             (throttle.key, _doc(throttle)))

    async def clear_throttle(self, key: str) -> None:
        async with self._session(write=True) as db:
            await db.execute("DELETE FROM login_throttles WHERE key = ?", (key,))

    async def purge(self, now: datetime, failures_before: datetime) -> int:
        async with self._session(write=True) as db:
            ended = await db.execute("DELETE FROM sessions WHERE expires_at <= ?", (utc_ms(now),))
            stale = [throttle.key for row in await self._all(db, "SELECT doc FROM login_throttles")
                     if (throttle := _load(Throttle, row)).first_failure_at < failures_before
                     and (throttle.locked_until is None or throttle.locked_until <= now)]
            for key in stale:
                await db.execute("DELETE FROM login_throttles WHERE key = ?", (key,))
        return int(ended.rowcount) + len(stale)

    # audit

    async def add_audit(self, entry: AuditEntry) -> None:
        async with self._session(write=True) as db:
            await db.execute("INSERT INTO audit (id, at, actor, action, target_id, doc) VALUES (?, ?, ?, ?, ?, ?)",
                             (entry.id, utc_ms(entry.at), entry.actor, entry.action, entry.target_id, _doc(entry)))

    async def list_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        clauses: list[str] = ["1 = 1"]
        params: list[Any] = []
        for column, value in (("actor", query.actor), ("action", query.action), ("target_id", query.target_id)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.since is not None:
            clauses.append("at >= ?")
            params.append(utc_ms(query.since))
        if query.until is not None:
            clauses.append("at < ?")
            params.append(utc_ms(query.until))
        if query.after is not None:
            clauses.append("(at, id) < (?, ?)")
            params += [utc_ms(query.after.at), query.after.id]
        where = " AND ".join(clauses)
        async with self._session() as db:
            found = await self._all(db, f"SELECT doc FROM audit WHERE {where} ORDER BY at DESC, id DESC LIMIT ?",
                                    (*params, query.limit + 1))
        items, after = cut([_load(AuditEntry, row) for row in found], query.limit,
                           lambda entry: NewestKey(at=entry.at, id=entry.id))
        return Page[AuditEntry](items=items, next_cursor=after)

    async def redact_audit(self, target_ids: set[str], reference: str) -> int:
        if not target_ids:
            return 0
        marks = ", ".join("?" * len(target_ids))
        async with self._session(write=True) as db:
            found = await self._all(db, f"SELECT doc FROM audit WHERE target_id IN ({marks})", tuple(target_ids))
            for row in found:
                entry = _load(AuditEntry, row).model_copy(update={"target_id": reference, "before": None,
                                                                  "after": None})
                await db.execute("UPDATE audit SET target_id = ?, doc = ? WHERE id = ?",
                                 (reference, _doc(entry), entry.id))
        return len(found)

