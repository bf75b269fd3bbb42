"""Soak: many uploads from many clients while workers are killed at random; no photo may be lost.

Starts ``facetag serve`` (gateway, detector(s), classifier(s) and trainer under its small supervisor) on a
fresh temporary data folder. N client threads upload real photos (the shared sample portraits, cycled;
each upload carries its own comment in the file, so the gateway's de-duplication by content sees a new
photo while the pixels and faces stay the same) and, every K seconds until everything is finished, one
worker process picked at random gets SIGKILL; serve restarts it and its photo must come back and
finish. A 503 or a connection error is retried as the answer says (Retry-After); a 200 on such a retry is
the photo the lost answer had accepted. The service's memory is sampled from /proc every half second.

--drain-timeout is counted from the last photo that finished, not from the last upload: the uploads are
answered long before the workers get through the queue, so a fixed deadline would call a slow but
progressing service lossy.

Printed at the end: uploads sent, accepted, retried (503 / connection error), rejected (4xx), errors
(other 5xx), done, failed, lost (accepted but neither done nor failed when the drain gave up, plus photos
failed by a crash rather than by their content; must be 0, else the exit status is 1, and each is listed
with its log lines), kills per role and how long serve took to start a new process, p50/p95/max
upload-to-done (the service's own uploaded_at -> updated_at of the done photo), photos per second, the
client's upload request p50/p95, the peak resident memory of each process role (the largest VmHWM of any
pid that role had, restarts included) and of the whole service at one moment, and the ERROR lines and
tracebacks of the service log, counted by kind.

Run: .venv/bin/python bench/soak.py [--uploads 10000] [--clients 64] [--kill-every 20]
                                    [--detectors 1] [--classifiers 1] [--drain-timeout 300]
                                    [--kill-roles detector,classifier,trainer] [--setting KEY=VALUE ...]
                                    [--photo-set samples|groups] [--keep]
     .venv/bin/python bench/soak.py --url http://127.0.0.1:8000 --key ADMIN_KEY [...]
         soaks a service that is already running: nothing is killed and no memory is reported.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import secrets
import shutil
import signal
import sys
import tempfile
import threading
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from common import REPO, p50_p95, sample_photos
from tqdm import tqdm

sys.path.insert(0, str(REPO / "tests"))
from servers import free_port
from service_fixtures import Service, base_env, start_facetag

from services.core.faces.decode import decode_image

WORKER_ROLES = ("detector", "classifier", "trainer")
SAMPLE_SECONDS = 0.5
POLL_SECONDS = 1.0
RETRY_FOR = 300.0  # an upload still refused (503 / no connection) after this long is given up
# Failure reasons that mean the pipeline broke, not that the photo is bad: the worker's retries ran out
# (services/core/worker_runtime.py) or the reconciler gave up (services/gateway/reconciler.py).
CRASH_REASON = re.compile(r"\(after \d+ attempts\)|gave up after \d+ attempts")


def say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


# --- photos -----------------------------------------------------------------------------------------


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def comment_offset(data: bytes) -> int:
    """Where a comment can go: in a JPEG after the start marker and the APPn segments (JFIF, EXIF) that
    readers look for first; in a PNG after the IHDR chunk, which must come first."""
    if data.startswith(PNG_SIGNATURE):
        return len(PNG_SIGNATURE) + 12 + int.from_bytes(data[8:12], "big")
    if data[:2] != b"\xff\xd8":
        raise ValueError("neither a JPEG nor a PNG")
    at = 2
    while at + 4 <= len(data) and data[at] == 0xFF and 0xE0 <= data[at + 1] <= 0xEF:
        at += 2 + int.from_bytes(data[at + 2:at + 4], "big")
    if at + 4 > len(data):
        raise ValueError("no image data after the APP segments")
    return at


def comment(text: str, png: bool) -> bytes:
    """A JPEG COM segment, or a PNG tEXt chunk, holding ``text``."""
    payload = text.encode()
    if png:
        body = b"tEXt" + b"Comment\0" + payload
        return (len(body) - 4).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")
    return b"\xff\xfe" + (len(payload) + 2).to_bytes(2, "big") + payload


@dataclass
class Photos:
    """The source photos, each split where a comment goes; upload n is photo n mod len with its own comment.

    Checked in advance (a photo with a comment decodes to exactly the same pixels), so an upload only
    joins three byte strings."""

    parts: list[tuple[str, bytes, bytes, bool]]  # file name, bytes before the comment, bytes after, PNG?
    tag: str  # differs per run, so a second soak of the same service uploads new photos too

    @classmethod
    def prepare(cls, paths: list[Path]) -> Photos:
        tag = secrets.token_hex(4)
        parts = []
        for path in tqdm(paths, desc="checking photos", leave=False):
            data = path.read_bytes()
            try:
                at, png = comment_offset(data), data.startswith(PNG_SIGNATURE)
                marked = data[:at] + comment(f"facetag soak {tag} check", png) + data[at:]
                same = np.array_equal(decode_image(data, 200_000_000).rgb, decode_image(marked, 200_000_000).rgb)
            except Exception as exc:  # a file this script cannot mark is left out, with the reason
                say(f"left out {path}: {exc}")
                continue
            if not same:
                say(f"left out {path}: a comment changes its pixels")
                continue
            parts.append((path.name, data[:at], data[at:], png))
        if not parts:
            sys.exit("no usable photos")
        return cls(parts, tag)

    def upload(self, n: int) -> tuple[str, bytes]:
        name, head, tail, png = self.parts[n % len(self.parts)]
        return f"{n:05d}-{name}", b"".join((head, comment(f"facetag soak {self.tag} upload {n}", png), tail))


# --- the service's processes ------------------------------------------------------------------------


def parent_table() -> dict[int, int]:
    """pid -> parent pid of every process, from /proc/PID/stat."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as fh:
                stat = fh.read()
        except OSError:  # gone meanwhile
            continue
        fields = stat[stat.rfind(b")") + 2:].split()  # the command name in parentheses may hold spaces
        table[int(entry.name)] = int(fields[1])
    return table


def parent_of(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read()
    except OSError:
        return None
    return int(stat[stat.rfind(b")") + 2:].split()[1])


def role_of(pid: int) -> str | None:
    """serve, gateway, detector, classifier, trainer or beat, from ``python -m services.commands.cli ...``."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            argv = fh.read().decode(errors="replace").split("\0")
    except OSError:
        return None
    if "services.commands.cli" not in argv:
        return None
    rest = argv[argv.index("services.commands.cli") + 1:]
    if rest[:1] == ["worker"] and len(rest) > 1:
        return rest[1]
    return rest[0] if rest and rest[0] else None


def memory_kb(pid: int) -> tuple[int, int] | None:
    """(VmRSS, VmHWM) in kB; None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    values = {}
    for line in lines:
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0])
    if "VmRSS" not in values:  # a zombie has no memory left
        return None
    return values["VmRSS"], values.get("VmHWM", values["VmRSS"])


@dataclass
class Kill:
    at: float  # monotonic
    role: str
    pid: int


class ProcessWatch:
    """Samples serve and everything under it: memory per role (max over its pids), the whole service's
    memory at one moment, and which children serve has now (pid -> role) and when each pid was first seen."""

    def __init__(self, serve_pid: int) -> None:
        self.serve_pid = serve_pid
        self.lock = threading.Lock()
        self.peak_kb: dict[str, int] = {}
        self.pids_of: dict[str, set[int]] = {}
        self.peak_total_kb = 0
        self.children: dict[int, str] = {}  # serve's children now
        self.first_seen: dict[int, tuple[str, float]] = {}  # serve's children ever: pid -> (role, monotonic)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="watch", daemon=True)

    def sample(self) -> None:
        table = parent_table()
        below: dict[int, list[int]] = {}
        for pid, parent in table.items():
            below.setdefault(parent, []).append(pid)
        now = time.monotonic()
        children: dict[int, str] = {}
        found: list[tuple[int, str]] = [(self.serve_pid, "serve")]
        for pid in below.get(self.serve_pid, []):
            role = role_of(pid) or "other"
            children[pid] = role
            stack = [(pid, role)]
            while stack:  # the children's own children count as their role's
                here, here_role = stack.pop()
                found.append((here, here_role))
                stack += [(p, role_of(p) or f"{here_role} child") for p in below.get(here, [])]
        total = 0
        with self.lock:
            self.children = children
            for pid, role in children.items():
                self.first_seen.setdefault(pid, (role, now))
            for pid, role in found:
                memory = memory_kb(pid)
                if memory is None:
                    continue
                rss, hwm = memory
                total += rss
                self.peak_kb[role] = max(self.peak_kb.get(role, 0), hwm)
                self.pids_of.setdefault(role, set()).add(pid)
            self.peak_total_kb = max(self.peak_total_kb, total)

    def _run(self) -> None:
        while not self.stop.wait(SAMPLE_SECONDS):
            self.sample()

    def workers(self, roles: tuple[str, ...]) -> list[tuple[int, str]]:
        self.sample()
        with self.lock:
            return [(pid, role) for pid, role in self.children.items() if role in roles]

    def roles_now(self) -> Counter[str]:
        self.sample()
        with self.lock:
            return Counter(self.children.values())

    def back_after(self, kill: Kill) -> float | None:
        """Seconds from the kill until serve had a new process of that role (to the sampling's half second)."""
        with self.lock:
            later = [seen for role, seen in self.first_seen.values() if role == kill.role and seen >= kill.at]
        return min(later) - kill.at if later else None


def missing_roles(watch: ProcessWatch, expected: Counter[str]) -> dict[str, int]:
    """How many processes of each role serve is short of, against ``expected``."""
    now = watch.roles_now()
    return {role: n - now[role] for role, n in expected.items() if now[role] < n}


def chaos(watch: ProcessWatch, roles: tuple[str, ...], every: float, stop: threading.Event, kills: list[Kill]) -> None:
    """Every ``every`` seconds SIGKILL one of serve's children with one of ``roles``, picked at random."""
    rng = random.Random()
    started = time.monotonic()
    next_at = started + every
    while not stop.wait(max(0.0, next_at - time.monotonic())):
        next_at += every
        candidates = watch.workers(roles)
        if not candidates:
            say(f"+{time.monotonic() - started:6.1f}s nothing to kill: no {'/'.join(roles)} process is running")
            continue
        pid, role = rng.choice(candidates)
        if parent_of(pid) != watch.serve_pid:  # it died meanwhile, and the pid may be someone else's now
            continue
        os.kill(pid, signal.SIGKILL)
        kills.append(Kill(time.monotonic(), role, pid))
        say(f"+{time.monotonic() - started:6.1f}s killed {role} pid {pid}")


# --- uploads ----------------------------------------------------------------------------------------


@dataclass
class Accepted:
    name: str
    uploaded_at: datetime
    request_s: float  # the client's wall time for the request that was accepted


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    sent: int = 0
    retried_503: int = 0
    retried_connection: int = 0
    rejected: int = 0
    errors: int = 0
    gave_up: int = 0
    recovered: int = 0  # a 200 on a retry: the photo an answer lost on the way had accepted
    duplicates: int = 0  # a 200 on a first try: these bytes had been uploaded before (should not happen)
    accepted: dict[str, Accepted] = field(default_factory=dict)
    problems: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # problem -> the first upload it happened to

    def note(self, what: str, upload: str) -> None:
        """Count an answer other than 202 (under the lock)."""
        what = what[:300]
        self.problems[what] += 1
        self.examples.setdefault(what, upload)


def upload_all(client: httpx.Client, photos: Photos, count: int, clients: int, tally: Tally,
               stop: threading.Event) -> list[threading.Thread]:
    """Start ``clients`` threads uploading ``count`` photos between them; the threads."""
    numbers = iter(range(count))
    numbers_lock = threading.Lock()

    def next_number() -> int | None:
        with numbers_lock:
            return next(numbers, None)

    def one(n: int) -> None:
        name, data = photos.upload(n)
        with tally.lock:
            tally.sent += 1
        first = time.monotonic()
        retried = False
        while not stop.is_set():
            started = time.monotonic()
            try:
                response = client.post("/v1/images", files={"file": (name, data, "application/octet-stream")})
            except httpx.TransportError as exc:
                wait = 1.0
                with tally.lock:
                    tally.retried_connection += 1
                    tally.note(f"connection error (retried): {type(exc).__name__}: {exc}", name)
            else:
                code = response.status_code
                if code in (200, 202):
                    body = response.json()
                    with tally.lock:
                        if code == 200 and not retried:
                            tally.duplicates += 1
                            tally.note(f"200 on a first upload: deduplicated as {body['id']}", name)
                        elif code == 200:
                            tally.recovered += 1
                        tally.accepted[body["id"]] = Accepted(name, datetime.fromisoformat(body["uploaded_at"]),
                                                              time.monotonic() - started)
                    return
                if code == 503:
                    try:
                        wait = float(response.headers.get("Retry-After", "1"))
                    except ValueError:
                        wait = 1.0
                    with tally.lock:
                        tally.retried_503 += 1
                        tally.note(f"503 (retried): {response.text[:200]}", name)
                else:
                    with tally.lock:
                        if code < 500:
                            tally.rejected += 1
                        else:
                            tally.errors += 1
                        tally.note(f"{code}: {response.text[:200]}", name)
                    return
            retried = True
            if time.monotonic() + wait > first + RETRY_FOR:
                break
            stop.wait(wait)
        with tally.lock:
            tally.gave_up += 1
            tally.note(f"given up: still refused after retrying for up to {RETRY_FOR:.0f} s, or the uploads stopped",
                       name)

    def work() -> None:
        while not stop.is_set() and (n := next_number()) is not None:
            one(n)

    threads = [threading.Thread(target=work, name=f"client-{i}", daemon=True) for i in range(clients)]
    for thread in threads:
        thread.start()
    return threads


# --- following the photos ---------------------------------------------------------------------------


def images_with(client: httpx.Client, status: str, since: datetime) -> Iterator[dict[str, Any]]:
    """Every photo in ``status`` uploaded since ``since``, following the list's cursor page by page."""
    params: dict[str, Any] = {"status": status, "limit": 200, "uploaded_from": since.isoformat()}
    while True:
        response = client.get("/v1/images", params=params, timeout=120)
        response.raise_for_status()
        page = response.json()
        yield from page["items"]
        if page["next_cursor"] is None:
            return
        params["cursor"] = page["next_cursor"]


def count_with(client: httpx.Client, status: str, since: datetime) -> int:
    return sum(1 for _ in images_with(client, status, since))


def finished_count(client: httpx.Client, since: datetime | None) -> int | None:
    """Photos done or failed uploaded since ``since`` (anyone's); None if the gateway did not answer."""
    if since is None:
        return 0
    try:
        return count_with(client, "done", since) + count_with(client, "failed", since)
    except (httpx.TransportError, httpx.HTTPStatusError):
        return None


def finished_images(client: httpx.Client, since: datetime, ids: set[str]) -> dict[str, dict[str, Any]]:
    """The image records of ``ids`` that are done or failed: the lists page by page, then one by one for
    any the walk missed (a photo that finished while its list was walked)."""
    found: dict[str, dict[str, Any]] = {}
    for status in ("done", "failed"):
        found.update({item["id"]: item for item in images_with(client, status, since) if item["id"] in ids})
    missing = ids - found.keys()

    def get(image_id: str) -> dict[str, Any]:
        response = client.get(f"/v1/images/{image_id}", timeout=120)
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    with ThreadPoolExecutor(8) as pool:
        for body in pool.map(get, sorted(missing)):
            if body["status"] in ("done", "failed"):
                found[body["id"]] = body
            else:
                found[body["id"]] = {**body, "unfinished": True}
    return found


# --- the service ------------------------------------------------------------------------------------


@contextlib.contextmanager
def served(args: argparse.Namespace) -> Iterator[tuple[Service, Path]]:
    """``facetag serve`` with the asked worker counts on a fresh data folder, ready and with every worker
    taking tasks; the folder holds serve.log."""
    folder = Path(tempfile.mkdtemp(prefix="facetag-soak-"))
    settings = dict(item.split("=", 1) for item in args.setting)
    port = free_port()
    env = base_env(folder / "data", port=port, **settings)
    service = Service(url=f"http://127.0.0.1:{port}", data_dir=folder / "data",
                      catalog_url=f"sqlite:///{folder / 'data' / 'facetag.db'}", env=env)
    service.processes.append(start_facetag(
        "serve", ["serve", "--detectors", str(args.detectors), "--classifiers", str(args.classifiers)], env, folder))
    try:
        service.wait_ready(timeout=300)
        workers = args.detectors + args.classifiers + 1
        deadline = time.monotonic() + 300
        log = folder / "serve.log"
        while len(re.findall(r"worker \S+ taking tasks from queue", log.read_text(errors="replace"))) < workers:
            if time.monotonic() > deadline:
                say(f"not all {workers} workers said they take tasks after 300 s; going on")
                break
            time.sleep(0.5)
        yield service, folder
    finally:
        service.stop()
        if args.keep:
            say(f"kept the data folder and serve.log in {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


def log_summary(log: Path) -> list[tuple[int, str]]:
    """WARNING/ERROR/CRITICAL lines and tracebacks of the service log, counted by kind (numbers and ids
    blanked), errors first."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return []
    kinds: Counter[str] = Counter()

    def kind(text: str) -> str:
        text = re.sub(r"\b[0-9a-f]{32}\b", "ID", text)
        return re.sub(r"\d+(\.\d+)?", "N", text)[:200]

    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            for after in lines[i + 1:]:  # the exception is the first line that is not indented
                if after and not after[0].isspace():
                    kinds[f"traceback: {kind(after)}"] += 1
                    break
        elif level := re.search(r"\b(WARNING|ERROR|CRITICAL)\b/?\S*\s+", line):
            message = re.sub(r"^\S+\[\d+\]\s+", "", line[level.end():])  # the process[pid] of the log format
            if "No hostname was supplied" not in message:  # kombu's, on every worker start
                kinds[f"{level.group(1)}: {kind(message)}"] += 1
    return sorted(((n, text) for text, n in kinds.items()), key=lambda item: (item[1].startswith("WARNING"), -item[0]))


def log_lines_about(log: Path, image_id: str, limit: int = 8) -> list[str]:
    try:
        with log.open(errors="replace") as fh:
            hits = [line.rstrip() for line in fh if image_id in line and '"GET /v1/images' not in line]
    except OSError:
        return []
    return hits[-limit:]


# --- the run ----------------------------------------------------------------------------------------


@dataclass
class Outcome:
    done: dict[str, dict[str, Any]]
    failed: dict[str, dict[str, Any]]
    unfinished: dict[str, dict[str, Any]]
    wall_s: float
    drain_gave_up: bool


def soak(args: argparse.Namespace, client: httpx.Client, photos: Photos, watch: ProcessWatch | None,
         tally: Tally, kills: list[Kill]) -> Outcome:
    stop = threading.Event()
    started = time.monotonic()
    accepted_bar = tqdm(total=args.uploads, desc="accepted", position=0, unit="photo")
    finished_bar = tqdm(total=args.uploads, desc="finished", position=1, unit="photo")
    chaos_thread = None
    if watch is not None and args.kill_every > 0:
        chaos_thread = threading.Thread(target=chaos, args=(watch, args.kill_roles, args.kill_every, stop, kills),
                                        name="chaos", daemon=True)
        chaos_thread.start()
    stop_uploads = threading.Event()
    threads = upload_all(client, photos, args.uploads, args.clients, tally, stop_uploads)
    since: datetime | None = None
    uploads_over_at: float | None = None
    progress_at = accepted_at = time.monotonic()
    last_finished = last_accepted = 0
    outcome: Outcome | None = None
    try:
        while outcome is None:
            time.sleep(POLL_SECONDS)
            with tally.lock:
                if since is None and tally.accepted:
                    # The threads race: one accepted a moment later may carry an earlier time.
                    since = min(a.uploaded_at for a in tally.accepted.values()) - timedelta(seconds=60)
                accepted = len(tally.accepted)
            accepted_bar.n = accepted
            accepted_bar.refresh()
            if accepted > last_accepted:
                last_accepted, accepted_at = accepted, time.monotonic()
            elif not stop_uploads.is_set() and time.monotonic() - accepted_at > RETRY_FOR:
                say(f"no upload accepted for {RETRY_FOR:.0f} s: the uploads stop here")
                stop_uploads.set()
            finished = finished_count(client, since)
            if finished is not None:
                if finished > last_finished:
                    progress_at = time.monotonic()
                    last_finished = finished
                finished_bar.n = min(finished, args.uploads)
                finished_bar.refresh()
            if uploads_over_at is None:
                if any(thread.is_alive() for thread in threads):
                    continue
                uploads_over_at = time.monotonic()
                progress_at = max(progress_at, uploads_over_at)
                say(f"+{uploads_over_at - started:6.1f}s all uploads answered; waiting for the photos to finish")
            idle = time.monotonic() - progress_at
            if since is None:  # nothing was accepted
                outcome = Outcome({}, {}, {}, time.monotonic() - started, False)
            elif (finished is not None and finished >= accepted) or idle > args.drain_timeout:
                try:
                    records = finished_images(client, since, set(tally.accepted))
                except (httpx.TransportError, httpx.HTTPStatusError) as exc:
                    if idle <= args.drain_timeout:
                        say(f"could not list the photos ({exc}); trying again")
                        continue
                    say(f"could not list the photos ({exc}): all {accepted} count as unfinished")
                    records = {k: {"id": k, "filename": a.name, "status": "unknown", "updated_at": "?",
                                   "unfinished": True} for k, a in tally.accepted.items()}
                unfinished = {k: v for k, v in records.items() if v.get("unfinished")}
                if unfinished and idle <= args.drain_timeout:
                    continue  # the counts held someone else's photos; ours are not all finished yet
                outcome = Outcome({k: v for k, v in records.items() if v["status"] == "done"},
                                  {k: v for k, v in records.items() if v["status"] == "failed"},
                                  unfinished, time.monotonic() - started, bool(unfinished))
    finally:
        stop.set()
        stop_uploads.set()
        if chaos_thread is not None:
            chaos_thread.join()
        accepted_bar.close()
        finished_bar.close()
    return outcome


def report(args: argparse.Namespace, outcome: Outcome, tally: Tally, kills: list[Kill],
           watch: ProcessWatch | None, roles_at_start: Counter[str], log: Path | None) -> int:
    crashed = {k: v for k, v in outcome.failed.items() if CRASH_REASON.search(v.get("error") or "")}
    lost = len(outcome.unfinished) + len(crashed)
    rows: list[tuple[str, str]] = [
        ("uploads sent", f"{tally.sent}" + (f" of {args.uploads}" if tally.sent < args.uploads else "")),
        ("accepted", f"{len(tally.accepted)}" + (f"  ({tally.recovered} found on a retry: the answer had been lost, "
                                                 "the photo had been taken)" if tally.recovered else "")),
        ("retried", f"{tally.retried_503 + tally.retried_connection}  (503: {tally.retried_503}, "
                    f"connection error: {tally.retried_connection}; given up: {tally.gave_up})"),
        ("rejected (4xx)", f"{tally.rejected}"),
        ("errors (other 5xx)", f"{tally.errors}"),
        ("done", f"{len(outcome.done)}"),
        ("failed", f"{len(outcome.failed)}"),
        ("lost", f"{lost}  (unfinished: {len(outcome.unfinished)}, failed by a crash: {len(crashed)})"),
    ]
    if tally.duplicates:
        rows.append(("deduplicated", f"{tally.duplicates}  (a first upload answered 200: not a new photo)"))
    if watch is not None:
        by_role = Counter(k.role for k in kills)
        backs = [b for b in (watch.back_after(k) for k in kills) if b is not None]
        never = sum(1 for k in kills if watch.back_after(k) is None)
        detail = ", ".join(f"{role} {n}" for role, n in sorted(by_role.items())) or "-"
        back = f"; serve started a new one within {max(backs):.1f} s" if backs else ""
        back += f"; {never} not replaced" if never else ""
        rows.append(("kills", f"{len(kills)}  ({detail}){back}"))
    latencies = [(datetime.fromisoformat(v["updated_at"]) - datetime.fromisoformat(v["uploaded_at"])).total_seconds()
                 for v in outcome.done.values()]
    if latencies:
        p50, p95 = p50_p95(latencies)
        rows += [("upload-to-done p50", f"{p50:.2f} s"), ("upload-to-done p95", f"{p95:.2f} s"),
                 ("upload-to-done max", f"{max(latencies):.2f} s")]
        first = min(a.uploaded_at for a in tally.accepted.values())
        last = max(datetime.fromisoformat(v["updated_at"]) for v in outcome.done.values())
        span = (last - first).total_seconds()
        rows.append(("throughput", f"{len(latencies) / span:.2f} photos/s  ({len(latencies)} done in {span:.1f} s "
                                   f"from the first upload)"))
    requests = [a.request_s for a in tally.accepted.values()]
    if requests:
        q50, q95 = p50_p95(requests)
        rows.append(("upload request p50/p95", f"{q50:.3f} / {q95:.3f} s  (as the clients saw it)"))
    rows.append(("wall time", f"{outcome.wall_s:.1f} s"))
    width = max(len(name) for name, _ in rows)
    print()
    print(f"soak: {args.uploads} uploads from {args.clients} clients"
          + (f", {args.detectors} detector(s) + {args.classifiers} classifier(s) + trainer, one of "
             f"{'/'.join(args.kill_roles)} killed every {args.kill_every:g} s" if watch is not None else
             f", service at {args.url} (nothing killed)"))
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")
    if watch is not None:
        print("  peak resident memory (MB; the largest of any of the role's processes)")
        order = {"serve": 0, "gateway": 1, "detector": 2, "classifier": 3, "trainer": 4}
        for role in sorted(watch.peak_kb, key=lambda r: (order.get(r, 9), r)):
            pids = len(watch.pids_of[role])
            print(f"    {role:<12} {watch.peak_kb[role] / 1024:8.0f}   ({pids} pid{'s' if pids > 1 else ''})")
        print(f"    {'all at once':<12} {watch.peak_total_kb / 1024:8.0f}")
        missing = missing_roles(watch, roles_at_start)
        if missing:
            print(f"  NOT RUNNING at the end: {missing} (at the start: {dict(roles_at_start)})")
    if tally.problems:
        print("  what the clients were told besides 202 (count, first 300 characters, the first upload it hit):")
        for text, n in tally.problems.most_common(12):
            print(f"    {n:6d}  {text}  [{tally.examples[text]}]")
    if outcome.failed:
        print("  failed photos by reason:")
        reasons = Counter((v.get("error") or "")[:200] for v in outcome.failed.values())
        for text, n in reasons.most_common(12):
            print(f"    {n:6d}  {'[crash] ' if CRASH_REASON.search(text) else ''}{text}")
    if lost:
        print("  LOST photos (at most 10):")
        for image_id, record in [*outcome.unfinished.items(), *crashed.items()][:10]:
            print(f"    {image_id} {record.get('filename')}: {record['status']}, updated {record['updated_at']}"
                  f"{', ' + record['error'] if record.get('error') else ''}")
            for line in log_lines_about(log, image_id) if log is not None else []:
                print(f"        {line}")
    if log is not None:
        kinds = log_summary(log)
        if kinds:
            print("  service log, warnings, errors and tracebacks by kind (count; numbers shown as N):")
            for n, text in kinds[:20]:
                print(f"    {n:6d}  {text}")
    if outcome.drain_gave_up:
        print(f"  gave up waiting: no photo finished for {args.drain_timeout:g} s")
    return 1 if lost else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=64, help="concurrent uploading threads")
    parser.add_argument("--kill-every", type=float, default=20.0, help="seconds between kills; 0: none")
    parser.add_argument("--kill-roles", default=",".join(WORKER_ROLES),
                        help="which of serve's children may be killed (gateway too, if you list it)")
    parser.add_argument("--detectors", type=int, default=1)
    parser.add_argument("--classifiers", type=int, default=1)
    parser.add_argument("--drain-timeout", type=float, default=300.0,
                        help="after the last upload, give up waiting once no photo finished for this long; "
                             "photos still unfinished then are lost")
    parser.add_argument("--photo-set", default="samples", choices=["samples", "groups"],
                        help="samples: one-face portraits (small, fast); groups: the group photos")
    parser.add_argument("--setting", action="append", default=[], metavar="KEY=VALUE",
                        help="a setting for serve, as FACETAG_KEY (e.g. stalled_after=60); repeatable")
    parser.add_argument("--keep", action="store_true", help="keep the data folder and serve.log")
    parser.add_argument("--url", help="soak this running service instead (no kills, no memory)")
    parser.add_argument("--key", help="with --url: an admin key or an API token with images:write and read")
    args = parser.parse_args()
    args.kill_roles = tuple(r.strip() for r in args.kill_roles.split(",") if r.strip())
    if args.url and not args.key:
        parser.error("--url needs --key")
    if any("=" not in item for item in args.setting):
        parser.error("--setting takes KEY=VALUE")
    photos = Photos.prepare(sample_photos(args.photo_set))
    say(f"{len(photos.parts)} source photos, each upload made distinct by a comment in the file")
    tally, kills = Tally(), list[Kill]()
    limits = httpx.Limits(max_connections=args.clients + 8, max_keepalive_connections=args.clients + 8)

    def client_for(url: str, key: str) -> httpx.Client:
        return httpx.Client(base_url=url, timeout=60, limits=limits, headers={"Authorization": f"Bearer {key}"})

    run: Callable[[], int]
    if args.url:
        def run() -> int:
            with client_for(args.url, args.key) as client:
                outcome = soak(args, client, photos, None, tally, kills)
            return report(args, outcome, tally, kills, None, Counter(), None)
    else:
        def run() -> int:
            with served(args) as (service, folder), client_for(service.url, service.admin_key) as client:
                watch = ProcessWatch(service.processes[0].process.pid)
                roles_at_start = watch.roles_now()
                say(f"serve is up at {service.url}: {dict(roles_at_start)}")
                watch.thread.start()
                try:
                    outcome = soak(args, client, photos, watch, tally, kills)
                    # A process killed near the end may wait for serve's restart back-off (at most 30 s).
                    deadline = time.monotonic() + 40
                    while time.monotonic() < deadline and missing_roles(watch, roles_at_start):
                        time.sleep(SAMPLE_SECONDS)
                finally:
                    watch.stop.set()
                    watch.thread.join()
                return report(args, outcome, tally, kills, watch, roles_at_start, folder / "serve.log")
    try:
        code = run()
    except KeyboardInterrupt:
        say("interrupted")
        code = 130
    sys.exit(code)


if __name__ == "__main__":
    main()
