"""Scale bench: what a library of N photos costs each everyday operation, on both catalogs.

For each catalog (embedded SQLite; MongoDB protocol = a real FerretDB started here) and each size, a
synthetic library (bench/synthetic_library.py: photos with 1-4 faces around synthetic people, no
thumbnails) is loaded and the real service runs on it (``facetag serve``: gateway, detector,
classifier and trainer processes, auto-training off). Timed, median and p95 over repeated calls
through the HTTP API, one warm-up call first:

- gallery, first page and a deep page (half way: cursors followed if the API gives them, else offset);
- search by person: photos of the most photographed person and of the least photographed one;
- a person's page (the person and their first faces); the people list with counts;
- face search 1:N (POST /v1/search/face with a real photo: detection and description of the probe included);
- dataset export and retraining: the trainer's jobs (POST /v1/admin/datasets, POST /v1/admin/train with
  publish=review, so nothing is re-tagged), from the request until the job is done;
- re-tag of every model-named face: the classifier's planning walk over the catalog and its head
  (distances to the people of a model fitted on the library), here in this process;

then the resident memory of the gateway and of each worker. The table gives each operation's cost at
each size and its growth from the smallest size to the largest (a page must not grow: within 2x).

Run: flock /tmp/facetag-cpu.lock .venv/bin/python bench/library.py [--sizes 10000,100000]
                                   [--catalogs sqlite,mongo] [--repeats 30]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import psutil
import pymongo
from common import REPO, bench_settings, p50_p95, sample_photos
from numpy.typing import NDArray

sys.path.insert(0, str(REPO / "tests"))
import servers
from service_fixtures import Service, run_embedded
from synthetic_library import LibraryPlan, mongo_library, sqlite_library

from services.core.catalog import FaceQuery, open_catalog
from services.core.catalog.paging import iter_faces
from services.core.library_network import configured
from services.trainer.dataset import load_training_data
from services.trainer.fit import FitParams, fit, person_distances

PAGE = 50  # photos per gallery page, as the web app asks
WALK_PAGE = 200  # the largest page the gallery API gives, to reach the middle quickly
HEAD_BATCH = 2000
SLOW_MS = 5000.0  # a call slower than this is timed once, not repeated
PAGE_OPERATIONS = ("gallery, first page", "gallery, deep page", "person search, frequent", "person search, rare")


@dataclass
class Timing:
    p50: float  # milliseconds
    p95: float
    over_budget: bool = False  # the first call did not finish within the budget
    failed: str = ""  # why the operation could not be measured (an error answer, the gateway gone)
    photos: int | None = None  # items a page answered with (a page of a rare person's photos may be short)


def _once(call: Callable[[], object]) -> float:
    start = time.perf_counter()
    call()
    return (time.perf_counter() - start) * 1000.0


def _page_size(answer: object) -> int | None:
    items = answer.get("items") if isinstance(answer, dict) else None
    return len(items) if isinstance(items, list) else None


def timed(setup: Callable[[], Callable[[], object]], repeats: int) -> Timing:
    """``setup()`` gives the call; a warm-up call first (caches, the probe's networks), then ``repeats`` timed
    ones; an operation too slow to repeat in reason is timed once; one over the budget is marked so."""
    try:
        call = setup()
        photos = _page_size(call())
        first = _once(call)
        if first > SLOW_MS:
            return Timing(first, first, photos=photos)
        times = [first, *(_once(call) for _ in range(repeats - 1))]
    except (httpx.TimeoutException, TimeoutError):
        return Timing(float("nan"), float("nan"), over_budget=True)
    except (httpx.HTTPError, RuntimeError) as exc:  # shown in the table: the other operations still run
        return Timing(float("nan"), float("nan"), failed=f"{type(exc).__name__}: {exc}"[:200])
    return Timing(*p50_p95(times), photos=photos)


def get(client: httpx.Client, path: str, **params: Any) -> Any:
    response = client.get(path, params=params)
    response.raise_for_status()
    return response.json()


def deep_page(client: httpx.Client, photos: int) -> dict[str, Any]:
    """The query of the gallery page half way down: a cursor walked to there, or an offset on older APIs."""
    body = get(client, "/v1/images", limit=WALK_PAGE)
    if "next_cursor" not in body:
        return {"offset": photos // 2, "limit": PAGE}
    seen = len(body["items"])
    while seen < photos // 2 and body["next_cursor"]:
        body = get(client, "/v1/images", limit=WALK_PAGE, cursor=body["next_cursor"])
        seen += len(body["items"])
    return {"cursor": body["next_cursor"], "limit": PAGE}


def person_id(client: httpx.Client, name: str) -> str:
    body = get(client, "/v1/people", q=name)
    people = body["items"] if isinstance(body, dict) else body  # a page once the people list pages
    return str(next(p["id"] for p in people if p["name"] == name))


def run_job(client: httpx.Client, path: str, body: dict[str, Any]) -> None:
    """Start a job and wait for it; TimeoutError past the client's timeout."""
    response = client.post(path, json=body)
    response.raise_for_status()
    job_id = response.json()["id"]
    deadline = time.monotonic() + client.timeout.read  # type: ignore[operator]
    while time.monotonic() < deadline:
        job = get(client, f"/v1/jobs/{job_id}")
        if job["state"] == "failed":
            raise RuntimeError(f"{path} job failed: {job['message']}")
        if job["state"] == "done":
            return
        time.sleep(0.05)
    raise TimeoutError(f"{path} job {job_id} still {job['state']}")


def face_search(client: httpx.Client) -> Callable[[], object] | None:
    try:
        photo = sample_photos()[0].read_bytes()
    except SystemExit:  # no shared photos here: the row stays empty
        return None

    def search() -> None:
        response = client.post("/v1/search/face", files={"file": ("probe.jpg", photo, "image/jpeg")})
        response.raise_for_status()

    return search


async def _fitted_gallery(catalog_url: str) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
    """The exemplars a model fitted on the library's person-labelled faces would publish."""
    catalog = open_catalog(catalog_url)
    try:
        network = configured(bench_settings())
        data = await load_training_data(catalog, network.label, bench_settings().min_face_quality)
    finally:
        await catalog.close()
    fitted = fit(data.data, FitParams(threshold_range=network.network.threshold_range,
                                      default_threshold=network.network.default_threshold))
    return fitted.published_gallery, fitted.published_mask


async def _retag(catalog_url: str, gallery: NDArray[np.float32], mask: NDArray[np.bool_]) -> None:
    catalog = open_catalog(catalog_url)
    pending: list[list[float]] = []
    try:
        async for face in iter_faces(catalog, FaceQuery(with_descriptor=True)):
            # A new version re-tags every face no person named (none was tagged by it yet).
            if not face.human_labelled and face.descriptor is not None:
                pending.append(face.descriptor)
            if len(pending) == HEAD_BATCH:
                person_distances(np.asarray(pending, dtype=np.float32), gallery, mask)
                pending = []
    finally:
        await catalog.close()
    if pending:
        person_distances(np.asarray(pending, dtype=np.float32), gallery, mask)


def retag_walk(catalog_url: str, budget: float) -> Callable[[], object]:
    """The re-tag's catalog walk and the model head over every face it finds; TimeoutError past the budget."""
    gallery, mask = asyncio.run(asyncio.wait_for(_fitted_gallery(catalog_url), budget))
    return lambda: asyncio.run(asyncio.wait_for(_retag(catalog_url, gallery, mask), budget))


def measure(service: Service, catalog_url: str, plan: LibraryPlan, repeats: int, budget: float,
            only: list[str]) -> dict[str, Timing | None]:
    client = service.client
    client.timeout = httpx.Timeout(budget)
    frequent, rare = plan.person_names[0], plan.person_names[-1]

    def page(**params: Any) -> Callable[[], object]:
        return lambda: get(client, "/v1/images", **params)

    def person_page() -> Callable[[], object]:
        someone = person_id(client, frequent)
        return lambda: (get(client, f"/v1/people/{someone}"), get(client, f"/v1/people/{someone}/faces", limit=100))

    whole_library = max(1, repeats // 10)
    search = face_search(client)
    operations: dict[str, tuple[Callable[[], Callable[[], object]] | None, int]] = {
        "gallery, first page": (lambda: page(limit=PAGE), repeats),
        "gallery, deep page": (lambda: page(**deep_page(client, plan.photos)), repeats),
        "person search, frequent": (lambda: page(person=frequent, limit=PAGE), repeats),
        "person search, rare": (lambda: page(person=rare, limit=PAGE), repeats),
        "person's page": (person_page, repeats),
        "people list with counts": (lambda: lambda: get(client, "/v1/people"), repeats),
        "face search 1:N": (None if search is None else lambda: search, repeats),
        "re-tag walk + head": (lambda: retag_walk(catalog_url, budget), whole_library),
        "dataset export job": (lambda: lambda: run_job(client, "/v1/admin/datasets", {}), whole_library),
        "retraining job": (lambda: lambda: run_job(client, "/v1/admin/train", {"force": True, "publish": "review"}),
                           whole_library),
    }
    results: dict[str, Timing | None] = {}
    for name, (setup, times) in operations.items():
        if only and not any(name.startswith(prefix) for prefix in only):
            continue
        timing = results[name] = None if setup is None else timed(setup, times)
        print(f"  {name:26} {shown(timing, budget)} {timing.failed if timing else ''}", flush=True)
    return results


def shown(timing: Timing | None, budget: float) -> str:
    if timing is None:
        return "-"
    if timing.over_budget:
        return f"> {budget:.0f} s"
    if timing.failed:
        return "failed"
    shown_photos = "" if timing.photos is None else f" [{timing.photos}]"
    return f"{timing.p50:.1f} ({timing.p95:.1f}){shown_photos}"


def resident_memory(service: Service) -> dict[str, float]:
    """MiB of each process ``facetag serve`` started (a Celery worker with its pool children), by role."""
    serve = psutil.Process(service.processes[0].process.pid)
    memory = {}
    for child in serve.children():
        role = " ".join(child.cmdline()[3:]) or child.name()  # after "python -m services.commands.cli"
        tree = [child, *child.children(recursive=True)]
        memory[role] = sum(p.memory_info().rss for p in tree) / 2**20
    return memory


@contextlib.contextmanager
def ferretdb() -> Iterator[str]:
    binary = servers.find_binary("ferretdb")
    if binary is None:
        sys.exit("ferretdb not found; run scripts/install-servers first")
    server = servers.start_ferretdb(binary)
    try:
        yield server.url
    finally:
        server.stop()


def server_plan(url: str) -> str:
    """What the MongoDB-protocol server does with the gallery's query (its explain): on FerretDB 1.x, whether
    the filter, sort and limit reach PostgreSQL, and PostgreSQL's plan there."""
    client: pymongo.MongoClient[dict[str, Any]] = pymongo.MongoClient(url, directConnection=True)
    try:
        database = client.get_default_database()
        plan = database.command("explain", {"find": "images", "filter": {"status": "done"},
                                            "sort": {"uploaded_at": -1, "_id": -1}, "limit": PAGE + 1})
        server = plan.get("serverInfo", {})
        pushed = ", ".join(f"{part} {plan[part]}" for part in ("filterPushdown", "sortPushdown", "limitPushdown")
                           if part in plan)
        scan = plan.get("queryPlanner", {}).get("Plan", {}).get("Node Type", "?")
        return (f"the gallery query on FerretDB {server.get('ferretdbVersion', '?')}: {pushed or 'no pushdown facts'};"
                f" its PostgreSQL plan: {scan}")
    finally:
        client.close()


Results = dict[tuple[str, int], dict[str, Timing | None]]


def run_catalog(catalog: str, sizes: list[int], repeats: int, budget: float, only: list[str], results: Results,
                memory: dict[tuple[str, int], dict[str, float]]) -> None:
    with contextlib.ExitStack() as stack:
        mongo = stack.enter_context(ferretdb()) if catalog == "mongo" else ""
        for photos in sizes:
            plan = LibraryPlan(photos)
            with tempfile.TemporaryDirectory(prefix=f"facetag-library-{catalog}-") as tmp:
                data = Path(tmp) / "data"
                settings: dict[str, str | int | float] = {}
                if catalog == "mongo":
                    url = mongo.rsplit("/", 1)[0] + f"/bench_library_{photos}"
                    mongo_library(plan, url)
                    settings["catalog_url"] = url
                else:
                    url = f"sqlite:///{sqlite_library(plan, data)}"
                print(f"{catalog}, {photos:,} photos:", flush=True)
                runner = run_embedded(Path(tmp), stalled_after=3600, **settings)
                service = next(runner)
                try:
                    faces, seconds = service.wait_face_index()
                    print(f"  the gateway built its face index of {faces:,} faces in {seconds:.0f} s", flush=True)
                    results[(catalog, photos)] = measure(service, url, plan, repeats, budget, only)
                    if catalog == "mongo":
                        print(f"  {server_plan(url)}", flush=True)
                    memory[(catalog, photos)] = resident_memory(service)
                finally:
                    runner.close()


def print_table(catalogs: list[str], sizes: list[int], budget: float, results: Results,
                memory: dict[tuple[str, int], dict[str, float]]) -> None:
    first, last = sizes[0], sizes[-1]
    heads = "".join(f"{f'{n:,} p50 (p95) ms':>24}" for n in sizes)
    print(f"\n{'operation':26} {'catalog':8}{heads}  growth {last // first}x photos")
    print("[n]: items in the answer (photos; people for the people list)")
    for name in next(iter(results.values())):
        for catalog in catalogs:
            cells, p50s, answered = [], [], set()
            for n in sizes:
                timing = results[(catalog, n)][name]
                cells.append(f"{shown(timing, budget):>24}")
                p50s.append(timing.p50 if timing else float("nan"))
                answered.add(timing.photos if timing else None)
            growth = p50s[-1] / p50s[0]
            # A page is held to its size only against a page of as many photos: a rare person's is short in a
            # small library, and reading their few photos costs what they are.
            flag = "  grows" if name in PAGE_OPERATIONS and growth > 2 and len(answered) == 1 else ""
            flag = flag or ("  (pages of different sizes)" if name in PAGE_OPERATIONS and len(answered) > 1 else "")
            print(f"{name:26} {catalog:8}{''.join(cells)}  {growth:6.2f}{flag}")
    print(f"\n{'resident memory, MiB':26} {'catalog':8}" + "".join(f"{n:>24,}" for n in sizes))
    for catalog in catalogs:
        for role in memory[(catalog, first)]:
            row = "".join(f"{memory[(catalog, n)].get(role, float('nan')):24.0f}" for n in sizes)
            print(f"{role:26} {catalog:8}{row}")
    for catalog in catalogs:
        timed = {name: timing for name in PAGE_OPERATIONS[:3] if (timing := results[(catalog, last)].get(name))}
        slow = [f"{name} {shown(timing, budget)}" for name, timing in timed.items() if not timing.p50 < 50]
        verdict = "missed: " + ", ".join(slow) if slow else "met" if timed else "not measured in this run (--only)"
        print(f"target at {last:,} photos on {catalog}, gallery page and person search under 50 ms (median, ms): "
              f"{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10000,100000", help="library sizes in photos, smallest first")
    parser.add_argument("--catalogs", default="sqlite,mongo", help="sqlite and/or mongo (a FerretDB started here)")
    parser.add_argument("--repeats", type=int, default=30, help="calls per page operation (whole-library "
                        "operations: a tenth of it)")
    parser.add_argument("--budget", type=float, default=120.0, help="seconds an operation may take before it "
                        "is given up and shown as over the budget (FerretDB 1.x sorts whole collections itself)")
    parser.add_argument("--only", default="", help="comma-separated beginnings of operation names to time, e.g. "
                        "'gallery,people list' (default: all)")
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    sizes = sorted(int(n) for n in args.sizes.split(","))
    catalogs = args.catalogs.split(",")
    results: Results = {}
    memory: dict[tuple[str, int], dict[str, float]] = {}
    for done, catalog in enumerate(catalogs, 1):
        run_catalog(catalog, sizes, args.repeats, args.budget, only, results, memory)
        print_table(catalogs[:done], sizes, args.budget, results, memory)  # so far, should a later one fail


if __name__ == "__main__":
    main()
