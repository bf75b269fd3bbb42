"""Catalog contract, one person one name: names compare by a normalised key (case, spaces, underscores, dots,
dashes, accents on Latin letters), other scripts keep their letters, and older catalogs are migrated on open.
Every implementation."""

from __future__ import annotations

import sqlite3
from datetime import timedelta

import pymongo
import pytest

from services.core.catalog import Catalog, open_catalog, sqlite_path
from services.core.catalog.rules import name_key
from services.core.domain import utcnow
from services.core.duplicates import face_centres, find_duplicates
from services.core.errors import Conflict, InvalidInput

SPELLINGS = {
    "Ben Afflek": ["ben_afflek", "BEN.AFFLEK", "  ben   afflek ", "Ben-Afflek", "ben__afflek"],
    "Zoë Kravitz": ["Zoe Kravitz", "zoë_kravitz", "ZOE KRAVITZ"],
    "José Núñez": ["Jose Nunez", "jose.nunez", "JOSÉ NÚÑEZ"],
    "Łukasz Żak": ["Lukasz Zak"],
}
# Different people whose names differ only in what the key must keep: script letters and their marks.
DISTINCT = ["周杰伦", "周杰", "محمد", "أحمد", "か", "が", "Иосиф", "Йосиф", "नरेन्द्र", "Ann", "Anna"]


@pytest.mark.parametrize("name", DISTINCT)
def test_other_scripts_keep_their_letters(name: str) -> None:
    assert name_key(name) != ""
    assert name_key(name) == name_key(name).strip()
    assert any(ch.isalpha() for ch in name_key(name))


async def test_one_person_whatever_the_spelling(catalog: Catalog) -> None:
    for name, others in SPELLINGS.items():
        person = await catalog.create_person(name)
        for other in others:
            assert await catalog.find_person(other) == person, other
            with pytest.raises(Conflict):
                await catalog.create_person(other)
    assert sorted(p.name for p in await catalog.list_people()) == sorted(SPELLINGS)


async def test_names_in_other_scripts_are_people_of_their_own(catalog: Catalog) -> None:
    created = {name: await catalog.create_person(name) for name in DISTINCT}
    for name, person in created.items():
        assert await catalog.find_person(name) == person
    assert len(await catalog.list_people()) == len(DISTINCT)


async def test_rename_to_another_spelling_of_the_own_name_is_allowed_but_not_of_anothers(catalog: Catalog) -> None:
    ben = await catalog.create_person("ben_afflek")
    await catalog.create_person("Zoë")
    assert (await catalog.rename_person(ben.id, "Ben Afflek")).name == "Ben Afflek"
    with pytest.raises(Conflict):
        await catalog.rename_person(ben.id, "zoe")
    assert (await catalog.find_person("BEN_AFFLEK")) == await catalog.get_person(ben.id)


async def test_names_of_separators_alone_stay_apart(catalog: Catalog) -> None:
    underscore, dot = await catalog.create_person("_"), await catalog.create_person(".")
    assert await catalog.find_person("_") == underscore
    assert await catalog.find_person(".") == dot


def _make_old(url: str, people: list[tuple[str, str, str, int]]) -> None:
    """Write people as an older Facetag did: (id, name, stored key, minutes after now it was created)."""
    now = utcnow()
    if url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(url)) as db:
            db.executemany("INSERT INTO people (id, name, name_key, created_at) VALUES (?, ?, ?, ?)",
                           [(pid, name, key, int((now + timedelta(minutes=m)).timestamp() * 1000))
                            for pid, name, key, m in people])
        return
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        client.get_default_database()["people"].insert_many([
            {"_id": pid, "name": name, "name_key": key, "created_at": now + timedelta(minutes=m), "never_tag": False}
            for pid, name, key, m in people])
    finally:
        client.close()


async def test_an_older_catalog_is_migrated_on_open_and_people_sharing_a_key_are_both_kept(
        catalog_url: str) -> None:
    first = open_catalog(catalog_url)
    await first.connect()  # the tables and indexes, as the older version made them
    await first.close()
    # Keys as the older rule (NFKC + casefold) made them: these three are two people now, two of them one key.
    _make_old(catalog_url, [("p-later", "ben_afflek", "ben_afflek", 5), ("p-first", "Ben Afflek", "ben afflek", 1),
                            ("p-zoe", "Zoë", "zoë", 2)])
    catalog = open_catalog(catalog_url)
    try:
        await catalog.connect()
        people = {p.id: p for p in await catalog.list_people()}
        assert set(people) == {"p-first", "p-later", "p-zoe"}  # nobody lost, nobody merged
        found = await catalog.find_person("BEN AFFLEK")
        assert found is not None and found.id == "p-first"  # the earlier one keeps the name
        assert (await catalog.find_person("zoe")) == await catalog.get_person("p-zoe")
        with pytest.raises(Conflict):
            await catalog.create_person("Ben.Afflek")
        # Both are offered for merging, as one name exactly.
        offered = find_duplicates([(p.id, p.name) for p in people.values()], set(), await face_centres(catalog))
        assert [(c.pair, [(r.kind, r.score) for r in c.reasons]) for c in offered] == [
            (("p-first", "p-later"), [("name", 100.0)])]
        renamed = await catalog.rename_person("p-later", "Ben Affleck")  # the later one can still be told apart
        assert (await catalog.find_person("ben affleck")) == renamed
    finally:
        await catalog.close()
    again = open_catalog(catalog_url)  # opening again changes nothing
    try:
        await again.connect()
        assert {p.name for p in await again.list_people()} == {"Ben Afflek", "Ben Affleck", "Zoë"}
    finally:
        await again.close()


async def test_not_the_same_pairs_are_kept_once_whichever_way_they_are_said(catalog: Catalog) -> None:
    ann, anna = await catalog.create_person("Ann"), await catalog.create_person("Anna")
    assert await catalog.not_same_pairs() == set()
    await catalog.mark_not_same(anna.id, ann.id)
    await catalog.mark_not_same(ann.id, anna.id)
    assert await catalog.not_same_pairs() == {tuple(sorted((ann.id, anna.id)))}
    with pytest.raises(InvalidInput):
        await catalog.mark_not_same(ann.id, ann.id)
