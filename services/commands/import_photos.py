"""``facetag import DIR``: a folder per person; upload every photo and name its face after the folder.

It talks to a running service over its HTTP API, like any client: hash every file, ask which the service has
(``POST /v1/search/sha256``), upload the others on a few connections at once (``POST /v1/images``), wait until
each photo is processed, then name its largest face (``PATCH /v1/faces/{id}``). Each step shows its progress, rate
and time left. It can be stopped at any moment (Ctrl-C, ``kill``, even ``kill -9``) and run again: what was done is
kept in a state file in the data folder (``import_state``), and a photo the service has is never sent again.
"""

from __future__ import annotations

import hashlib
import logging
import signal
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import httpx
from tqdm import tqdm

from services.commands.import_state import FileState, ImportState, default_state_file
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
    state: FileState | None = None  # what the state file knows of it; set once it is hashed

    @property
    def sha256(self) -> str:
        assert self.state is not None, "hashed first"
        return self.state.sha256

    def with_state(self, **changes: object) -> FileState:
        """Its state with these changes, kept as its own."""
        assert self.state is not None, "hashed first"
        self.state = self.state.model_copy(update=changes)
        return self.state


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
LOOKUP_BATCH = 1000  # digests per POST /v1/search/sha256 (the gateway's limit)
WINDOW = 64  # photos whose processing is checked per pass: the oldest waiting, as the pipeline takes them in order
T = TypeVar("T")


def run_import(folder: Path, url: str | None, settings: Settings, *, timeout: float = 600.0,
               progress: bool = True, connections: int = 4, state_file: Path | None = None) -> int:
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
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    state = ImportState(state_file or default_state_file(settings.data_dir, folder), folder, base)
    results = [PhotoResult(path, person) for path, person in plan.photos]
    with httpx.Client(base_url=base, timeout=120, headers=headers, limits=limits) as client, _stopped_by_kill():
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
        try:
            _resume(state, results)
            _hash_all(state, results, connections, progress)
            _look_up(client, state, results)
            _upload_all(client, state, results, connections, progress)
            _wait_and_name(client, state, results, timeout, progress, connections)
        except KeyboardInterrupt:
            on_service = sum(r.image_id is not None for r in results)
            finished = sum(r.outcome in ("named", "already", "no_face") for r in results)
            print(f"\nfacetag import: stopped. {on_service} of {len(results)} photo(s) are on the service, "
                  f"{finished} finished with. Run the same command again to resume: nothing is uploaded twice "
                  f"and finished photos are skipped (progress is kept in {state.file}).", file=sys.stderr)
            return 130
        finally:
            state.close()
    _summary(folder, plan, results)
    return 1 if any(r.outcome == "failed" for r in results) else 0


@contextmanager
def _stopped_by_kill() -> Iterator[None]:
    """``kill`` (SIGTERM) stops the import as Ctrl-C does: cleanly, saying how to resume."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(_signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _in_parallel(work: Callable[[T], int], items: Sequence[T], connections: int, bar: tqdm[Any]) -> None:
    """``work`` on every item on ``connections`` threads; the bar moves on by what each call returns. Stopped
    (Ctrl-C), the work not started is dropped and the running work finishes, so what it did is recorded."""
    pool = ThreadPoolExecutor(max_workers=connections)
    try:
        for done in as_completed([pool.submit(work, item) for item in items]):
            bar.update(done.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _resume(state: ImportState, results: list[PhotoResult]) -> None:
    """What earlier runs of this import did: photos finished are not looked at again, photos uploaded not again."""
    for result in results:
        result.state = state.get(result.path)
        if result.state is None:
            continue
        if result.state.image_id is not None:
            result.image_id, result.duplicate = result.state.image_id, True
        if result.state.outcome is not None:
            result.outcome = "no_face" if result.state.outcome == "no_face" else "already"
            result.person = result.state.person or result.person


def _hash_all(state: ImportState, results: list[PhotoResult], connections: int, progress: bool) -> None:
    """The SHA-256 of each file not hashed before: the service knows photos by it (reading is the slow part, so it
    runs on several threads; hashlib lets go of the GIL)."""
    todo = [r for r in results if r.state is None]

    def digest(result: PhotoResult) -> int:
        try:
            with result.path.open("rb") as fh:
                sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
            result.state = state.new(result.path, sha256)
        except OSError as exc:
            result.outcome, result.detail = "failed", f"cannot read the file: {exc}"
            return 1
        state.record(result.state)
        return 1

    with tqdm(total=len(todo), desc="hashing", unit="photo", disable=not progress or not todo) as bar:
        _in_parallel(digest, todo, connections, bar)


def _look_up(client: httpx.Client, state: ImportState, results: list[PhotoResult]) -> None:
    """Ask the service which files it has already (a run stopped before it recorded an upload, or photos uploaded
    some other way): those are not sent again. A service without the lookup is sent everything (it keeps one copy
    of the same bytes anyway)."""
    unknown = [r for r in results if r.outcome == "pending" and r.image_id is None and r.state is not None]
    for start in range(0, len(unknown), LOOKUP_BATCH):
        batch = unknown[start:start + LOOKUP_BATCH]
        try:
            response = client.post("/v1/search/sha256", json={"sha256": sorted({r.sha256 for r in batch})})
        except httpx.HTTPError:
            return
        if response.status_code != 200:
            return
        known = {item["sha256"]: item["id"] for item in response.json()["found"]}
        for result in batch:
            if result.sha256 in known:
                result.image_id, result.duplicate = known[result.sha256], True
                state.record(result.with_state(image_id=result.image_id))


def _upload_all(client: httpx.Client, state: ImportState, results: list[PhotoResult], connections: int,
                progress: bool) -> None:
    """Upload what the service does not have, each content once (the same file in two folders is one photo)."""
    by_content: dict[str, list[PhotoResult]] = {}
    for result in results:
        if result.outcome == "pending" and result.image_id is None and result.state is not None:
            by_content.setdefault(result.sha256, []).append(result)

    def upload(copies: list[PhotoResult]) -> int:
        first = copies[0]
        try:
            with first.path.open("rb") as fh:
                response = client.post("/v1/images", files={"file": (first.path.name, fh,
                                                                     "application/octet-stream")})
        except (OSError, httpx.HTTPError) as exc:
            for result in copies:
                result.outcome, result.detail = "failed", f"upload failed: {exc}"
            return len(copies)
        for result in copies:
            if response.status_code in (200, 202):
                result.image_id = response.json()["id"]
                result.duplicate = response.status_code == 200 or result is not first
                state.record(result.with_state(image_id=result.image_id))
            else:
                result.outcome, result.detail = "failed", _message(response)
        return len(copies)

    total = sum(len(copies) for copies in by_content.values())
    with tqdm(total=total, desc="uploading", unit="photo", disable=not progress or not total) as bar:
        _in_parallel(upload, list(by_content.values()), connections, bar)


def _wait_and_name(client: httpx.Client, state: ImportState, results: list[PhotoResult], timeout: float,
                   progress: bool, connections: int) -> None:
    """Name each photo's face once the service has processed it. The oldest waiting photos are checked a window at
    a time (several requests at once); naming runs one at a time, so a new person is made once."""
    pending = [r for r in results if r.outcome == "pending" and r.image_id is not None]
    people: dict[str, str] = {}
    last_progress = time.monotonic()
    with tqdm(total=len(pending), desc="processing and naming", unit="photo", disable=not progress) as bar:
        while pending and time.monotonic() - last_progress < timeout:
            window = pending[:WINDOW]
            images = _fetch(client, window, connections)
            finished = 0
            for result, image in zip(window, images, strict=True):
                try:
                    done = image is not None and _try_name(client, result, image, people)
                except httpx.HTTPError as exc:  # the service did not answer the naming: asked again next pass
                    result.detail, done = str(exc), False
                if done and result.outcome != "failed":
                    state.record(result.with_state(outcome=result.outcome, person=result.person))
                finished += result.outcome != "pending"
            bar.update(finished)
            pending = [r for r in pending if r.outcome == "pending"]
            if finished:
                last_progress = time.monotonic()
            elif pending:
                time.sleep(POLL_SECONDS)
    for result in pending:
        result.outcome = "failed"
        result.detail = (f"not processed: no photo was finished for {timeout:.0f}s; run the import again later to "
                         "name it")


def _fetch(client: httpx.Client, window: list[PhotoResult], connections: int) -> list[dict[str, Any] | None]:
    """Each photo of the window as the service has it now (None: not answered this time), several at once."""

    def fetch(result: PhotoResult) -> dict[str, Any] | None:
        try:
            response = client.get(f"/v1/images/{result.image_id}")
        except httpx.HTTPError as exc:
            result.detail = str(exc)
            return None
        if response.status_code != 200:
            result.outcome, result.detail = "failed", _message(response)
            return None
        image: dict[str, Any] = response.json()
        return image

    with ThreadPoolExecutor(max_workers=connections) as pool:
        return list(pool.map(fetch, window))


def _try_name(client: httpx.Client, result: PhotoResult, image: dict[str, Any], people: dict[str, str]) -> bool:
    """True when this photo is finished with (named, nothing to name, or failed)."""
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
