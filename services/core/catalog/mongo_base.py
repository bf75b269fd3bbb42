"""A MongoDB database behind a store: one motor client, indexes created on connect, lost connections
reported as StoreUnavailable naming the server."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC
from typing import Any, ClassVar, ParamSpec, TypeVar

from motor.motor_asyncio import AsyncIOMotorClient, AsyncIOMotorCollection, AsyncIOMotorDatabase
from pymongo.errors import ConnectionFailure
from pymongo.uri_parser import parse_uri

from services.core.errors import StoreUnavailable

P = ParamSpec("P")
T = TypeVar("T")
Doc = dict[str, Any]
Indexes = dict[str, list[tuple[list[tuple[str, int]], dict[str, Any]]]]
DEFAULT_DATABASE = "facetag"


def all_of(conditions: list[Doc]) -> Doc:
    """One filter that holds where every condition does. Conditions on distinct fields become one document
    rather than an ``$and`` list: MongoDB reads both alike, but FerretDB hands only a top-level equality down to
    PostgreSQL and evaluates anything else itself, decoding every document of the collection."""
    merged: Doc = {}
    rest: list[Doc] = []
    for condition in conditions:
        if len(condition) == 1 and not next(iter(condition)).startswith("$") and not merged.keys() & condition.keys():
            merged.update(condition)
        else:
            rest.append(condition)
    if rest:
        merged["$and"] = rest
    return merged


@contextlib.contextmanager
def reported_as_unavailable(store: object) -> Iterator[None]:
    """Turn a lost connection into StoreUnavailable, naming the server, so callers can retry."""
    try:
        yield
    except ConnectionFailure as exc:
        where = store.where if isinstance(store, MongoBase) else "MongoDB"
        raise StoreUnavailable(f"the MongoDB store at {where} did not answer: {exc}") from exc


def _store_errors(method: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    @functools.wraps(method)
    async def guarded(*args: P.args, **kwargs: P.kwargs) -> T:
        with reported_as_unavailable(args[0]):
            return await method(*args, **kwargs)

    return guarded


def guard_methods(*interfaces: type) -> Callable[[type[T]], type[T]]:
    """Class decorator: every abstract method of ``interfaces`` reports a lost connection as StoreUnavailable."""

    def guard(cls: type[T]) -> type[T]:
        for interface in interfaces:
            for name in getattr(interface, "__abstractmethods__", ()):
                setattr(cls, name, _store_errors(getattr(cls, name)))
        return cls

    return guard


class MongoBase:
    INDEXES: ClassVar[Indexes] = {}

    def __init__(self, url: str, server_timeout_ms: int = 10_000) -> None:
        parsed = parse_uri(url)  # raises InvalidURI with a readable message
        self.url = url
        self.database_name: str = parsed.get("database") or DEFAULT_DATABASE
        self.where = ",".join(f"{host}:{port}" for host, port in parsed["nodelist"])
        # A URL's own serverSelectionTimeoutMS wins; otherwise fail in seconds, not pymongo's 30.
        self._client_options: dict[str, Any] = {"tz_aware": True, "tzinfo": UTC}
        if "serverselectiontimeoutms" not in {key.lower() for key in parsed["options"]}:
            self._client_options["serverSelectionTimeoutMS"] = server_timeout_ms
        self._client: AsyncIOMotorClient[Doc] | None = None
        self._db: AsyncIOMotorDatabase[Doc] | None = None
        self._connecting = asyncio.Lock()  # first uses may race to connect: one client, not several

    # lifecycle

    async def connect(self) -> None:
        async with self._connecting:
            if self._db is not None:
                return
            client: AsyncIOMotorClient[Doc] = AsyncIOMotorClient(self.url, **self._client_options)
            database = client[self.database_name]
            try:
                for collection, indexes in self.INDEXES.items():
                    for keys, options in indexes:
                        await database[collection].create_index(keys, **options)
            except BaseException:
                client.close()
                raise
            self._client, self._db = client, database

    async def close(self) -> None:
        if self._client is not None:
            self._client.close()
        self._client, self._db = None, None

    async def ping(self) -> None:
        await self._col("_ping")  # connects (and creates indexes) if not done yet
        assert self._db is not None
        await self._db.command("ping")

    async def _col(self, name: str) -> AsyncIOMotorCollection[Doc]:
        if self._db is None:
            await self.connect()
        assert self._db is not None
        return self._db[name]
