"""Throughput and latency through the whole service, beside the face core in a plain loop.

For each mode (the embedded default, and the cluster on real Redis, FerretDB and MinIO started here)
N concurrent clients upload distinct real photos and poll each until done. Printed: photos per
second and p50/p95 upload-to-done latency, and the same photos through the face core in one plain
loop in this process (decode + detect + align + describe); the ratio is the pipeline's overhead.

Run: .venv/bin/python bench/pipeline.py [--photos 40] [--clients 4] [--modes embedded,cluster]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import REPO, facedata, load_rgb
from tqdm import tqdm

sys.path.insert(0, str(REPO / "tests"))
import servers
from service_fixtures import Service, run_cluster, run_embedded

from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.settings import Settings


def pick_photos(count: int) -> list[Path]:
    root = facedata()
    photos = sorted((root / "facetag_samples").glob("*.jpg")) + sorted((root / "celeb5").rglob("*.jpg"))
    if len(photos) < count:
        sys.exit(f"only {len(photos)} photos available; ask for fewer with --photos")
    return photos[:count]


def plain_loop(photos: list[Path]) -> float:
    analyzer = FaceAnalyzer(FaceFinder.from_settings(Settings()), Descriptors(Settings()))
    analyzer.analyze(load_rgb(photos[0]))  # warm-up, as the workers are warm
    start = time.perf_counter()
    for photo in tqdm(photos, desc="plain loop", leave=False):
        analyzer.analyze(load_rgb(photo))
    return len(photos) / (time.perf_counter() - start)


def through_service(service: Service, photos: list[Path], clients: int) -> tuple[float, float, float]:
    def one(photo: Path) -> float:
        start = time.perf_counter()
        response = service.upload(photo, media_type="image/jpeg")
        response.raise_for_status()
        image = service.wait_finished(response.json()["id"], timeout=600)
        if image["status"] != "done":
            raise RuntimeError(f"{photo.name} failed: {image['error']}")
        return time.perf_counter() - start

    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = list(tqdm(pool.map(one, photos), total=len(photos), desc="uploads", leave=False))
    rate = len(photos) / (time.perf_counter() - start)
    quantiles = statistics.quantiles(latencies, n=20)
    return rate, statistics.median(latencies), quantiles[18]


@contextlib.contextmanager
def real_servers() -> Iterator[tuple[str, str, str]]:
    started = []
    try:
        for name, start in (("redis-server", servers.start_redis), ("ferretdb", servers.start_ferretdb),
                            ("minio", servers.start_minio)):
            binary = servers.find_binary(name)
            if binary is None:
                sys.exit(f"{name} not found; run scripts/install-servers first")
            started.append(start(binary))
        yield started[0].url, started[1].url, started[2].url
    finally:
        for server in started:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=40)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--modes", default="embedded,cluster")
    parser.add_argument("--workers", type=int, default=1, help="detector and classifier processes each")
    args = parser.parse_args()
    photos = pick_photos(args.photos)
    loop_rate = plain_loop(photos)
    print(f"{len(photos)} distinct real photos, {args.clients} concurrent clients, "
          f"{args.workers} detector + {args.workers} classifier process(es)")
    print(f"{'mode':10} {'photos/s':>9} {'p50 s':>7} {'p95 s':>7} {'vs plain loop':>14}")
    print(f"{'plain loop':10} {loop_rate:9.2f} {'':>7} {'':>7} {'1.00':>14}")
    for mode in args.modes.split(","):
        with tempfile.TemporaryDirectory(prefix=f"facetag-bench-{mode}-") as tmp:
            if mode == "embedded":
                runner = run_embedded(Path(tmp), stalled_after=600)
                # serve takes its worker counts as flags; the harness starts one of each
            else:
                stack = contextlib.ExitStack()
                redis_url, mongo_url, s3_url = stack.enter_context(real_servers())
                runner = run_cluster(Path(tmp), redis_url, mongo_url, s3_url, detectors=args.workers,
                                     classifiers=args.workers)
            try:
                service = next(runner)
                rate, p50, p95 = through_service(service, photos, args.clients)
                print(f"{mode:10} {rate:9.2f} {p50:7.2f} {p95:7.2f} {rate / loop_rate:14.2f}", flush=True)
            finally:
                runner.close()
                if mode != "embedded":
                    stack.close()


if __name__ == "__main__":
    main()
