"""Catalog rules both implementations share, so SQLite and MongoDB cannot drift apart."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_jsonable_python

from services.core.domain import FaceOrigin, FaceRecord, Person
from services.core.errors import InvalidInput

# A new detection overlapping a kept face this much is the same face seen again.
SAME_FACE_IOU = 0.5
# Statuses of an image that is still on its way through the pipeline.
UNFINISHED_STATUSES = ("queued", "detecting", "classifying")
MAX_NAME_LENGTH = 100  # characters of a name as a person gives it (the API refuses longer ones)
# NFKC writes a few characters as several (U+FDFA as 18): the longest form a name of MAX_NAME_LENGTH takes.
NFKC_MOST_GROWTH = 18
MAX_STORED_NAME_LENGTH = NFKC_MOST_GROWTH * MAX_NAME_LENGTH


# Control characters and line/paragraph separators; format characters (e.g. the zero-width joiner
# inside emoji or Persian names) are fine.
_FORBIDDEN_CATEGORIES = {"Cc", "Cs", "Zl", "Zp"}
# Unicode's Bidi_Control characters: they can make a name display as another (U+202E reverses it).
_BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

# The same rule as a regular expression for the OpenAPI document (ECMA-262 and Python alike), so clients can
# check a name before sending it; a test holds it to clean_person_name for every character. Forbidden: the
# characters above (Cc is U+0000-U+001F and U+007F-U+009F; lone surrogates, Cs, are not text at all and cannot
# be written in a pattern). Blank: whitespace that is not forbidden. Stripped: all that str.strip() removes
# from the ends (blanks, and the tabs, line breaks and separators that are forbidden anywhere else).
_FORBIDDEN_CLASS = r"\u0000-\u001f\u007f-\u009f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_BLANK_CLASS = r"\u0020\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000"
_STRIPPED_CLASS = rf"\u0009-\u000d\u001c-\u001f\u0085\u2028\u2029{_BLANK_CLASS}"
_WORD_END = f"[^{_FORBIDDEN_CLASS}{_BLANK_CLASS}]"
NAME_PATTERN = f"^[{_STRIPPED_CLASS}]*{_WORD_END}(?:[^{_FORBIDDEN_CLASS}]*{_WORD_END})?[{_STRIPPED_CLASS}]*$"


def clean_person_name(name: str) -> str:
    """The name as stored: NFKC (full-width and other look-alike forms become the plain letters), surrounding
    whitespace removed. Empty names, control and bidirectional control characters are refused.

    A person gives at most MAX_NAME_LENGTH characters, counted as given (the API checks that, as its document
    says); the stored form may be longer, as NFKC makes a few characters several (U+FB00 becomes "ff"), so
    the stored form is held to what that can make, and cleaning a stored name again never refuses it."""
    cleaned = unicodedata.normalize("NFKC", name).strip()
    if not cleaned:
        raise InvalidInput("a name must not be empty")
    if len(cleaned) > MAX_STORED_NAME_LENGTH:
        raise InvalidInput(f"a name must be at most {MAX_NAME_LENGTH} characters")
    if any(unicodedata.category(ch) in _FORBIDDEN_CATEGORIES for ch in cleaned):
        raise InvalidInput("a name must not contain control characters such as tabs or line breaks")
    if any(ch in _BIDI_CONTROLS for ch in cleaned):
        raise InvalidInput("a name must not contain bidirectional control characters (such as U+202E, which "
                           "shows text reversed); right-to-left names need none")
    return cleaned


# --- name keys: one person, one name -------------------------------------------------------------------------
# Latin letters with a stroke have no decomposition, so NFKD cannot strip them like an accent.
_LATIN_FOLDS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ħ": "h", "ŧ": "t", "ı": "i", "ð": "d", "æ": "ae",
                              "œ": "oe", "ƀ": "b", "ɨ": "i", "’": "'", "ʼ": "'"})
# Between the words of a name as folder names and user names write it: "ben_afflek", "mindy.kaling".
_SEPARATOR_CATEGORIES = {"Pc", "Pd"}  # connector punctuation (underscore) and dashes (hyphen, en dash...)
_SEPARATORS = frozenset("._")
# Distinct keys for people whose names share a key: joined with a character no name may contain (a Cc).
DISTINCT_KEY_MARK = "\u001f"


def _is_latin(ch: str) -> bool:
    return len(ch) == 1 and unicodedata.name(ch, "").startswith("LATIN ")


def name_key(name: str) -> str:
    """The identity of a name, compared by plain equality (never as a pattern): "Ben_Afflek", "ben  afflek"
    and "BEN.AFFLEK" are one; so are "Zoë" and "Zoe". Case, surrounding and repeated spaces, underscores, dots
    and dashes (as spaces) and accents on Latin letters do not count.

    Accents are taken off Latin letters only: in other scripts a combining mark is part of the letter (Japanese
    か and が, Devanagari's virama, Cyrillic и and й are different letters), so those names keep every mark. A
    name of separators alone ("_", ".") keeps its characters rather than becoming empty."""
    text = unicodedata.normalize("NFKC", name)
    spaced = "".join(" " if ch in _SEPARATORS or unicodedata.category(ch) in _SEPARATOR_CATEGORIES else ch
                     for ch in text)
    kept: list[str] = []
    base = ""
    for ch in unicodedata.normalize("NFKD", spaced.casefold()):
        if unicodedata.combining(ch) or unicodedata.category(ch) == "Mn":
            if _is_latin(base):
                continue  # an accent on a Latin letter
        else:
            base = ch
        kept.append(ch)
    folded = unicodedata.normalize("NFC", "".join(kept)).translate(_LATIN_FOLDS)
    key = " ".join(folded.split())
    return key or text.strip().casefold()


def distinct_key(key: str, person_id: str) -> str:
    """A key for a person whose name's key another, earlier person holds: unique, and never found by a name."""
    return f"{key}{DISTINCT_KEY_MARK}{person_id}"


def assign_name_keys(people: list[tuple[str, str]]) -> dict[str, str]:
    """Keys for ``(id, name)`` pairs given oldest first: the name key, or a distinct key for each later person
    whose name's key an earlier one already holds (so both are kept and can be offered for merging)."""
    keys: dict[str, str] = {}
    taken: set[str] = set()
    for person_id, name in people:
        key = name_key(name)
        keys[person_id] = key if key not in taken else distinct_key(key, person_id)
        taken.add(keys[person_id])
    return keys


def name_key_changes(people: list[tuple[str, str, str]]) -> dict[str, str]:
    """The migration of stored keys: for ``(id, name, stored key)`` given oldest first, the new key of every
    person whose stored key is not the one ``assign_name_keys`` gives (empty when all are up to date)."""
    wanted = assign_name_keys([(person_id, name) for person_id, name, _ in people])
    return {person_id: wanted[person_id] for person_id, _, stored in people if stored != wanted[person_id]}


def provisional_key(person_id: str) -> str:
    """A key no name has, held while keys are rewritten, so no two people hold one key at any moment."""
    return f"{DISTINCT_KEY_MARK}{person_id}"
# --- end of name keys -----------------------------------------------------------------------------------------


def as_utc(moment: datetime) -> datetime:
    """Aware UTC with millisecond precision, as both stores keep it; naive times are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def utc_ms(moment: datetime) -> int:
    """Milliseconds since the epoch; exact integer arithmetic so round trips never drift."""
    delta = as_utc(moment) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def json_safe(value: dict[str, Any]) -> dict[str, Any]:
    """Job params/results as plain JSON values, so both stores give back the same thing."""
    result: dict[str, Any] = to_jsonable_python(value)
    return result


PersonPair = tuple[str, str]


def pair_of(first_id: str, second_id: str) -> PersonPair:
    """The stored order of a pair of people (the smaller id first): the same pair whichever way it is said."""
    if first_id == second_id:
        raise InvalidInput("a person is always the same person as themselves: give two different people")
    return (first_id, second_id) if first_id < second_id else (second_id, first_id)


def mentions(text: str, ids: set[str]) -> bool:
    """Whether a stored JSON text names any of these ids (as a whole JSON string)."""
    return any(f'"{record_id}"' in text for record_id in ids)


def within_dates(person: Person, taken_at: datetime | None) -> bool:
    """Whether a photo taken then may be named this person automatically: a photo with no known date may."""
    if taken_at is None:
        return True
    day = as_utc(taken_at).date()
    return not ((person.active_from and day < person.active_from) or (person.active_to and day > person.active_to))


def face_order(face: FaceRecord) -> tuple[str, int, str]:
    """Faces by image, then left to right, then id."""
    return (face.image_id, face.box.left, face.id)


def is_kept_on_redetection(face: FaceRecord) -> bool:
    return face.human_labelled or face.origin == FaceOrigin.manual


@dataclass
class Redetection:
    """What ``replace_detected_faces`` writes: faces to delete and faces to upsert."""

    kept: list[FaceRecord] = field(default_factory=list)
    delete_ids: list[str] = field(default_factory=list)
    insert: list[FaceRecord] = field(default_factory=list)


def plan_redetection(image_id: str, existing: list[FaceRecord], detected: list[FaceRecord]) -> Redetection:
    """Keep person-labelled and manual faces, replace the other detector faces by ``detected``.

    A detection overlapping a kept face (IoU >= 0.5) is that face again and is dropped, as is one
    reusing a kept face's id, so a human label is never lost to a re-run of the detector.
    """
    for face in detected:
        if face.image_id != image_id:
            raise InvalidInput(f"face {face.id} belongs to image {face.image_id}, not {image_id}")
    plan = Redetection()
    for face in existing:
        if is_kept_on_redetection(face):
            plan.kept.append(face)
        else:
            plan.delete_ids.append(face.id)
    kept_ids = {face.id for face in plan.kept}
    seen: set[str] = set()
    for face in detected:
        if face.id in kept_ids or face.id in seen:
            continue
        if any(face.box.iou(kept.box) >= SAME_FACE_IOU for kept in plan.kept):
            continue
        seen.add(face.id)
        plan.insert.append(face)
    return plan
