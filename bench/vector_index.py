"""1:N face search at library scale: exact numpy against the vector index libraries, on synthetic descriptors.

    flock /tmp/facetag-cpu.lock .venv/bin/python bench/vector_index.py            # 300k faces, a few minutes
    flock /tmp/facetag-cpu.lock .venv/bin/python bench/vector_index.py --faces 30000
    flock /tmp/facetag-cpu.lock .venv/bin/python bench/vector_index.py --served-only
    flock /tmp/facetag-cpu.lock .venv/bin/python bench/vector_index.py --api 120000   # through the service

The library: ``--faces`` unit descriptors of the default network's dimension (sface, 128-D), drawn around
``--faces / 15`` synthetic people (each face its person's centre plus noise, so that faces of one person lie
about 0.85 apart and of two people about 1.4, as sface's do). The queries: new faces of people in the library.

Each candidate answers the ``K`` nearest faces of every query, one query at a time on one thread (one search
request); the reference is exact numpy over the same in-memory float32 matrix (a matrix product and a partial
sort). Printed per candidate: build time (two threads), query p50 / p95, recall@10 and recall@K against the
exact answer, resident memory the index adds, adding and removing 1,000 faces, and p50 as a ratio of exact.

``--api PHOTOS``: bench/synthetic_library.py's library of PHOTOS photos (1-4 faces each, about 2.5) under the
real service (``facetag serve``). Printed: how long the gateway took to build its index; POST /v1/search/face
p50 / p95 once built (the probe's detection and description included); and, in this process on the same
catalog, the index's own search against the catalog walk every search made before (services/gateway's
face_matching.rank_library), and the resident memory the index takes.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from common import REPO, p50_p95, sample_photos
from numpy.typing import NDArray
from usearch.index import Index

sys.path.insert(0, str(REPO / "tests"))
from service_fixtures import Service, run_embedded
from synthetic_library import LibraryPlan, sqlite_library

from services.core.catalog import FaceQuery, open_catalog

try:  # the other candidates, in the bench extra only (the service ships usearch alone)
    import faiss
    import hnswlib
except ImportError as missing:
    sys.exit(f"{missing}: this bench compares usearch with faiss and hnswlib; install them with "
             ".venv/bin/pip install -e '.[bench]' (hnswlib builds from source: it needs a C++ compiler)")
from services.core.catalog.paging import iter_faces
from services.core.domain import FaceRecord
from services.core.faces.networks import NETWORKS
from services.core.library_network import descriptor_of
from services.gateway.face_index import SEARCH_BREADTH, FaceIndex
from services.gateway.face_matching import rank_library

SEED = 20261130
FACES_PER_PERSON = 15
NOISE = 0.75  # a face's spread around its person's centre: same-person distances near 0.85
K = 100  # candidates asked of an index: the service re-ranks them exactly
QUERIES = 300
CHANGED = 1000
BUILD_THREADS = 2

Matrix = NDArray[np.float32]


def unit(rows: Matrix) -> Matrix:
    normed: Matrix = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    return normed


def library(faces: int, dim: int, rng: np.random.Generator) -> tuple[Matrix, Matrix, Matrix]:
    """(library faces, query faces of library people, fresh faces of new people to add)."""
    people = max(1, faces // FACES_PER_PERSON)
    centres = unit(rng.standard_normal((people, dim), dtype=np.float32))

    def around(owners: NDArray[np.int64]) -> Matrix:
        noise = rng.standard_normal((len(owners), dim), dtype=np.float32) * (NOISE / dim**0.5)
        return unit(centres[owners] + noise)

    return (around(np.arange(faces) % people), around(rng.integers(0, people, QUERIES)),
            unit(rng.standard_normal((CHANGED, dim), dtype=np.float32)))


def rss_mib() -> float:
    gc.collect()
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Row:
    name: str
    build_s: float
    p50_ms: float
    p95_ms: float
    recall_10: float
    recall_k: float
    memory_mib: float
    add_ms: float | None  # adding CHANGED faces
    remove_ms: float | None  # removing CHANGED faces; None: the library cannot remove


class Candidate(ABC):
    """One way of answering the K nearest faces."""

    name = ""

    @abstractmethod
    def build(self, matrix: Matrix) -> None: ...

    @abstractmethod
    def search(self, query: Matrix) -> NDArray[np.int64]: ...

    @abstractmethod
    def add(self, start: int, rows: Matrix) -> None: ...

    @abstractmethod
    def remove(self, keys: NDArray[np.int64]) -> bool:
        """False when the library has no removal."""


class ExactNumpy(Candidate):
    name = "exact numpy (matrix product)"

    def build(self, matrix: Matrix) -> None:
        self.matrix = matrix.copy()

    def search(self, query: Matrix) -> NDArray[np.int64]:
        # Unit vectors: the smallest distance is the largest dot product.
        scores = self.matrix @ query
        top = np.argpartition(-scores, K)[:K]
        ordered: NDArray[np.int64] = top[np.argsort(-scores[top])]
        return ordered

    def add(self, start: int, rows: Matrix) -> None:
        self.matrix = np.vstack([self.matrix, rows])

    def remove(self, keys: NDArray[np.int64]) -> bool:
        self.matrix = np.delete(self.matrix, keys, axis=0)
        return True


class NumpyNorm(ExactNumpy):
    name = "numpy norm(M - q) (as today)"

    def search(self, query: Matrix) -> NDArray[np.int64]:
        distances = np.linalg.norm(self.matrix - query[None, :], axis=1)
        top = np.argpartition(distances, K)[:K]
        ordered: NDArray[np.int64] = top[np.argsort(distances[top])]
        return ordered


class FaissFlat(Candidate):
    name = "faiss IndexFlatIP (exact)"

    def build(self, matrix: Matrix) -> None:
        self.index: Any = faiss.IndexIDMap2(faiss.IndexFlatIP(matrix.shape[1]))  # faiss's stubs are loose
        self.index.add_with_ids(matrix, np.arange(len(matrix), dtype=np.int64))

    def search(self, query: Matrix) -> NDArray[np.int64]:
        _, ids = self.index.search(query[None, :], K)
        found: NDArray[np.int64] = ids[0]
        return found

    def add(self, start: int, rows: Matrix) -> None:
        self.index.add_with_ids(rows, np.arange(start, start + len(rows), dtype=np.int64))

    def remove(self, keys: NDArray[np.int64]) -> bool:
        self.index.remove_ids(keys)
        return True


class FaissHnsw(FaissFlat):
    def __init__(self, m: int, ef_search: int) -> None:
        self.m, self.ef_search = m, ef_search
        self.name = f"faiss HNSWFlat M={m} efS={ef_search}"

    def build(self, matrix: Matrix) -> None:
        self.index = faiss.IndexHNSWFlat(matrix.shape[1], self.m, faiss.METRIC_INNER_PRODUCT)
        self.index.hnsw.efConstruction = 128
        self.index.hnsw.efSearch = self.ef_search
        self.index.add(matrix)

    def add(self, start: int, rows: Matrix) -> None:
        self.index.add(rows)

    def remove(self, keys: NDArray[np.int64]) -> bool:
        return False  # HNSW in faiss cannot remove: the index is rebuilt


class Usearch(Candidate):
    def __init__(self, dtype: str, expansion_search: int) -> None:
        self.dtype, self.expansion_search = dtype, expansion_search
        self.name = f"usearch {dtype} conn=16 ef={expansion_search}"

    def build(self, matrix: Matrix) -> None:
        self.index = Index(ndim=matrix.shape[1], metric="ip", dtype=self.dtype, connectivity=16,
                           expansion_add=128, expansion_search=self.expansion_search)
        self.index.add(np.arange(len(matrix), dtype=np.uint64), matrix, threads=BUILD_THREADS)

    def search(self, query: Matrix) -> NDArray[np.int64]:
        found: NDArray[np.int64] = self.index.search(query, K, threads=1).keys.astype(np.int64)
        return found

    def add(self, start: int, rows: Matrix) -> None:
        self.index.add(np.arange(start, start + len(rows), dtype=np.uint64), rows, threads=1)

    def remove(self, keys: NDArray[np.int64]) -> bool:
        self.index.remove(keys.astype(np.uint64))
        return True


class Hnswlib(Candidate):
    def __init__(self, ef: int) -> None:
        self.ef = ef
        self.name = f"hnswlib M=16 ef={ef}"

    def build(self, matrix: Matrix) -> None:
        self.index = hnswlib.Index(space="ip", dim=matrix.shape[1])
        self.index.init_index(max_elements=len(matrix) + CHANGED, ef_construction=128, M=16, allow_replace_deleted=True)
        self.index.set_num_threads(BUILD_THREADS)
        self.index.add_items(matrix, np.arange(len(matrix)))
        self.index.set_ef(self.ef)
        self.index.set_num_threads(1)

    def search(self, query: Matrix) -> NDArray[np.int64]:
        labels, _ = self.index.knn_query(query, k=K)
        found: NDArray[np.int64] = labels[0].astype(np.int64)
        return found

    def add(self, start: int, rows: Matrix) -> None:
        self.index.add_items(rows, np.arange(start, start + len(rows)))

    def remove(self, keys: NDArray[np.int64]) -> bool:
        for key in keys.tolist():
            self.index.mark_deleted(key)
        return True


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def measure(candidate: Candidate, matrix: Matrix, queries: Matrix, fresh: Matrix,
            truth: list[NDArray[np.int64]]) -> Row:
    before = rss_mib()
    build_s = timed(lambda: candidate.build(matrix))
    memory = rss_mib() - before
    candidate.search(queries[0])  # warm-up
    times, found = [], []
    for query in queries:
        start = time.perf_counter()
        found.append(candidate.search(query))
        times.append((time.perf_counter() - start) * 1000)
    pairs = list(zip(found, truth, strict=True))
    recall_10 = np.mean([len(set(f[:10].tolist()) & set(t[:10].tolist())) / 10 for f, t in pairs])
    recall_k = np.mean([len(set(f.tolist()) & set(t.tolist())) / K for f, t in pairs])
    add_ms = timed(lambda: candidate.add(len(matrix), fresh)) * 1000
    keys = np.arange(len(matrix), len(matrix) + CHANGED, dtype=np.int64)
    start = time.perf_counter()
    removable = candidate.remove(keys)
    remove_ms = (time.perf_counter() - start) * 1000 if removable else None
    p50, p95 = p50_p95(times)
    return Row(candidate.name, build_s, p50, p95, float(recall_10), float(recall_k), memory, add_ms, remove_ms)


# --- through the service -----------------------------------------------------------------------------------

API_SEARCHES = 30
WALKS = 3


def api_search(service: Service) -> tuple[float, float, int]:
    photo = sample_photos()[0].read_bytes()
    times, compared = [], 0
    for _ in range(API_SEARCHES + 1):
        start = time.perf_counter()
        response = service.client.post("/v1/search/face", files={"file": ("probe.jpg", photo, "image/jpeg")})
        response.raise_for_status()
        times.append((time.perf_counter() - start) * 1000)
        compared = response.json()["faces_compared"]
    p50, p95 = p50_p95(times[1:])  # the first loads the networks
    return p50, p95, compared


async def in_process(url: str) -> None:
    catalog = open_catalog(url)
    try:
        before = rss_mib()
        faces: list[FaceRecord] = [f async for f in iter_faces(catalog, FaceQuery(with_descriptor=True))]
        network = descriptor_of(faces[0].descriptor_model)
        queries = [np.asarray(faces[i].descriptor, np.float32) for i in range(0, len(faces), len(faces) // 50)]
        index = FaceIndex()
        start = time.perf_counter()
        index.put(faces, BUILD_THREADS)
        build_s = time.perf_counter() - start
        del faces
        memory = rss_mib() - before  # what the faces read took and was not handed back counts too: at most this
        times = []
        for query in queries:
            start = time.perf_counter()
            index.hits(query, network, 1.0, set(), 20)
            times.append((time.perf_counter() - start) * 1000)
        walks = []
        for query in queries[:WALKS]:
            start = time.perf_counter()
            await rank_library(catalog, query, network, 1.0, set())
            walks.append((time.perf_counter() - start) * 1000)
        p50, p95 = p50_p95(times)
        walk = float(np.median(walks))
        print(f"in this process, {len(index):,} faces: index built in {build_s:.0f} s ({BUILD_THREADS} threads), "
              f"holds at most {memory:.0f} MiB ({memory * 2**20 / len(index):.0f} bytes a face)")
        print(f"  index search (20 people, 20 photos): p50 {p50:.2f} ms, p95 {p95:.2f} ms")
        print(f"  catalog walk (before): median {walk:.0f} ms of {WALKS}; index p50 = {p50 / walk:.4f} x walk")
    finally:
        await catalog.close()


def through_api(photos: int) -> None:
    plan = LibraryPlan(photos)
    with tempfile.TemporaryDirectory(prefix="facetag-vector-index-") as tmp:
        url = f"sqlite:///{sqlite_library(plan, Path(tmp) / 'data')}"
        runner = run_embedded(Path(tmp), stalled_after=3600)
        service = next(runner)
        try:
            faces, seconds = service.wait_face_index()
            p50, p95, compared = api_search(service)
            print(f"{photos:,} photos, {faces:,} faces with descriptors: the gateway built its index in "
                  f"{seconds:.0f} s")
            print(f"  POST /v1/search/face ({compared:,} faces compared): p50 {p50:.0f} ms, p95 {p95:.0f} ms "
                  f"(probe detection and description included)")
        finally:
            runner.close()
        asyncio.run(in_process(url))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--faces", type=int, default=300_000)
    parser.add_argument("--api", type=int, metavar="PHOTOS", help="measure through the service on a library of "
                                                                   "this many photos instead")
    parser.add_argument("--served-only", action="store_true", help="only exact numpy and what the gateway uses "
                                                                     "(usearch f32): minutes instead of half an hour")
    args = parser.parse_args()
    if args.api:
        through_api(args.api)
        return
    faiss.omp_set_num_threads(BUILD_THREADS)
    dim = NETWORKS["sface"].dimension
    matrix, queries, fresh = library(args.faces, dim, np.random.default_rng(SEED))
    print(f"{args.faces} faces of {args.faces // FACES_PER_PERSON} synthetic people, {dim}-D float32 "
          f"({matrix.nbytes / 2**20:.0f} MiB as a matrix); {QUERIES} queries, K={K}; "
          + ", ".join(f"{name} {version(name)}" for name in ("numpy", "faiss-cpu", "usearch", "hnswlib")))
    reference = ExactNumpy()
    reference.build(matrix)
    truth = [reference.search(q) for q in queries]
    same = np.linalg.norm(matrix[0] - matrix[args.faces // FACES_PER_PERSON])
    print(f"distance of two faces of one person (example): {same:.2f}")
    candidates: list[Candidate] = [ExactNumpy(), NumpyNorm(), Usearch("f32", SEARCH_BREADTH * K)]
    if not args.served_only:
        candidates += [FaissFlat(), Usearch("f32", 64), Usearch("i8", 64), Hnswlib(64), FaissHnsw(32, 64)]
    print(f"\n{'candidate':34} {'build s':>8} {'p50 ms':>7} {'p95 ms':>7} {'x exact':>8} {'rec@10':>7} "
          f"{'rec@' + str(K):>7} {'MiB':>6} {'add 1k ms':>10} {'rm 1k ms':>9}", flush=True)
    exact = 0.0
    for candidate in candidates:
        r = measure(candidate, matrix, queries, fresh, truth)
        candidate.__dict__.clear()  # its index or matrix: the next one's memory is measured from here
        exact = exact or r.p50_ms
        remove = f"{r.remove_ms:9.1f}" if r.remove_ms is not None else f"{'rebuild':>9}"
        print(f"{r.name:34} {r.build_s:8.1f} {r.p50_ms:7.2f} {r.p95_ms:7.2f} {r.p50_ms / exact:8.2f} "
              f"{r.recall_10:7.3f} {r.recall_k:7.3f} {r.memory_mib:6.0f} {r.add_ms:10.1f} {remove}", flush=True)

if __name__ == "__main__":
    main()
