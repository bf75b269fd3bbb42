"""One SQLite file shared by processes: a connection per store, each write in ``BEGIN IMMEDIATE``.

WAL lets readers run while one process writes; every write runs in ``BEGIN IMMEDIATE`` so it takes
the file's write lock up front (waiting up to the busy timeout) instead of failing half-way when two
processes upgrade from reading to writing at once. One connection per store, guarded by a lock,
because coroutines sharing a connection would otherwise share its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from services.core.catalog.rules import utc_ms
from services.core.cursors import NewestKey
from services.core.errors import StoreUnavailable

_UNAVAILABLE_HINTS = ("locked", "busy", "unable to open", "disk i/o", "readonly")


class SQLiteBase:
    """Connection, schema creation and transactions; subclasses give ``SCHEMA`` and may add ``_migrate``."""

    SCHEMA = ""
    WHAT = "SQLite store"

    def __init__(self, path: str | Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.busy_timeout = busy_timeout
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()

    # lifecycle

    async def connect(self) -> None:
        async with self._lock:
            await self._open()

    async def _open(self) -> aiosqlite.Connection:
        if self._db is not None:
            return self._db
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = await aiosqlite.connect(self.path, isolation_level=None, timeout=self.busy_timeout)
        except (OSError, sqlite3.Error) as exc:
            raise StoreUnavailable(f"cannot open the {self.WHAT} {self.path}: {exc}") from exc
        try:
            db.row_factory = aiosqlite.Row
            await db.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            await db.execute("PRAGMA journal_mode = WAL")
            await db.execute("PRAGMA synchronous = NORMAL")  # durable enough in WAL, much faster
            await db.execute("BEGIN IMMEDIATE")
            # Statement by statement: executescript would commit outside our transaction.
            for statement in self.SCHEMA.split(";"):
                if statement.strip():
                    await db.execute(statement)
            await self._migrate(db)
            await db.execute("COMMIT")
        except sqlite3.Error as exc:
            await db.close()
            raise self._translate(exc) from exc
        self._db = db
        return db

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        """Bring an older file's tables up to date, inside the schema transaction."""

    async def close(self) -> None:
        async with self._lock:
            if self._db is not None:
                await self._db.close()
                self._db = None

    async def ping(self) -> None:
        async with self._session() as db:
            await db.execute("SELECT 1")

    def _translate(self, exc: sqlite3.Error) -> Exception:
        text = str(exc).lower()
        if isinstance(exc, sqlite3.OperationalError) and any(hint in text for hint in _UNAVAILABLE_HINTS):
            return StoreUnavailable(f"the {self.WHAT} {self.path} is unavailable: {exc}")
        return exc

    @asynccontextmanager
    async def _session(self, write: bool = False) -> AsyncIterator[aiosqlite.Connection]:
        """One transaction: IMMEDIATE for writes, DEFERRED (a consistent snapshot) for reads."""
        async with self._lock:
            db = await self._open()
            try:
                await db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            except sqlite3.Error as exc:
                raise self._translate(exc) from exc
            try:
                yield db
                await db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    await db.execute("ROLLBACK")
                if isinstance(exc, sqlite3.Error):
                    raise self._translate(exc) from exc
                raise

    @staticmethod
    async def _one(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        async with db.execute(sql, params) as cursor:
            row: sqlite3.Row | None = await cursor.fetchone()
            return row

    @staticmethod
    async def _all(db: aiosqlite.Connection, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        async with db.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def _newest_first(self, columns: str, table: str, equal: dict[str, object | None],
                            after: NewestKey | None, limit: int | None) -> list[sqlite3.Row]:
        """A keyset page of ``table`` by created_at then id, newest first: rows whose columns equal the given
        values (a None value: any), after the cursor's row. Each table has an index on (filter, created_at, id)."""
        clauses, params = ["1 = 1"], list[object]()
        for column, value in equal.items():
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if after is not None:
            clauses.append("(created_at, id) < (?, ?)")
            params += [utc_ms(after.at), after.id]
        sql = f"SELECT {columns} FROM {table} WHERE {' AND '.join(clauses)} ORDER BY created_at DESC, id DESC LIMIT ?"
        async with self._session() as db:
            return await self._all(db, sql, (*params, -1 if limit is None else limit))
