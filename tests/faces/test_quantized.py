"""The INT8 descriptor backbone: selected by FACETAG_DESCRIPTOR_PRECISION, hash-verified, and giving the same
descriptors and the same names as FP32 on real photos (the bound bench/quantized.py measured)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from pydantic import ValidationError

from services.core.faces.analyzer import Descriptors, FaceFinder
from services.core.faces.model_files import ModelFileError
from services.core.faces.networks import NETWORKS
from services.core.faces.onnx_export import OUTPUT_NAME
from services.core.faces.onnx_session import OnnxModel
from services.core.faces.prepare import prepare_models
from services.core.faces.quantize import (
    AGREEMENT_FLOOR,
    PrecisionUnavailable,
    int8_file,
    prepare_int8_backbone,
    verify_int8_backbone,
)
from services.core.settings import Settings

DLIB = NETWORKS["dlib"]


def _cosines(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


@pytest.fixture(scope="module")
def int8_cache(face_settings: Settings) -> Path:
    """The model cache with dlib's INT8 backbone derived (set-up does this; here once if it has not)."""
    prepare_int8_backbone(DLIB, False, face_settings.model_cache)
    return face_settings.model_cache


def test_the_setting_selects_the_int8_backbone(int8_cache: Path, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACETAG_DESCRIPTOR", "dlib")
    monkeypatch.setenv("FACETAG_DESCRIPTOR_PRECISION", "int8")
    settings = Settings(data_dir=tmp_path, execution_provider="cpu")
    chips = np.random.default_rng(3).integers(0, 256, size=(4, 150, 150, 3), dtype=np.uint8)
    served = Descriptors(settings).compute(chips)
    int8 = OnnxModel(int8_cache / int8_file(DLIB, False), "cpu").run(chips)[OUTPUT_NAME]
    fp32 = Descriptors(settings, precision="fp32").compute(chips)
    np.testing.assert_allclose(served, int8, atol=1e-6)
    assert not np.allclose(served, fp32, atol=1e-4)

    monkeypatch.setenv("FACETAG_DESCRIPTOR_PRECISION", "int4")
    with pytest.raises(ValidationError, match="descriptor_precision"):
        Settings(data_dir=tmp_path)


def test_int8_is_refused_for_sface_with_a_clear_message(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, execution_provider="cpu", descriptor="sface", descriptor_precision="int8")
    with pytest.raises(PrecisionUnavailable, match="FACETAG_DESCRIPTOR_PRECISION=fp32"):
        Descriptors(settings)
    with pytest.raises(PrecisionUnavailable, match="offered for the dlib descriptor network only"):
        prepare_models(settings, fetch=False)


def test_int8_backbone_is_hash_verified_and_keeps_the_licence_notice(int8_cache: Path, tmp_path: Path) -> None:
    for name in ("face_descriptor_dlib_resnet_v1", "face_descriptor_dlib_resnet_v1_int8"):
        for found in int8_cache.glob(f"{name}.*"):
            shutil.copy(found, tmp_path / found.name)
    manifest = verify_int8_backbone(DLIB, False, tmp_path)
    assert manifest.check_cosine_min >= AGREEMENT_FLOOR
    assert "CC0" in (tmp_path / int8_file(DLIB, False)).with_suffix(".LICENSE.txt").read_text()

    model = tmp_path / manifest.file
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        verify_int8_backbone(DLIB, False, tmp_path)
    (tmp_path / manifest.source_file).unlink()
    with pytest.raises(ModelFileError, match="not prepared"):
        verify_int8_backbone(DLIB, False, tmp_path)


def test_int8_descriptors_match_fp32_and_name_the_same_people(int8_cache: Path, face_settings: Settings,
                                                               celeb5_images: dict[str, list[Path]]) -> None:
    from services.core.faces.decode import decode_image

    settings = face_settings.model_copy(update={"descriptor": "dlib"})
    finder = FaceFinder.from_settings(settings)
    chips, owners = [], []
    for person, photos in celeb5_images.items():
        for photo in photos[::3]:
            found = finder.find(decode_image(photo.read_bytes(), settings.max_pixels).rgb)
            if found:
                chips.append(max(found, key=lambda f: f.box.width * f.box.height).chip)
                owners.append(person)
    batch = np.stack(chips)
    fp32 = Descriptors(settings, precision="fp32").compute(batch)
    int8 = Descriptors(settings, precision="int8").compute(batch)
    assert len(batch) >= 30
    assert _cosines(fp32, int8).min() >= AGREEMENT_FLOOR

    def nearest_other(vectors: NDArray[np.float32]) -> list[str]:
        """Each face's nearest other face's person: who a gallery of the rest would name it."""
        dist = np.linalg.norm(vectors[:, None, :] - vectors[None, :, :], axis=2)
        np.fill_diagonal(dist, np.inf)
        return [owners[j] for j in dist.argmin(axis=1)]

    assert nearest_other(int8) == nearest_other(fp32)
