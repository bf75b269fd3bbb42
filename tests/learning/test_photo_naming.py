"""Naming the faces of one photo together: one person at most once, never someone a person ruled out."""

from __future__ import annotations

import numpy as np

from services.classifier.photo_naming import name_faces
from services.core.domain import Box, FaceRecord, LabelSource

PEOPLE = ["ben", "matt", "jen"]
THRESHOLD = 0.5


def face(n: int, *, quality: float | None = 0.9, person: str | None = None, human: bool = False,
         not_people: tuple[str, ...] = ()) -> FaceRecord:
    return FaceRecord(id=f"f{n}", image_id="photo", box=Box(left=100 * n, top=0, width=50, height=50),
                      quality=quality, person_id=person, label_source=LabelSource.person if human else None,
                      not_person_ids=list(not_people))


def names(photo: list[FaceRecord], candidates: list[FaceRecord], distances: list[list[float]]) -> list[str | None]:
    named = name_faces(photo, candidates, np.array(distances, dtype=np.float32), PEOPLE, THRESHOLD, 0.1)
    return [n.person_id for n in named]


def test_two_faces_closest_to_the_same_person_are_not_both_named_them() -> None:
    faces = [face(1), face(2)]
    # Both look most like Ben; the second is Ben more surely, the first is also close to Matt.
    assert names(faces, faces, [[0.30, 0.35, 0.9], [0.20, 0.8, 0.9]]) == ["matt", "ben"]
    # With no one else close enough, the weaker one stays unknown rather than a second Ben.
    assert names(faces, faces, [[0.30, 0.7, 0.9], [0.20, 0.8, 0.9]]) == [None, "ben"]


def test_a_face_is_never_named_someone_a_person_said_it_is_not() -> None:
    matt = face(1, not_people=("ben",))
    assert names([matt], [matt], [[0.10, 0.45, 0.9]]) == ["matt"]
    assert names([matt], [matt], [[0.10, 0.7, 0.9]]) == [None]


def test_someone_a_person_named_on_the_photo_is_not_given_to_another_face() -> None:
    named_ben = face(1, person="ben", human=True)
    other = face(2)
    assert names([named_ben, other], [other], [[0.2, 0.9, 0.9]]) == [None]


def test_poor_faces_are_never_named_and_take_no_one() -> None:
    poor, good = face(1, quality=0.02), face(2)
    assert names([poor, good], [poor, good], [[0.1, 0.9, 0.9], [0.3, 0.9, 0.9]]) == [None, "ben"]
    # faces from before quality was measured count as good
    legacy = face(3, quality=None)
    assert names([legacy], [legacy], [[0.1, 0.9, 0.9]]) == ["ben"]
