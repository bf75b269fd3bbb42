"""A big library without photos: images and faces with real-looking descriptors around synthetic people.

Each person is a random unit centre in the descriptor space of the default network; their faces are the
centre plus noise, normalised (same-person distances about 0.9, strangers about 1.4, as SFace gives).
People are photographed unevenly (a few often, most rarely); a fifth of the faces are strangers seen
once. Of a known person's faces a tenth were named by a person, most by a model, some not at all.
Photos hold 1-4 faces and were uploaded over five years. Thumbnails and chips are not stored.

Filled with Catalog.add_many in chunks; an embedded (SQLite) library is cached under
~/.cache/facetag/bench-libraries, keyed by size, seed and the SQLite schema, so reruns start at once.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from common import REPO, bench_settings
from numpy.typing import NDArray
from tqdm import tqdm

from services.core.catalog import Catalog, open_catalog
from services.core.domain import Box, FaceRecord, ImageRecord, ImageStatus, LabelSource, LabelVia, new_id
from services.core.library_network import configured

CACHE = Path.home() / ".cache" / "facetag" / "bench-libraries"
CHUNK = 2000  # photos per bulk insert
START = datetime(2021, 1, 1, tzinfo=UTC)
SPAN = timedelta(days=5 * 365)
NOISE = 0.07  # per dimension: |noise| about 0.8 against a unit centre
STRANGERS = 0.2  # share of faces of people seen once
PERSON_NAMED, MODEL_NAMED = 0.1, 0.75  # of a known person's faces; the rest are not named yet
MODEL_VERSION = "bench-v1"


@dataclass(frozen=True)
class LibraryPlan:
    photos: int
    people: int = 300
    seed: int = 14

    @property
    def person_names(self) -> list[str]:
        """Most photographed first."""
        return [f"Person {k:04d}" for k in range(self.people)]


def _unit(rows: NDArray[np.float64]) -> NDArray[np.float64]:
    norms: NDArray[np.float64] = np.linalg.norm(rows, axis=-1, keepdims=True)
    return rows / norms


def generate(plan: LibraryPlan, person_ids: list[str]) -> Iterator[tuple[list[ImageRecord], list[FaceRecord]]]:
    """The library in chunks of CHUNK photos, oldest upload first, deterministic for a plan (drawn a chunk at a
    time: record by record would take longer than inserting)."""
    rng = np.random.default_rng(plan.seed)
    choice = configured(bench_settings())
    centres = _unit(rng.standard_normal((plan.people, choice.network.dimension)))
    popularity = 1.0 / np.arange(1, plan.people + 1)  # Zipf: person k is in 1/k as many photos as the first
    popularity /= popularity.sum()
    seconds = np.sort(rng.uniform(0, SPAN.total_seconds(), plan.photos))
    for start in range(0, plan.photos, CHUNK):
        numbers = range(start, min(start + CHUNK, plan.photos))
        counts = rng.integers(1, 5, len(numbers))
        total = int(counts.sum())
        photo = np.repeat(np.arange(len(numbers)), counts)
        slot = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        person = rng.choice(plan.people, size=total, p=popularity)
        # A stranger, or a person already in the photo (one person at most once per photo, as named): unknown.
        repeated = np.zeros(total, dtype=bool)
        for i in range(1, 4):
            repeated[i:] |= (slot[i:] >= i) & (person[i:] == person[:-i])
        person[(rng.random(total) < STRANGERS) | repeated] = -1
        known = person >= 0
        centre = np.where(known[:, None], centres[np.maximum(person, 0)],
                          _unit(rng.standard_normal((total, centres.shape[1]))))
        descriptors = _unit(centre + rng.normal(0.0, NOISE, centre.shape)).astype(np.float32).tolist()
        rolls, confidence = rng.random(total), rng.uniform(0.5, 0.99, total)
        quality, score = rng.uniform(0.3, 1.0, total), rng.uniform(0.6, 1.0, total)
        tops, late = rng.integers(100, 1500, total), rng.uniform(60, 36_000, total)
        sizes, taken = rng.integers(2_000_000, 6_000_000, len(numbers)), rng.uniform(0, 30, len(numbers))
        images = [_image(plan, n, START + timedelta(seconds=float(seconds[n])), int(counts[k]), int(sizes[k]),
                         float(taken[k])) for k, n in enumerate(numbers)]
        faces = []
        for f in range(total):
            image = images[photo[f]]
            labelled = image.uploaded_at + timedelta(seconds=float(late[f]))
            owner = person_ids[person[f]] if known[f] else None
            label: dict[str, object] = {}
            if known[f] and rolls[f] < PERSON_NAMED:
                label = {"person_id": owner, "label_source": LabelSource.person, "labelled_at": labelled,
                         "labelled_by": "bench", "label_via": LabelVia.editor}
            elif rolls[f] < PERSON_NAMED + MODEL_NAMED:  # strangers the model saw are labelled unknown
                label = {"person_id": owner, "label_source": LabelSource.model, "model_version": MODEL_VERSION,
                         "confidence": float(confidence[f]), "labelled_at": labelled}
            face_id = new_id()
            faces.append(FaceRecord(
                id=face_id, image_id=image.id, box=Box(left=200 + 900 * int(slot[f]), top=int(tops[f]), width=300,
                                                      height=300),
                detection_score=float(score[f]), descriptor=descriptors[f], chip_key=f"chips/{face_id}.png",
                created_at=image.uploaded_at, quality=float(quality[f]), detector="centerface",
                descriptor_model=choice.label, **label,
            ))
        yield images, faces


def _image(plan: LibraryPlan, number: int, uploaded: datetime, faces: int, size: int, taken_days: float
           ) -> ImageRecord:
    return ImageRecord(
        id=new_id(), sha256=hashlib.sha256(f"bench-{plan.seed}-{number}".encode()).hexdigest(),
        filename=f"IMG_{number:07d}.jpg", content_type="image/jpeg", width=4000, height=3000, size_bytes=size,
        status=ImageStatus.done, face_count=faces, uploaded_at=uploaded, updated_at=uploaded,
        taken_at=uploaded - timedelta(days=taken_days),
    )


async def fill(catalog: Catalog, plan: LibraryPlan, what: str) -> None:
    """Create the plan's people, then bulk-insert its photos and faces, with a progress bar."""
    await catalog.connect()
    person_ids = [(await catalog.create_person(name)).id for name in plan.person_names]
    inserting: asyncio.Task[None] | None = None
    with tqdm(total=plan.photos, desc=f"filling {what} with {plan.photos:,} photos", unit="photo") as bar:
        # The next chunk is drawn while the last one is inserted (the drivers insert in their own threads).
        for images, faces in generate(plan, person_ids):
            if inserting is not None:
                await inserting
                bar.update(CHUNK)
            inserting = asyncio.create_task(catalog.add_many(images, faces))
            await asyncio.sleep(0)  # let it start
        if inserting is not None:
            await inserting
            bar.update(plan.photos - bar.n)


def _code_key() -> str:
    """A digest of this generator and of the SQLite schema and row layout: a library made otherwise is not
    reused (indexes added since are made when the service opens it)."""
    digest = hashlib.sha256(Path(__file__).read_bytes())
    digest.update((REPO / "services" / "core" / "catalog" / "sqlite_rows.py").read_bytes())
    return digest.hexdigest()[:12]


def sqlite_library(plan: LibraryPlan, data_dir: Path) -> Path:
    """A fresh copy of the plan's embedded catalog at ``data_dir/facetag.db`` (made and cached if needed)."""
    cached = CACHE / f"sqlite-{plan.photos}-p{plan.people}-s{plan.seed}-{_code_key()}.db"
    if not cached.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        building = cached.with_suffix(".building")
        for leftover in CACHE.glob(f"{building.name}*"):  # an interrupted build
            leftover.unlink()
        catalog = open_catalog(f"sqlite:///{building}")
        asyncio.run(_fill_and_close(catalog, plan, "SQLite"))
        building.rename(cached)
    data_dir.mkdir(parents=True, exist_ok=True)
    target = data_dir / "facetag.db"
    shutil.copyfile(cached, target)  # the run may write (audit, jobs): the cache stays as made
    return target


async def _fill_and_close(catalog: Catalog, plan: LibraryPlan, what: str) -> None:
    try:
        await fill(catalog, plan, what)
    finally:
        await catalog.close()


def mongo_library(plan: LibraryPlan, url: str) -> None:
    """Fill the (empty) MongoDB-protocol catalog at ``url`` with the plan."""
    asyncio.run(_fill_and_close(open_catalog(url), plan, "MongoDB"))
