"""The ONNX descriptor equals dlib's own on real face chips."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np

from services.core.faces.analyzer import FaceAnalyzer
from services.core.faces.decode import decode_image
from services.core.faces.model_files import descriptor_source


def _real_chips(analyzer: FaceAnalyzer, facedata: Path, wanted: int) -> np.ndarray:
    photos = sorted((facedata / "celeb5").rglob("*.jpg")) + sorted((facedata / "groups").rglob("*.jpg"))
    chips: list[np.ndarray] = []
    for photo in photos:
        rgb = decode_image(photo.read_bytes(), 100_000_000).rgb
        chips.extend(face.chip for face in analyzer.finder.find(rgb))
        if len(chips) >= wanted:
            break
    return np.stack(chips)


def test_onnx_matches_dlib_on_100_real_chips(dlib_analyzer: FaceAnalyzer, facedata: Path) -> None:
    chips = _real_chips(dlib_analyzer, facedata, 120)
    assert len(chips) >= 100 and chips.shape[1:] == (150, 150, 3)
    ours = dlib_analyzer.descriptors.compute(chips)
    reference = dlib.face_recognition_model_v1(str(descriptor_source()))
    theirs = np.array([np.array(reference.compute_face_descriptor(chip)) for chip in chips])
    cosine = (ours * theirs).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    assert cosine.min() >= 0.9999, f"worst cosine {cosine.min():.7f}"
    assert np.abs(ours - theirs).max() < 1e-4
