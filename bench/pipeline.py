"""Throughput and latency through the whole service, beside the face core in a plain loop.

For each mode (the embedded default, and the cluster on real Redis, FerretDB and MinIO started here)
N concurrent clients upload distinct real photos and poll each until done. Printed: photos per
second and p50/p95 upload-to-done latency, and the same photos through the face core in one plain
loop in this process (decode + detect + align + describe); the ratio is the pipeline's overhead.
Then each stage's task time from the workers' logs (median, p95): one worker's photos per second is
1 / its mean, which is what the Kubernetes autoscaling targets in deploy/k8s are set from.

Each stack runs in the same run: ``new`` is today's default (CenterFace with its recheck, SFace), ``old``
the previous default (dlib HOG with one upsample, dlib's descriptor network).

Run: .venv/bin/python bench/pipeline.py [--photos 40] [--clients 4] [--modes embedded,cluster]
                                        [--stacks new,old] [--set samples|groups]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import REPO, load_rgb, p50_p95, sample_photos
from tqdm import tqdm

sys.path.insert(0, str(REPO / "tests"))
import servers
from service_fixtures import Service, run_cluster, run_embedded

from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.settings import Settings

STACKS: dict[str, dict[str, str | int | float]] = {
    "new": {},
    "old": {"detector": "hog", "upsample": 1, "descriptor": "dlib", "detect_recheck": "false"},
}


def pick_photos(count: int, photo_set: str) -> list[Path]:
    photos = sample_photos(photo_set)
    if len(photos) < count:
        sys.exit(f"only {len(photos)} photos available; ask for fewer with --photos")
    return photos[:count]


def plain_loop(photos: list[Path], stack: dict[str, str | int | float]) -> float:
    settings = Settings(**stack)  # type: ignore[arg-type]
    analyzer = FaceAnalyzer(FaceFinder.from_settings(settings), Descriptors(settings))
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
    p50, p95 = p50_p95(latencies)
    return rate, p50, p95


# Celery logs every finished task with its run time (celery.app.trace).
TASK_TIME = re.compile(r"Task (facetag\.\w+)\[[^]]+\] succeeded in ([0-9.]+)s")


def task_times(log_dir: Path) -> dict[str, list[float]]:
    """Seconds per successful task, by task name, from every worker log of a run."""
    times: dict[str, list[float]] = {}
    for log in log_dir.glob("*.log"):
        for name, seconds in TASK_TIME.findall(log.read_text(errors="replace")):
            times.setdefault(name, []).append(float(seconds))
    return times


def print_task_times(stack: str, mode: str, times: dict[str, list[float]]) -> None:
    for name, values in sorted(times.items()):
        p50, p95 = p50_p95(values)
        mean = statistics.fmean(values)
        print(f"{stack:6} {mode:10} {name:24} {len(values):5} tasks  p50 {p50:6.2f} s  p95 {p95:6.2f} s  "
              f"mean {mean:6.2f} s  = {1 / mean:5.2f} photos/s per worker", flush=True)


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
    parser.add_argument("--stacks", default="new,old", help="face stacks to compare: new (default), old")
    parser.add_argument("--set", default="samples", choices=["samples", "groups"],
                        help="samples: one-face portraits; groups: the shared group photos (many faces each)")
    args = parser.parse_args()
    photos = pick_photos(args.photos, args.set)
    stacks = args.stacks.split(",")
    loop_rates = {name: plain_loop(photos, STACKS[name]) for name in stacks}
    print(f"{len(photos)} distinct real photos ({args.set}), {args.clients} concurrent clients, "
          f"{args.workers} detector + {args.workers} classifier process(es)")
    print(f"{'stack':6} {'mode':10} {'photos/s':>9} {'p50 s':>7} {'p95 s':>7} {'vs its loop':>12} "
          f"{'vs old loop':>12}")
    reference = loop_rates.get("old")
    stage_times: dict[tuple[str, str], dict[str, list[float]]] = {}
    for name in stacks:
        rate = loop_rates[name]
        versus_old = f"{rate / reference:12.2f}" if reference else f"{'-':>12}"
        print(f"{name:6} {'plain loop':10} {rate:9.2f} {'':>7} {'':>7} {'1.00':>12} {versus_old}", flush=True)
    for name in stacks:
        for mode in args.modes.split(","):
            with tempfile.TemporaryDirectory(prefix=f"facetag-bench-{mode}-") as tmp:
                if mode == "embedded":
                    runner = run_embedded(Path(tmp), stalled_after=600, **STACKS[name])
                    # serve takes its worker counts as flags; the harness starts one of each
                else:
                    servers_up = contextlib.ExitStack()
                    redis_url, mongo_url, s3_url = servers_up.enter_context(real_servers())
                    runner = run_cluster(Path(tmp), redis_url, mongo_url, s3_url, detectors=args.workers,
                                         classifiers=args.workers, **STACKS[name])
                try:
                    service = next(runner)
                    rate, p50, p95 = through_service(service, photos, args.clients)
                    versus_old = f"{rate / reference:12.2f}" if reference else f"{'-':>12}"
                    print(f"{name:6} {mode:10} {rate:9.2f} {p50:7.2f} {p95:7.2f} {rate / loop_rates[name]:12.2f} "
                          f"{versus_old}", flush=True)
                    stage_times[(name, mode)] = task_times(Path(tmp))
                finally:
                    runner.close()
                    if mode != "embedded":
                        servers_up.close()
    print("task time per stage, from the workers' logs")
    for (name, mode), times in stage_times.items():
        print_task_times(name, mode, times)


if __name__ == "__main__":
    main()
