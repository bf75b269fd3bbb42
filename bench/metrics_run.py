"""The metrics page after a run: 100 real photos through the embedded default, then its facetag_* lines.

Starts ``facetag serve`` (as bench/pipeline.py does, with a metrics token), uploads the photos from
four clients, waits until each is done, and prints every ``facetag_*`` sample of ``GET /metrics``
(histogram buckets only with ``--buckets``: their _count and _sum are always printed).

Run: .venv/bin/python bench/metrics_run.py [--photos 100] [--clients 4] [--buckets]
"""

from __future__ import annotations

import argparse
import secrets
import sys
import tempfile
import time
from pathlib import Path

import httpx
from common import REPO
from pipeline import closed_loop, pick_photos
from service_load import DoneWatcher, PhotoSupply

sys.path.insert(0, str(REPO / "tests"))
from service_fixtures import run_embedded


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=100)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--buckets", action="store_true", help="print histogram buckets too")
    args = parser.parse_args()
    supply = PhotoSupply(pick_photos(args.photos, "samples"), 0)  # as the photos are
    uploads = supply.take(args.photos)
    token = secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="facetag-metrics-") as tmp:
        runner = run_embedded(Path(tmp), stalled_after=600, metrics_token=token)
        try:
            service = next(runner)
            with DoneWatcher(service.url, service.admin_key) as watcher:
                rate, p50, p95 = closed_loop(service, watcher, uploads, args.clients)
            time.sleep(2)  # a task's end is counted just after its photo is done
            page = httpx.get(f"{service.url}/metrics", headers={"Authorization": f"Bearer {token}"}, timeout=60)
            page.raise_for_status()
        finally:
            runner.close()
    print(f"{len(uploads)} photos, {args.clients} clients, embedded default: {rate:.2f} photos/s, "
          f"upload-to-done p50 {p50:.2f} s, p95 {p95:.2f} s (measured by the clients)")
    for line in page.text.splitlines():
        if line.startswith("facetag_") and (args.buckets or "_bucket{" not in line):
            print(line)


if __name__ == "__main__":
    main()
