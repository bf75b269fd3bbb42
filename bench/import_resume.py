"""``facetag import`` of a big folder, stopped twice and run again: hashing and upload rates, one connection
against several in the same run, what a restart costs, and the uploads the service counted.

Run: flock /tmp/facetag-cpu.lock .venv/bin/python bench/import_resume.py [--photos 10000]   (about 10 minutes)

The folder holds PHOTOS distinct small JPEGs (a shared portrait per person, 100 per person, each with its own pixel
mark and JPEG comment so every file's bytes differ), made in a temporary folder. The service is ``facetag serve``
with no workers: this measures the client and the gateway's intake, not face finding (photos stay queued; the last
run stops waiting for them after two seconds). Run 1 uploads on one connection and is stopped with Ctrl-C (SIGINT)
after a fifth of the photos; run 2 resumes on four connections and is killed (SIGKILL) at three fifths; run 3
finishes. Rates come from the state file's lines as they appear (polled every 20 ms); uploads from the gateway's
own request counter (/metrics).
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import REPO, facedata
from PIL import Image

from services.commands.import_state import default_state_file

sys.path.insert(0, str(REPO / "tests"))
from service_fixtures import upload_answers

PER_PERSON = 100


def make_folder(folder: Path, count: int) -> int:
    """``count`` photos, a folder per person; their total size in bytes."""
    portraits = sorted((facedata() / "celeb5" / "train").rglob("*.jpg"))
    total = 0
    for n in range(count):
        person, index = divmod(n, PER_PERSON)
        where = folder / f"person_{person:03d}"
        where.mkdir(parents=True, exist_ok=True)
        with Image.open(portraits[person % len(portraits)]) as img:
            photo = img.convert("RGB")
        photo.thumbnail((480, 480))
        photo.putpixel((index % photo.width, 0), (index % 256, n % 256, (n // 256) % 256))
        path = where / f"{index:03d}.jpg"
        # The comment keeps the bytes distinct where JPEG's quantisation erases the one-pixel mark (1 in 100 here).
        photo.save(path, "JPEG", quality=88, comment=f"facetag import bench photo {n}".encode())
        total += path.stat().st_size
    return total


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Progress:
    """The state file as an import writes it: when each photo was hashed and when it was uploaded."""

    def __init__(self, file: Path) -> None:
        self.file, self.offset = file, 0
        self.hashed: dict[str, float] = {}
        self.uploaded: dict[str, float] = {}

    def poll(self) -> None:
        if not self.file.exists():
            return
        with self.file.open() as fh:
            fh.seek(self.offset)
            text = fh.read()
        whole = text[:text.rfind("\n") + 1]  # a line still being written is read next time
        self.offset += len(whole.encode())
        now = time.monotonic()
        for line in whole.splitlines():
            entry = json.loads(line)
            self.hashed.setdefault(entry["path"], now)
            if entry.get("image_id"):
                self.uploaded.setdefault(entry["path"], now)


def run_import(folder: Path, url: str, env: dict[str, str], connections: int, progress: Progress,
               stop_at: int | None, how: signal.Signals) -> dict[str, float]:
    start = time.monotonic()
    before = len(progress.uploaded)
    process = subprocess.Popen([sys.executable, "-m", "services.commands.cli", "import", str(folder), "--url", url,
                                "--no-progress", "--connections", str(connections), "--timeout", "2"],
                               env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first_upload = None
    while process.poll() is None:
        progress.poll()
        if first_upload is None and len(progress.uploaded) > before:
            first_upload = time.monotonic()
        if stop_at is not None and len(progress.uploaded) >= stop_at:
            os.kill(process.pid, how)
            process.wait()
            break
        time.sleep(0.02)
    progress.poll()
    last = max(progress.uploaded.values(), default=start)
    done = len(progress.uploaded) - before
    first = first_upload or last
    return {"seconds": time.monotonic() - start, "uploads": done, "to_first_upload": first - start,
            "rate": (done - 1) / (last - first) if done > 1 and last > first else float("nan")}


def answers_now(url: str, key: str) -> dict[str, int]:
    return upload_answers(httpx.get(f"{url}/metrics", headers={"Authorization": f"Bearer {key}"}, timeout=30).text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=10_000)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="facetag-import-bench-"))
    serve = None
    try:
        folder = tmp / "library"
        started = time.monotonic()
        size = make_folder(folder, args.photos)
        print(f"{args.photos} photos, {size / 1e6:.0f} MB, made in {time.monotonic() - started:.0f} s")
        key, port = secrets.token_urlsafe(24), free_port()
        url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACETAG_")}
        env.update({"FACETAG_DATA_DIR": str(tmp / "data"), "FACETAG_PORT": str(port), "FACETAG_ADMIN_KEYS": key,
                    "FACETAG_API_TOKEN": key, "FACETAG_AUTO_TRAIN": "false", "FACETAG_METRICS_PORT": "0",
                    "FACETAG_WORKER_PROCESSES": "1", "FACETAG_LOG_LEVEL": "WARNING"})
        serve = subprocess.Popen([sys.executable, "-m", "services.commands.cli", "serve", "--detectors", "0",
                                  "--classifiers", "0"], env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                sys.exit("facetag serve did not become ready")
            time.sleep(0.5)
        progress = Progress(default_state_file(tmp / "data", folder))
        runs = [("1: 1 connection, Ctrl-C at 1/5", 1, args.photos // 5, signal.SIGINT),
                ("2: 4 connections, kill -9 at 3/5", 4, 3 * args.photos // 5, signal.SIGKILL),
                ("3: 4 connections, to the end", 4, None, signal.SIGINT)]
        print(f"{'run':34} {'seconds':>8} {'uploads':>8} {'photos/s':>9} {'to 1st upload s':>16} {'service POSTs':>14}")
        figures = []
        for name, connections, stop_at, how in runs:
            hashed_before = len(progress.hashed)
            figure = run_import(folder, url, env, connections, progress, stop_at, how)
            if hashed_before == 0:
                hash_seconds = max(progress.hashed.values()) - min(progress.hashed.values())
                print(f"  hashing: {len(progress.hashed)} photos in {hash_seconds:.1f} s "
                      f"({len(progress.hashed) / hash_seconds:.0f} photos/s, {size / 1e6 / hash_seconds:.0f} MB/s)")
            figures.append(figure)
            print(f"{name:34} {figure['seconds']:8.1f} {figure['uploads']:8.0f} {figure['rate']:9.1f} "
                  f"{figure['to_first_upload']:16.2f} {sum(answers_now(url, key).values()):14d}")
        print(f"upload rate, 4 connections against 1: x{figures[1]['rate'] / figures[0]['rate']:.2f}")
        answers = answers_now(url, key)
        by_status = ", ".join(f"{count} answered {status}" for status, count in sorted(answers.items()))
        whole = sum(count for status, count in answers.items() if status.startswith("2"))
        print(f"uploads the service answered: {by_status}; each of the {args.photos} photos sent whole exactly once: "
              f"{whole == args.photos}")
    finally:
        if serve is not None:
            serve.send_signal(signal.SIGINT)
            serve.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
