"""``facetag import DIR``: a folder per person; upload every photo and name its face after the folder.

It talks to a running service over its HTTP API, like any client: upload (``POST /v1/images``),
wait until the photo is processed, then name the largest face (``PATCH /v1/faces/{id}``). Running it
again is harmless: a photo already uploaded is found by its content, a face already named is skipped.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from tqdm import tqdm

from services.core.catalog.rules import name_key
from services.core.settings import Settings

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
POLL_SECONDS = 0.5


@dataclass
class PhotoResult:
    path: Path
    person: str
    image_id: str | None = None
    duplicate: bool = False
    outcome: str = "pending"  # named, already, no_face, failed
    detail: str = ""
    faces: int = 0


@dataclass
class ImportPlan:
    photos: list[tuple[Path, str]] = field(default_factory=list)
    ignored: list[Path] = field(default_factory=list)


def tidy_person_name(folder_name: str) -> str:
    """A person's name as a folder is named: "ben_afflek" and "JERRY_SEINFELD" become "Ben Afflek" and "Jerry
    Seinfeld", "mindy.kaling" "Mindy Kaling". Underscores are spaces; dots are too when nothing else parts the
    words (so "J.R.R. Tolkien" keeps them). A name written in both cases ("McDonald", "Ben Affleck") is kept as
    written; one in a script without case ("周杰伦") too. Matching ignores all this anyway (``name_key``): the
    tidy form is only what a new person is called."""
    words = folder_name.replace("_", " ")
    if not any(ch.isspace() for ch in words.strip()):
        words = words.replace(".", " ")
    name = " ".join(words.split())
    if not name:
        return " ".join(folder_name.split()) or folder_name
    cased = [ch for ch in name if ch.isupper() or ch.islower()]
    if cased and (all(ch.islower() for ch in cased) or all(ch.isupper() for ch in cased)):
        # title() starts a capital after each non-letter too: "o'brien" -> "O'Brien", "jean-paul" -> "Jean-Paul".
        name = name.title()
    return name


def plan_import(folder: Path) -> ImportPlan:
    plan = ImportPlan()
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            plan.ignored.append(entry)
            continue
        person = tidy_person_name(entry.name)
        for photo in sorted(entry.rglob("*")):
            if photo.is_file() and not photo.name.startswith("."):
                (plan.photos.append((photo, person)) if photo.suffix.lower() in IMAGE_SUFFIXES
                 else plan.ignored.append(photo))
    return plan


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
        return str(body.get("message") or body)
    except ValueError:
        return response.text[:200] or f"HTTP {response.status_code}"


def _largest(faces: list[dict[str, Any]]) -> dict[str, Any]:
    return max(faces, key=lambda f: f["box"]["width"] * f["box"]["height"])


NEEDED = "images:write and edit"


def run_import(folder: Path, url: str | None, settings: Settings, *, timeout: float = 600.0,
               progress: bool = True) -> int:
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request would drown the summary
    folder = folder.expanduser()
    if not folder.is_dir():
        print(f"facetag import: {folder} is not a folder. Give a folder with one sub-folder per person.",
              file=sys.stderr)
        return 2
    plan = plan_import(folder)
    if not plan.photos:
        print(f"facetag import: no photos in sub-folders of {folder}. Put each person's photos in a folder "
              f"named after them, e.g. {folder}/Ada/1.jpg.", file=sys.stderr)
        return 2
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
    base = (url or f"http://{host}:{settings.port}").rstrip("/")
    if not settings.api_token:
        print(f"facetag import: set FACETAG_API_TOKEN to an API token with the {NEEDED} scopes (an editor or "
              "admin makes one on the Account page of the web UI).", file=sys.stderr)
        return 2
    headers = {"Authorization": f"Bearer {settings.api_token}"}
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        try:
            client.get("/healthz").raise_for_status()
            me = client.get("/v1/auth/me")
        except httpx.HTTPError as exc:
            print(f"facetag import: no Facetag service answers at {base} ({exc}). Start one with "
                  "'facetag serve', or give its address with --url.", file=sys.stderr)
            return 2
        scopes = set(me.json().get("scopes", [])) if me.status_code == 200 else set()
        if not {"edit", "images:write"} <= scopes:
            reason = _message(me) if me.status_code != 200 else f"it has only {', '.join(sorted(scopes)) or 'none'}"
            print(f"facetag import: FACETAG_API_TOKEN cannot import here ({reason}); it needs the {NEEDED} "
                  "scopes.", file=sys.stderr)
            return 2
        results = _upload_all(client, plan, progress)
        _wait_and_name(client, results, timeout, progress)
    _summary(folder, plan, results)
    return 1 if any(r.outcome == "failed" for r in results) else 0


def _upload_all(client: httpx.Client, plan: ImportPlan, progress: bool) -> list[PhotoResult]:
    results = []
    for path, person in tqdm(plan.photos, desc="uploading", unit="photo", disable=not progress):
        result = PhotoResult(path, person)
        results.append(result)
        try:
            with path.open("rb") as fh:
                response = client.post("/v1/images", files={"file": (path.name, fh, "application/octet-stream")})
        except (OSError, httpx.HTTPError) as exc:
            result.outcome, result.detail = "failed", f"upload failed: {exc}"
            continue
        if response.status_code in (200, 202):
            result.image_id = response.json()["id"]
            result.duplicate = response.status_code == 200
        else:
            result.outcome, result.detail = "failed", _message(response)
    return results


def _wait_and_name(client: httpx.Client, results: list[PhotoResult], timeout: float, progress: bool) -> None:
    pending = [r for r in results if r.outcome == "pending"]
    deadline = time.monotonic() + timeout
    people: dict[str, str] = {}
    with tqdm(total=len(pending), desc="naming faces", unit="photo", disable=not progress) as bar:
        while pending and time.monotonic() < deadline:
            still = []
            for result in pending:
                try:
                    done = _try_name(client, result, people)
                except httpx.HTTPError as exc:
                    result.detail = str(exc)
                    done = False
                if done:
                    bar.update(1)
                else:
                    still.append(result)
            pending = still
            if pending:
                time.sleep(POLL_SECONDS)
    for result in pending:
        result.outcome = "failed"
        result.detail = f"not processed within {timeout:.0f}s; run the import again later to name it"


def _try_name(client: httpx.Client, result: PhotoResult, people: dict[str, str]) -> bool:
    """True when this photo is finished with (named, nothing to name, or failed)."""
    response = client.get(f"/v1/images/{result.image_id}")
    if response.status_code != 200:
        result.outcome, result.detail = "failed", _message(response)
        return True
    image = response.json()
    if image["status"] == "failed":
        result.outcome, result.detail = "failed", image.get("error") or "processing failed"
        return True
    if image["status"] != "done":
        return False
    faces = image["faces"]
    result.faces = len(faces)
    if not faces:
        result.outcome = "no_face"
        return True
    key = name_key(result.person)  # as the catalog compares names: "ben_afflek" is "Ben Afflek"
    for face in faces:
        if face.get("label_source") == "person" and face.get("person") and \
                name_key(face["person"]["name"]) == key:
            result.outcome, result.person = "already", face["person"]["name"]
            return True
    face = _largest(faces)
    body = {"person_id": people[key]} if key in people else {"name": result.person}
    named = client.patch(f"/v1/faces/{face['id']}", json=body)
    if named.status_code != 200:
        result.outcome, result.detail = "failed", f"could not name the face: {_message(named)}"
        return True
    person = named.json().get("person") or {}
    if person.get("id"):
        people[key] = person["id"]
    result.outcome = "named"
    result.person = person.get("name") or result.person  # the name the person has (perhaps given in the UI)
    return True


def _summary(folder: Path, plan: ImportPlan, results: list[PhotoResult]) -> None:
    outcomes = Counter(r.outcome for r in results)
    people = Counter(r.person for r in results if r.outcome in ("named", "already"))
    print(f"\nImported {folder}: {len(results)} photo(s) of {len({name_key(r.person) for r in results})} people.")
    print(f"  named: {outcomes['named']} (already named before: {outcomes['already']}); "
          f"uploaded before: {sum(r.duplicate for r in results)}")
    several = [r for r in results if r.faces > 1 and r.outcome in ("named", "already")]
    if several:
        print(f"  {len(several)} photo(s) showed several faces: the largest was named")
    for person, count in sorted(people.items()):
        print(f"    {person}: {count}")
    no_face = [r for r in results if r.outcome == "no_face"]
    if no_face:
        print(f"  no face found in {len(no_face)} photo(s) (name a face by hand in the web UI, or use a "
              "clearer photo):")
        for r in no_face:
            print(f"    {r.path}")
    failed = [r for r in results if r.outcome == "failed"]
    if failed:
        print(f"  FAILED: {len(failed)} photo(s):")
        for r in failed:
            print(f"    {r.path}: {r.detail}")
    if plan.ignored:
        print(f"  ignored {len(plan.ignored)} file(s) that are not photos in a person's folder")
