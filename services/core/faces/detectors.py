"""Choosing a detector by name: ``centerface`` (default), ``yunet`` (fast), ``hog`` and ``haar`` (dlib and
OpenCV, the old ones, kept for comparison)."""

from __future__ import annotations

from pathlib import Path

from services.core.faces.centerface import CenterFaceDetector
from services.core.faces.detect import FaceDetector, HaarDetector, HogDetector
from services.core.faces.onnx_session import OnnxModel
from services.core.faces.packaged import CENTERFACE, YUNET, packaged_path
from services.core.faces.yunet import YuNetDetector

DETECTOR_NAMES = ("centerface", "yunet", "hog", "haar")
VERSIONS = {"centerface": "centerface-deface1.5.0", "yunet": "yunet-2023mar", "hog": "hog-dlib20",
            "haar": "haar-opencv4"}


def detector_label(name: str, recheck: bool) -> str:
    """How faces and models record a detector: name-version, and whether CenterFace rechecks."""
    return VERSIONS.get(name, name) + ("+recheck" if recheck and name == "centerface" else "")


def load_centerface(model_cache: Path, provider: str, threads: int) -> CenterFaceDetector:
    return CenterFaceDetector(OnnxModel(packaged_path(CENTERFACE, model_cache), provider, threads))


def make_detector(name: str, model_cache: Path, provider: str, threads: int, upsample: int) -> FaceDetector:
    if name == "centerface":
        return load_centerface(model_cache, provider, threads)
    if name == "yunet":
        return YuNetDetector(packaged_path(YUNET, model_cache))
    if name == "hog":
        return HogDetector(upsample)
    if name == "haar":
        return HaarDetector(upsample)
    raise ValueError(f"unknown detector {name!r}; choose one of {', '.join(DETECTOR_NAMES)}")
