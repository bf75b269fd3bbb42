"""Pairs of people someone said are not the same person, so they are never offered for merging again.

Kept beside the people in both catalogs: the SQLite table ``people_not_same`` (created with the schema) and the
MongoDB collection ``people_not_same`` (one document per pair, its ``_id`` the two ids in order, so saying it
twice stores it once). Ids only: a pair whose person is gone is simply never shown.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from services.core.catalog.base import Catalog
from services.core.catalog.mongo_base import _store_errors
from services.core.catalog.rules import utc_ms
from services.core.domain import utcnow
from services.core.errors import InvalidInput

if TYPE_CHECKING:
    from services.core.catalog.mongo import MongoCatalog

COLLECTION = "people_not_same"
Pair = tuple[str, str]


def pair_of(first_id: str, second_id: str) -> Pair:
    """The stored order of a pair (the smaller id first): a pair is the same whichever way it is said."""
    if first_id == second_id:
        raise InvalidInput("a person is always the same person as themselves: give two different people")
    return (first_id, second_id) if first_id < second_id else (second_id, first_id)


async def mark_not_same(catalog: Catalog, first_id: str, second_id: str) -> Pair:
    pair = pair_of(first_id, second_id)
    from services.core.catalog.sqlite import SQLiteCatalog

    if isinstance(catalog, SQLiteCatalog):
        async with catalog._session(write=True) as db:
            await db.execute("INSERT OR IGNORE INTO people_not_same (first_id, second_id, created_at) "
                             "VALUES (?, ?, ?)", (*pair, utc_ms(utcnow())))
        return pair
    await _mongo_mark(_mongo(catalog), pair)
    return pair


async def not_same_pairs(catalog: Catalog) -> set[Pair]:
    """Every stored pair, smaller id first."""
    from services.core.catalog.sqlite import SQLiteCatalog

    if isinstance(catalog, SQLiteCatalog):
        async with catalog._session() as db:
            found = await catalog._all(db, "SELECT first_id, second_id FROM people_not_same")
        return {(row["first_id"], row["second_id"]) for row in found}
    return await _mongo_pairs(_mongo(catalog))


def _mongo(catalog: Catalog) -> MongoCatalog:
    from services.core.catalog.mongo import MongoCatalog

    if not isinstance(catalog, MongoCatalog):
        raise TypeError(f"no place to keep 'not the same person' pairs in a {type(catalog).__name__}")
    return catalog


@_store_errors
async def _mongo_mark(catalog: MongoCatalog, pair: Pair) -> None:
    collection = await catalog._col(COLLECTION)
    fields = {"first_id": pair[0], "second_id": pair[1], "created_at": utcnow()}
    await collection.update_one({"_id": "|".join(pair)}, {"$setOnInsert": fields}, upsert=True)


@_store_errors
async def _mongo_pairs(catalog: MongoCatalog) -> set[Pair]:
    collection = await catalog._col(COLLECTION)
    docs = await collection.find({}, projection={"first_id": 1, "second_id": 1}).to_list(None)
    return {(doc["first_id"], doc["second_id"]) for doc in docs}
