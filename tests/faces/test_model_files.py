"""Model preparation: built once, verified after, rebuilt when damaged."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.faces.model_files import (
    DESCRIPTOR_FILE,
    ModelFileError,
    prepare_descriptor_model,
    verify_descriptor_model,
)


def test_prepare_builds_then_only_verifies(tmp_path: Path) -> None:
    manifest, rebuilt = prepare_descriptor_model(tmp_path)
    assert rebuilt and manifest.parity_max_abs_diff < 1e-4
    model = tmp_path / DESCRIPTOR_FILE
    stamp = model.stat().st_mtime_ns
    again, rebuilt_again = prepare_descriptor_model(tmp_path)
    assert not rebuilt_again and again.sha256 == manifest.sha256
    assert model.stat().st_mtime_ns == stamp


def test_damaged_model_is_detected_and_rebuilt(tmp_path: Path) -> None:
    manifest, _ = prepare_descriptor_model(tmp_path)
    model = tmp_path / DESCRIPTOR_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0xFF
    model.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="sha256"):
        verify_descriptor_model(tmp_path)
    repaired, rebuilt = prepare_descriptor_model(tmp_path)
    assert rebuilt and repaired.sha256 == manifest.sha256
    verify_descriptor_model(tmp_path)


def test_missing_model_says_what_to_run(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="facetag models prepare"):
        verify_descriptor_model(tmp_path)
