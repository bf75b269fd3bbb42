"""Looking for what is left of someone: their ids and face descriptors anywhere in a catalog and a blob
store, including inside dataset zips, training snapshots and model graphs."""

from __future__ import annotations

import io
import sqlite3
import zipfile
from collections.abc import Iterable

import numpy as np
import onnx
import pymongo
from onnx import numpy_helper

from services.core.blobs import open_blobs
from services.core.catalog import sqlite_path


def catalog_text(catalog_url: str) -> str:
    """Every row of every table (or document of every collection) as text."""
    if catalog_url.startswith("sqlite"):
        with sqlite3.connect(sqlite_path(catalog_url)) as db:
            tables = [row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return "\n".join(str(row) for table in tables for row in db.execute(f"SELECT * FROM {table}"))
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(catalog_url, serverSelectionTimeoutMS=5000)
    try:
        database = client.get_default_database()
        return "\n".join(str(doc) for name in database.list_collection_names() for doc in database[name].find())
    finally:
        client.close()


def _near(arrays: Iterable[np.ndarray], descriptors: np.ndarray) -> bool:
    for array in arrays:
        if array.dtype.kind == "f" and array.ndim == 2 and array.shape[1] == descriptors.shape[1] and len(array):
            gaps = np.abs(array[None, :, :].astype(np.float32) - descriptors[:, None, :]).max(axis=2)
            if float(gaps.min()) < 1e-5:
                return True
    return False


def _found_in(key: str, data: bytes, ids: set[str], descriptors: np.ndarray) -> list[str]:
    if key.endswith(".onnx") or data[:2] == b"\x08\x07" or b"onnx" in data[:64]:
        try:
            graph = onnx.load_from_string(data).graph
        except Exception:
            graph = None
        if graph is not None and _near((numpy_helper.to_array(t) for t in graph.initializer), descriptors):
            return [f"{key}: a descriptor in the model graph"]
    if data[:2] == b"PK":
        found = []
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            for name in archive.namelist():
                found += [f"{key}!{hit}" for hit in _found_in(name, archive.read(name), ids, descriptors)]
                found += [f"{key}!{name}: id {i} in the entry name" for i in ids if i in name]
        if key.endswith(".npz"):
            with np.load(io.BytesIO(data), allow_pickle=False) as snapshot:
                arrays = [snapshot[name] for name in snapshot.files]
            found += [f"{key}: id {i}" for i in ids for a in arrays if a.dtype.kind == "U" and i in a.tolist()]
            found += [f"{key}: a descriptor"] if _near(arrays, descriptors) else []
        return found
    found = [f"{key}: id {i}" for i in ids if i.encode() in data]
    raw = {d.astype(np.float32).tobytes()[:32] for d in descriptors}
    found += [f"{key}: descriptor bytes" for r in raw if r in data]
    return found


def find_traces(catalog_url: str, blob_url: str, ids: set[str], descriptors: list[list[float]]) -> list[str]:
    """Where any of ``ids`` or ``descriptors`` still appears; empty when nothing does."""
    vectors = np.array(descriptors, dtype=np.float32).reshape(len(descriptors), -1)
    text = catalog_text(catalog_url)
    found = [f"catalog: id {i}" for i in ids if i in text]
    found += [f"catalog: descriptor value {d[0]!r}" for d in descriptors if repr(d[0]) in text]
    blobs = open_blobs(blob_url)
    for key in blobs.list(""):
        found += [f"blob {hit}" for hit in _found_in(key, blobs.get(key), ids, vectors)]
    return found
