"""Face core fixtures: one loaded model set per test session (loading dlib's models takes seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.faces.analyzer import Descriptors, FaceAnalyzer, FaceFinder
from services.core.settings import Settings


@pytest.fixture(scope="session")
def face_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(data_dir=tmp_path_factory.mktemp("data"), execution_provider="cpu")


@pytest.fixture(scope="session")
def analyzer(face_settings: Settings) -> FaceAnalyzer:
    """The defaults: CenterFace with its recheck, SFace descriptors."""
    return FaceAnalyzer(FaceFinder.from_settings(face_settings), Descriptors(face_settings))


@pytest.fixture(scope="session")
def dlib_analyzer(tmp_path_factory: pytest.TempPathFactory) -> FaceAnalyzer:
    """The old stack, still selectable: dlib's HOG detector and descriptor network."""
    settings = Settings(data_dir=tmp_path_factory.mktemp("dlib"), execution_provider="cpu", detector="hog",
                        descriptor="dlib")
    return FaceAnalyzer(FaceFinder.from_settings(settings), Descriptors(settings))


@pytest.fixture(scope="session")
def celeb5_images(facedata: Path) -> dict[str, list[Path]]:
    """person -> photos, train and val together."""
    people: dict[str, list[Path]] = {}
    for split in ("train", "val"):
        for folder in sorted((facedata / "celeb5" / split).iterdir()):
            people.setdefault(folder.name, []).extend(sorted(folder.iterdir()))
    return people
