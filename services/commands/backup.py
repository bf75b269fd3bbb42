"""``facetag backup DEST`` and ``facetag restore SRC``: the embedded default's catalog (with accounts and the
audit trail), blobs (photos, chips, datasets, models) as one consistent copy, taken while it runs.

The catalog is copied first with SQLite's online backup (a consistent snapshot, writers keep going);
the blobs after it. A blob is written before the record that names it, so every record in the
snapshot finds its blobs in the copy. Queued work is not copied: after a restore the reconciler queues
unfinished photos again.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from services import __version__
from services.commands.supervision import AlreadyServing, ServeLock
from services.core.catalog import sqlite_path
from services.core.errors import FacetagError
from services.core.settings import Settings

MANIFEST = "facetag-backup.json"
CATALOG = "facetag.db"
BLOBS = "blobs"
CLUSTER_HINT = ("this backs up the embedded default (SQLite and a blob folder). For the cluster, back up "
                "MongoDB with mongodump and the MinIO bucket with mc mirror (see the README).")


def _embedded(settings: Settings) -> tuple[Path, Path]:
    if not settings.catalog_url.startswith("sqlite:") or not settings.blob_url.startswith("file://"):
        raise FacetagError(CLUSTER_HINT)
    return Path(sqlite_path(settings.catalog_url)), Path(settings.blob_url.removeprefix("file://"))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and not p.name.startswith("."))


def _copy_tree(source: Path, target: Path, what: str, progress: bool) -> int:
    files = _files(source)
    for path in tqdm(files, desc=what, unit="file", disable=not progress):
        destination = target / path.relative_to(source)
        destination.parent.mkdir(parents=True, exist_ok=True)
        try:
            shutil.copy2(path, destination)
        except FileNotFoundError:  # deleted since it was listed: its record is gone too, or going
            continue
    return len(files)


def backup(settings: Settings, dest: Path, progress: bool = True) -> dict[str, object]:
    catalog, blobs = _embedded(settings)
    if not catalog.is_file():
        raise FacetagError(f"there is no catalog at {catalog} to back up")
    if dest.exists() and any(dest.iterdir()):
        raise FacetagError(f"{dest} is not empty; give a new folder")
    dest.mkdir(parents=True, exist_ok=True)
    with closing(sqlite3.connect(catalog)) as source, closing(sqlite3.connect(dest / CATALOG)) as target:
        source.backup(target)
        counts = {table: int(source.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
                  for table in ("images", "faces", "people", "users")}
    blob_count = _copy_tree(blobs, dest / BLOBS, "blobs", progress) if blobs.is_dir() else 0
    manifest = {"facetag": __version__, "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "source": str(settings.data_dir), **counts, "blobs": blob_count}
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1))
    return manifest


def restore(settings: Settings, source: Path, progress: bool = True) -> dict[str, object]:
    catalog, blobs = _embedded(settings)
    try:
        manifest = json.loads((source / MANIFEST).read_text())
    except (OSError, ValueError):
        raise FacetagError(f"{source} is not a Facetag backup (no readable {MANIFEST})") from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        lock = ServeLock(settings.data_dir, "restore")
    except AlreadyServing as exc:
        raise FacetagError(f"{exc}; a restore needs the service stopped") from None
    try:
        if catalog.exists() or (blobs.is_dir() and any(blobs.iterdir())):
            raise FacetagError(f"{settings.data_dir} already holds a library; restore into a new --data folder")
        with closing(sqlite3.connect(source / CATALOG)) as backup_db, closing(sqlite3.connect(catalog)) as target:
            backup_db.backup(target)
        _copy_tree(source / BLOBS, blobs, "blobs", progress)
    finally:
        lock.release()
    return manifest


def run_backup(dest: Path, settings: Settings, progress: bool) -> int:
    try:
        manifest = backup(settings, dest.expanduser().resolve(), progress)
    except FacetagError as exc:
        print(f"facetag backup: {exc}", file=sys.stderr)
        return 1
    print(f"backed up {manifest['images']} photos, {manifest['faces']} faces, {manifest['people']} people, "
          f"{manifest['users']} users and {manifest['blobs']} blobs to {dest}")
    return 0


def run_restore(source: Path, settings: Settings, progress: bool) -> int:
    try:
        manifest = restore(settings, source.expanduser().resolve(), progress)
    except FacetagError as exc:
        print(f"facetag restore: {exc}", file=sys.stderr)
        return 1
    print(f"restored the backup of {manifest['created_at']} ({manifest['images']} photos) into {settings.data_dir}; "
          "start it with facetag serve")
    return 0
