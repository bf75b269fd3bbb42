"""Throughput and latency through the whole service, beside the face core in a plain loop.

For each mode (the embedded default, and the cluster on real Redis, FerretDB and MinIO started here)
and each number of concurrent clients (1, 4, 16 by default), the clients upload distinct photos of the
same size (1 megapixel by default; see service_load.py) and learn from the event stream when each is
done. Printed: photos per second and p50/p95 upload-to-done latency, and the same pictures through the
face core in one plain loop in this process (decode + detect + align + describe); the ratio is the
pipeline's overhead, the figure issue 14 sets goals for (embedded >= 0.85, cluster >= 0.75). The loop runs over
the very photos of the run it is beside, just before it.
Then, per mode, photos sent at a steady half of the best rate measured (open loop, as a camera would):
the p95 upload-to-done there is the latency goal (under 0.5 s for a 1 MP photo), printed beside the same
photos' face work alone in the plain loop (its p95 is the floor no pipeline goes under on this machine).
Then each stage's task time from the workers' logs (median, p95): one worker's photos per second is
1 / its mean, which is what the Kubernetes autoscaling targets in deploy/k8s are set from. On the cluster, how
many tasks waited in each queue during the runs (photos that never wait for the classifier give it nothing to
batch across photos). Last, the CPU
seconds each process took per photo (bench/cpu_by_role.py): where the cores went besides the face work.

Stacks: ``new`` is today's default (CenterFace with its recheck, SFace), ``fast`` the same with YuNet finding the
faces (FACETAG_DETECTOR=yunet: the latency goal's choice where small faces matter less), ``old`` the previous
default (dlib HOG with one upsample, dlib's descriptor network).

Run: .venv/bin/python bench/pipeline.py [--photos 40] [--clients 1,4,16] [--modes embedded,cluster]
                                        [--stacks new] [--megapixels 1] [--set samples|groups]
"""

from __future__ import annotations

import argparse
import contextlib
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import cast

import cpu_by_role
import redis
from common import REPO, p50_p95, sample_photos
from service_load import DoneWatcher, PhotoSupply
from tqdm import tqdm

sys.path.insert(0, str(REPO / "tests"))
import servers
from service_fixtures import Service, run_cluster, run_embedded

from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.faces.decode import DETECT_DECODE_PIXELS, decode_image
from services.core.queue import CLASSIFY_QUEUE, DETECT_QUEUE
from services.core.settings import Settings

STACKS: dict[str, dict[str, str | int | float]] = {
    "new": {},
    "fast": {"detector": "yunet"},
    "old": {"detector": "hog", "upsample": 1, "descriptor": "dlib", "detect_recheck": "false"},
}


def pick_photos(count: int, photo_set: str) -> list[Path]:
    photos = sample_photos(photo_set)
    return photos[:count]


class PlainLoop:
    """The face core alone in this process, decoding the uploaded bytes as the detector does: the reference.
    Measured again right before each run through the service, so both see the same machine (other load on
    it changes both alike; the ratio holds where absolute rates would not)."""

    def __init__(self, stack: dict[str, str | int | float]) -> None:
        self.settings = Settings(**stack)  # type: ignore[arg-type]
        self.analyzer = FaceAnalyzer(FaceFinder.from_settings(self.settings), Descriptors(self.settings))

    def _analyze(self, data: bytes) -> None:
        self.analyzer.analyze(decode_image(data, self.settings.max_pixels, DETECT_DECODE_PIXELS).rgb)

    def run(self, uploads: list[tuple[str, bytes]]) -> list[float]:
        """Seconds each photo took, one after another."""
        self._analyze(uploads[0][1])  # warm-up, as the workers are warm
        times = []
        for _, data in tqdm(uploads, desc="plain loop", leave=False):
            start = time.perf_counter()
            self._analyze(data)
            times.append(time.perf_counter() - start)
        return times


def _upload(service: Service, name: str, data: bytes) -> str:
    response = service.client.post("/v1/images", files={"file": (name, data, "image/jpeg")})
    response.raise_for_status()
    return str(response.json()["id"])


def _finish(watcher: DoneWatcher, image_id: str, name: str) -> float:
    finished, kind = watcher.wait(image_id, timeout=600)
    if kind != "photo.done":
        raise RuntimeError(f"{name} failed")
    return finished


def closed_loop(service: Service, watcher: DoneWatcher, uploads: list[tuple[str, bytes]], clients: int
                ) -> tuple[float, float, float]:
    """``clients`` clients, each uploading its next photo once its last is done: (photos/s, p50, p95)."""
    def one(upload: tuple[str, bytes]) -> tuple[float, float]:
        start = time.monotonic()
        return start, _finish(watcher, _upload(service, *upload), upload[0])

    with ThreadPoolExecutor(clients) as pool:
        spans = list(tqdm(pool.map(one, uploads), total=len(uploads), desc=f"{clients} clients", leave=False))
    rate = len(spans) / (max(end for _, end in spans) - min(start for start, _ in spans))
    return (rate, *p50_p95([end - start for start, end in spans]))


@contextlib.contextmanager
def queue_watch(service: Service) -> Iterator[list[tuple[int, int]]]:
    """(detect, classify) tasks waiting in the Redis broker, every 20 ms while the block runs (cluster only:
    the embedded broker is left out). Whether photos wait for the classifier at all is what batching chips
    across photos would feed on."""
    samples: list[tuple[int, int]] = []
    url = service.env.get("FACETAG_BROKER_URL", "")
    if not url.startswith("redis"):
        yield samples
        return
    client = redis.Redis.from_url(url)
    stop = threading.Event()

    def sample() -> None:
        while not stop.wait(0.02):
            samples.append((cast(int, client.llen(DETECT_QUEUE)), cast(int, client.llen(CLASSIFY_QUEUE))))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield samples
    finally:
        stop.set()
        sampler.join()
        client.close()


def describe_queues(samples: list[tuple[int, int]]) -> str:
    if not samples:
        return "not sampled (embedded broker)"
    waited = sum(classify >= 1 for _, classify in samples) / len(samples)
    return (f"{len(samples)} samples: photos waiting for detection {statistics.fmean(d for d, _ in samples):.1f} "
            f"on average; for classification: at least one in {waited:.1%} of samples")


def open_loop(service: Service, watcher: DoneWatcher, uploads: list[tuple[str, bytes]], rate: float
              ) -> tuple[float, float]:
    """Photos sent at a steady ``rate`` whatever the service does (as cameras would): (p50, p95) upload-to-done."""
    started: list[tuple[float, str, str]] = []

    def send(upload: tuple[str, bytes]) -> None:
        start = time.monotonic()
        started.append((start, _upload(service, *upload), upload[0]))

    begin = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        for n, upload in enumerate(uploads):
            time.sleep(max(0.0, begin + n / rate - time.monotonic()))
            pool.submit(send, upload)
    latencies = [_finish(watcher, image_id, name) - start for start, image_id, name in started]
    return p50_p95(latencies)


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


@contextlib.contextmanager
def running(mode: str, tmp: Path, workers: int, stack: dict[str, str | int | float]) -> Iterator[Service]:
    with contextlib.ExitStack() as up:
        if mode == "embedded":
            # serve takes its worker counts as flags; the harness starts one of each
            runner = run_embedded(tmp, stalled_after=600, **stack)
        else:
            redis_url, mongo_url, s3_url = up.enter_context(real_servers())
            runner = run_cluster(tmp, redis_url, mongo_url, s3_url, detectors=workers, classifiers=workers, **stack)
        up.callback(runner.close)
        yield next(runner)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--photos", type=int, default=40, help="photos per client count")
    parser.add_argument("--clients", default="1,4,16", help="concurrent client counts, comma-separated")
    parser.add_argument("--modes", default="embedded,cluster")
    parser.add_argument("--workers", type=int, default=1, help="detector and classifier processes each")
    parser.add_argument("--stacks", default="new", help="face stacks to compare: new (default), fast, old")
    parser.add_argument("--megapixels", type=float, default=1.0, help="size of every upload (0: as the photos are)")
    parser.add_argument("--set", default="samples", choices=["samples", "groups"],
                        help="samples: one-face portraits; groups: the shared group photos (many faces each)")
    args = parser.parse_args()
    client_counts = [int(n) for n in args.clients.split(",")]
    supply = PhotoSupply(pick_photos(args.photos, args.set), args.megapixels)
    stacks = args.stacks.split(",")
    size = f"{args.megapixels:g} MP" if args.megapixels > 0 else "as shot"
    print(f"{args.photos} photos ({args.set}, {size}) per run, {args.workers} detector + {args.workers} "
          "classifier process(es); done learned from the event stream; the plain loop measured just before each run")
    print(f"{'stack':6} {'mode':10} {'clients':>7} {'photos/s':>9} {'p50 s':>7} {'p95 s':>7} {'loop/s':>7} "
          f"{'vs loop':>8}")
    stage_times: dict[tuple[str, str], dict[str, list[float]]] = {}
    steady: list[str] = []
    cpu: dict[tuple[str, str, int], dict[str, float]] = {}
    loop_cpu: dict[tuple[str, str, int], float] = {}  # the plain loop's CPU seconds over the same photos
    queues: dict[tuple[str, str, int], str] = {}
    for name in stacks:
        loop = PlainLoop(STACKS[name])
        for mode in args.modes.split(","):
            with tempfile.TemporaryDirectory(prefix=f"facetag-bench-{mode}-") as tmp, \
                    running(mode, Path(tmp), args.workers, STACKS[name]) as service, \
                    DoneWatcher(service.url, service.admin_key) as watcher:
                _finish(watcher, _upload(service, *supply.take(1)[0]), "warm-up")
                best = 0.0
                for clients in client_counts:
                    uploads = supply.take(args.photos)
                    # The very photos the service gets next: some take several times as long as others.
                    loop_before = cpu_by_role.snapshot()
                    loop_times = loop.run(uploads)
                    loop_rate = len(loop_times) / sum(loop_times)
                    loop_cpu[(name, mode, clients)] = cpu_by_role.spent(loop_before).get("bench", 0.0)
                    cpu_before = cpu_by_role.snapshot()
                    with queue_watch(service) as samples:
                        rate, p50, p95 = closed_loop(service, watcher, uploads, clients)
                    cpu[(name, mode, clients)] = cpu_by_role.spent(cpu_before)
                    queues[(name, mode, clients)] = describe_queues(samples)
                    best = max(best, rate)
                    print(f"{name:6} {mode:10} {clients:7} {rate:9.2f} {p50:7.2f} {p95:7.2f} {loop_rate:7.2f} "
                          f"{rate / loop_rate:8.2f}", flush=True)
                sent = supply.take(args.photos)
                alone_p50, alone_p95 = p50_p95(loop.run(sent))
                p50, p95 = open_loop(service, watcher, sent, best / 2)
                steady.append(f"{name:6} {mode:10} {best / 2:6.2f} photos/s  p50 {p50:5.2f} s  p95 {p95:5.2f} s   "
                              f"the same photos' face work alone: p50 {alone_p50:5.2f} s  p95 {alone_p95:5.2f} s")
                print(steady[-1], "(steady, half the best rate)", flush=True)
                stage_times[(name, mode)] = task_times(Path(tmp))
    print("steady load at half the best rate (open loop): upload-to-done")
    print("\n".join(steady))
    print("task time per stage, from the workers' logs")
    for (name, mode), times in stage_times.items():
        print_task_times(name, mode, times)
    print("tasks waiting in the broker's queues, during each closed-loop run")
    for (name, mode, clients), described in queues.items():
        print(f"{name:6} {mode:10} {clients:3} clients  {described}")
    print("CPU seconds per photo by process, during each closed-loop run (the bench: its clients and watcher)")
    for (name, mode, clients), totals in cpu.items():
        face_work = loop_cpu[(name, mode, clients)] / args.photos
        print(f"{name:6} {mode:10} {clients:3} clients  {cpu_by_role.per_photo(totals, args.photos)}  "
              f"(all: {sum(totals.values()) / args.photos:.3f}; the plain loop: {face_work:.3f})")


if __name__ == "__main__":
    main()
