"""The access store on MongoDB (and FerretDB): one collection per record kind, ``_id`` the record id."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import DuplicateKeyError

from services.core.access.model import ApiToken, AuditEntry, AuditQuery, Session, Throttle, User
from services.core.access.store import AccessStore, username_key
from services.core.catalog.mongo_base import Doc, Indexes, MongoBase, all_of, guard_methods
from services.core.catalog.mongo_docs import to_doc
from services.core.catalog.rules import as_utc
from services.core.cursors import NewestKey, UserKey, cut
from services.core.domain import Page
from services.core.errors import Conflict, NotFound

R = TypeVar("R", bound=BaseModel)

_INDEXES: Indexes = {
    "users": [([("username_key", ASCENDING)], {"unique": True, "name": "username_unique"})],
    "sessions": [([("user_id", ASCENDING)], {"name": "by_user"})],
    "api_tokens": [([("digest", ASCENDING)], {"unique": True, "name": "digest_unique"}),
                   ([("user_id", ASCENDING), ("created_at", DESCENDING)], {"name": "by_user"})],
    # Each filter of the audit log, ending in its order: a filtered page reads only its own rows.
    "audit": [([("at", DESCENDING), ("_id", DESCENDING)], {"name": "newest_first"}),
              *[([(field, ASCENDING), ("at", DESCENDING), ("_id", DESCENDING)], {"name": f"{field}_newest"})
                for field in ("actor", "action", "target_id")]],
}


def _from(model: type[R], doc: Doc | None) -> R | None:
    if doc is None:
        return None
    fields = {key: value for key, value in doc.items() if key not in ("_id", "username_key")}
    return model.model_validate({**fields, "id" if "id" in model.model_fields else "key": doc["_id"]})


def _user_doc(user: User) -> Doc:
    return {**to_doc(user), "username_key": username_key(user.username)}


def _throttle_doc(throttle: Throttle) -> Doc:
    doc = throttle.model_dump()
    doc["_id"] = doc.pop("key")
    return doc


@guard_methods(AccessStore)
class MongoAccessStore(MongoBase, AccessStore):
    INDEXES = _INDEXES

    async def _found(self, collection: str, model: type[R], where: Doc, sort: list[tuple[str, int]],
                     limit: int | None = None) -> list[R]:
        cursor = (await self._col(collection)).find(where).sort(sort)
        if limit is not None:
            cursor = cursor.limit(limit)
        return [record for doc in await cursor.to_list(None) if (record := _from(model, doc)) is not None]

    # users

    async def add_user(self, user: User) -> User:
        try:
            await (await self._col("users")).insert_one(_user_doc(user))
        except DuplicateKeyError:
            raise Conflict(f"the username {user.username!r} is taken") from None
        return user

    async def get_user(self, user_id: str) -> User | None:
        return _from(User, await (await self._col("users")).find_one({"_id": user_id}))

    async def find_user(self, username: str) -> User | None:
        return _from(User, await (await self._col("users")).find_one({"username_key": username_key(username)}))

    async def list_users(self, limit: int | None = None, after: UserKey | None = None) -> list[User]:
        conditions: list[Doc] = []
        if after is not None:  # the first condition bounds the index range
            key = after.name_key
            conditions += [{"username_key": {"$gte": key}},
                           {"$or": [{"username_key": {"$gt": key}}, {"_id": {"$gt": after.id}}]}]
        return await self._found("users", User, all_of(conditions), [("username_key", ASCENDING), ("_id", ASCENDING)],
                                 limit)

    async def save_user(self, user: User) -> User:
        users = await self._col("users")
        taken = await users.find_one({"username_key": username_key(user.username), "_id": {"$ne": user.id}})
        if taken is not None:
            raise Conflict(f"the username {user.username!r} is taken")
        try:
            result = await users.replace_one({"_id": user.id}, _user_doc(user))
        except DuplicateKeyError:  # renamed to the same name at the same moment by someone else
            raise Conflict(f"the username {user.username!r} is taken") from None
        if result.matched_count == 0:
            raise NotFound(f"no user with id {user.id}")
        return user

    async def delete_user(self, user_id: str) -> bool:
        await (await self._col("sessions")).delete_many({"user_id": user_id})
        await (await self._col("api_tokens")).delete_many({"user_id": user_id})
        result = await (await self._col("users")).delete_one({"_id": user_id})
        return result.deleted_count > 0

    # sessions

    async def add_session(self, session: Session) -> None:
        await (await self._col("sessions")).insert_one(to_doc(session))

    async def get_session(self, session_id: str, now: datetime) -> Session | None:
        doc = await (await self._col("sessions")).find_one({"_id": session_id, "expires_at": {"$gt": as_utc(now)}})
        return _from(Session, doc)

    async def delete_session(self, session_id: str) -> bool:
        return (await (await self._col("sessions")).delete_one({"_id": session_id})).deleted_count > 0

    async def delete_sessions_of(self, user_id: str, keep: str | None = None) -> int:
        where: Doc = {"user_id": user_id}
        if keep is not None:
            where["_id"] = {"$ne": keep}
        return int((await (await self._col("sessions")).delete_many(where)).deleted_count)

    # tokens

    async def add_token(self, token: ApiToken) -> ApiToken:
        await (await self._col("api_tokens")).insert_one(to_doc(token))
        return token

    async def get_token(self, token_id: str) -> ApiToken | None:
        return _from(ApiToken, await (await self._col("api_tokens")).find_one({"_id": token_id}))

    async def find_token(self, digest: str) -> ApiToken | None:
        return _from(ApiToken, await (await self._col("api_tokens")).find_one({"digest": digest}))

    async def list_tokens(self, user_id: str | None = None, limit: int | None = None,
                          after: NewestKey | None = None) -> list[ApiToken]:
        conditions: list[Doc] = [] if user_id is None else [{"user_id": user_id}]
        if after is not None:
            at = as_utc(after.at)
            conditions += [{"created_at": {"$lte": at}},
                           {"$or": [{"created_at": {"$lt": at}}, {"_id": {"$lt": after.id}}]}]
        return await self._found("api_tokens", ApiToken, all_of(conditions),
                                 [("created_at", DESCENDING), ("_id", DESCENDING)], limit)

    async def mark_token_used(self, token_id: str, at: datetime) -> None:
        await (await self._col("api_tokens")).update_one({"_id": token_id}, {"$set": {"last_used_at": as_utc(at)}})

    async def delete_token(self, token_id: str) -> bool:
        return (await (await self._col("api_tokens")).delete_one({"_id": token_id})).deleted_count > 0

    # sign-in throttling

    async def get_throttle(self, key: str) -> Throttle | None:
        return _from(Throttle, await (await self._col("login_throttles")).find_one({"_id": key}))

    async def save_throttle(self, throttle: Throttle) -> None:
        await (await self._col("login_throttles")).replace_one({"_id": throttle.key}, _throttle_doc(throttle),
                                                               upsert=True)

    async def clear_throttle(self, key: str) -> None:
        await (await self._col("login_throttles")).delete_one({"_id": key})

    async def purge(self, now: datetime, failures_before: datetime) -> int:
        ended = await (await self._col("sessions")).delete_many({"expires_at": {"$lte": as_utc(now)}})
        stale = await (await self._col("login_throttles")).delete_many({"$and": [
            {"first_failure_at": {"$lt": as_utc(failures_before)}},
            {"$or": [{"locked_until": None}, {"locked_until": {"$lte": as_utc(now)}}]}]})
        return int(ended.deleted_count) + int(stale.deleted_count)

    # audit

    async def add_audit(self, entry: AuditEntry) -> None:
        await (await self._col("audit")).insert_one(to_doc(entry))

    async def list_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        conditions: list[Doc] = [{field: value} for field, value in
                                 (("actor", query.actor), ("action", query.action), ("target_id", query.target_id))
                                 if value is not None]
        if query.since is not None:
            conditions.append({"at": {"$gte": as_utc(query.since)}})
        if query.until is not None:
            conditions.append({"at": {"$lt": as_utc(query.until)}})
        if query.after is not None:
            at = as_utc(query.after.at)  # the first condition bounds the index range
            conditions += [{"at": {"$lte": at}}, {"$or": [{"at": {"$lt": at}}, {"_id": {"$lt": query.after.id}}]}]
        where = all_of(conditions)
        cursor = (await self._col("audit")).find(where).sort([("at", DESCENDING), ("_id", DESCENDING)])
        found, after = cut(await cursor.limit(query.limit + 1).to_list(None), query.limit,
                           lambda doc: NewestKey(at=doc["at"], id=doc["_id"]))
        items = [entry for doc in found if (entry := _from(AuditEntry, doc)) is not None]
        return Page[AuditEntry](items=items, next_cursor=after)

    async def redact_audit(self, target_ids: set[str], reference: str) -> int:
        change: dict[str, Any] = {"$set": {"target_id": reference, "before": None, "after": None}}
        result = await (await self._col("audit")).update_many({"target_id": {"$in": sorted(target_ids)}}, change)
        return int(result.modified_count)
