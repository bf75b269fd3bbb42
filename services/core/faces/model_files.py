"""Model weights: found in installed packages, converted once into a cache folder, verified by hash.

Nothing is downloaded. ``prepare_descriptor_model`` converts dlib's descriptor network from the
``face-recognition-models`` package into ONNX, checks the result against dlib itself, and records
the hashes in a manifest beside it; later calls only verify.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydantic import BaseModel

from services.core.errors import FacetagError

log = logging.getLogger(__name__)

DESCRIPTOR_FILE = "face_descriptor_dlib_resnet_v1.onnx"
CONVERTER_VERSION = 1  # bump when the graph builder changes what it writes
PARITY_TOLERANCE = 1e-4  # max abs difference from dlib on the check chips (seen: ~4e-7)


class ModelFileError(FacetagError):
    """A model file is missing, damaged or not what its manifest says."""


class DescriptorManifest(BaseModel):
    file: str
    sha256: str
    source: str
    source_sha256: str
    converter_version: int
    parity_max_abs_diff: float


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def descriptor_source() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.face_recognition_model_location())


def landmark_model_path() -> Path:
    import face_recognition_models

    return Path(face_recognition_models.pose_predictor_five_point_model_location())


def atomic_write(path: Path, data: bytes) -> None:
    """Write to a temp file in the same folder, then rename: readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _manifest_path(model: Path) -> Path:
    return model.with_suffix(".json")


def _check_parity(onnx_bytes: bytes, source: Path) -> float:
    """Largest difference between the ONNX graph and dlib on a few deterministic chips."""
    import dlib
    import onnxruntime as ort

    chips = np.random.default_rng(7).integers(0, 256, size=(3, 150, 150, 3), dtype=np.uint8)
    session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
    ours = session.run(None, {"chips": chips})[0]
    reference_model = dlib.face_recognition_model_v1(str(source))
    theirs = np.array([np.array(reference_model.compute_face_descriptor(chip)) for chip in chips])
    return float(np.abs(ours - theirs).max())


M = TypeVar("M", bound=BaseModel)


def read_manifest(model: Path, kind: type[M]) -> M:
    """The manifest beside a cached model file (``x.onnx`` -> ``x.json``); ModelFileError if either is missing
    or the manifest is unreadable."""
    manifest_file = _manifest_path(model)
    if not model.is_file() or not manifest_file.is_file():
        raise ModelFileError(f"{model} is not prepared; run 'facetag models prepare'.")
    try:
        return kind.model_validate_json(manifest_file.read_bytes())
    except ValueError as exc:
        raise ModelFileError(f"{manifest_file} is unreadable ({exc}); run 'facetag models prepare'.") from exc


def already_prepared(verify: Callable[[], M], what: str, force: bool) -> M | None:
    """What ``verify`` finds in the cache; None when ``force`` asks for it to be made again, or when it must be
    (the reason is logged)."""
    if force:
        return None
    try:
        return verify()
    except ModelFileError as why:
        log.info("preparing %s: %s", what, why)
        return None


def verify_descriptor_model(cache_dir: Path) -> DescriptorManifest:
    """The manifest of a cached model whose bytes and source still match it; ModelFileError otherwise."""
    model = cache_dir / DESCRIPTOR_FILE
    manifest = read_manifest(model, DescriptorManifest)
    if manifest.converter_version != CONVERTER_VERSION:
        raise ModelFileError(f"{model} was made by an older converter; run 'facetag models prepare'.")
    if sha256_file(model) != manifest.sha256:
        raise ModelFileError(f"{model} does not match its recorded sha256 (damaged); run 'facetag models prepare'.")
    if sha256_file(descriptor_source()) != manifest.source_sha256:
        raise ModelFileError(f"{model} was made from other weights than the installed ones; run "
                             "'facetag models prepare'.")
    return manifest


def prepare_descriptor_model(cache_dir: Path, *, force: bool = False) -> tuple[DescriptorManifest, bool]:
    """Make sure a verified ONNX descriptor model is in ``cache_dir``. Returns (manifest, rebuilt)."""
    from services.core.faces.dlib_format import read_network
    from services.core.faces.onnx_export import build_descriptor_graph

    ready = already_prepared(lambda: verify_descriptor_model(cache_dir), "the descriptor model", force)
    if ready is not None:
        return ready, False
    source = descriptor_source()
    onnx_bytes = build_descriptor_graph(read_network(source.read_bytes())).SerializeToString()
    diff = _check_parity(onnx_bytes, source)
    if not diff <= PARITY_TOLERANCE:
        raise ModelFileError(f"the converted model differs from dlib by {diff:.2e} (limit {PARITY_TOLERANCE:g}); "
                             "the installed dlib or face-recognition-models is not the expected version.")
    model = cache_dir / DESCRIPTOR_FILE
    atomic_write(model, onnx_bytes)
    manifest = DescriptorManifest(
        file=model.name,
        sha256=hashlib.sha256(onnx_bytes).hexdigest(),
        source=str(source),
        source_sha256=sha256_file(source),
        converter_version=CONVERTER_VERSION,
        parity_max_abs_diff=diff,
    )
    atomic_write(_manifest_path(model), json.dumps(manifest.model_dump(), indent=2).encode())
    return manifest, True


def descriptor_model_path(cache_dir: Path) -> Path:
    """Path of a verified descriptor model, building it first if needed."""
    prepare_descriptor_model(cache_dir)
    return cache_dir / DESCRIPTOR_FILE
