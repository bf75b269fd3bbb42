"""``facetag import`` names people after their folders, tidily: what a folder name becomes."""

from __future__ import annotations

import pytest

from services.commands.import_photos import tidy_person_name
from services.core.catalog.rules import name_key


@pytest.mark.parametrize(("folder", "name"), [
    ("ben_afflek", "Ben Afflek"),
    ("mindy.kaling", "Mindy Kaling"),
    ("JERRY_SEINFELD", "Jerry Seinfeld"),
    ("  ada__lovelace ", "Ada Lovelace"),
    ("jean-paul_sartre", "Jean-Paul Sartre"),
    ("o'brien", "O'Brien"),
    ("zoë_kravitz", "Zoë Kravitz"),
    # Written with capitals (and spaces) already: kept as written.
    ("Ben Affleck", "Ben Affleck"),
    ("McDonald", "McDonald"),
    ("J.R.R. Tolkien", "J.R.R. Tolkien"),
    ("Ben_Affleck", "Ben Affleck"),
    # Scripts without case keep their letters; a name of separators alone stays what it was.
    ("周杰伦", "周杰伦"),
    ("محمد_علي", "محمد علي"),
    ("___", "___"),
])
def test_folder_names_become_tidy_person_names(folder: str, name: str) -> None:
    assert tidy_person_name(folder) == name
    assert name_key(tidy_person_name(folder)) == name_key(folder)  # tidying never makes it another person
