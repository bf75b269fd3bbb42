"""Detectors on real photos: the faces that are there, and none where there are none."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.core.faces.analyzer import FaceAnalyzer, FaceFinder
from services.core.faces.decode import decode_image
from services.core.faces.detect import make_detector


def _rgb(path: Path):  # type: ignore[no-untyped-def]
    return decode_image(path.read_bytes(), 100_000_000).rgb


def test_hog_finds_both_faces_in_ben_mat_4(analyzer: FaceAnalyzer, facedata: Path) -> None:
    faces = analyzer.analyze(_rgb(facedata / "facetag_samples" / "ben_mat_4.jpg"))
    assert len(faces) == 2
    for face in faces:
        assert face.box.width > 80 and len(face.landmarks) == 5
        assert face.chip.shape == (150, 150, 3)
        assert face.descriptor is not None and face.descriptor.shape == (128,)
        # landmarks sit inside (or at the edge of) their box
        assert all(face.box.left - 10 <= p.x <= face.box.right + 10 for p in face.landmarks)


@pytest.mark.parametrize("name", ["dlib_dog.jpg", "dlib_eagle.jpg", "dlib_giraffe.jpg", "dlib_horses.jpg",
                                  "dlib_hubble_ultra_deep_field.jpg"])
def test_hog_finds_no_face_in_photos_without_people(analyzer: FaceAnalyzer, facedata: Path, name: str) -> None:
    assert (facedata / "bad" / "nonface" / name).is_file()
    assert analyzer.finder.find(_rgb(facedata / "bad" / "nonface" / name)) == []


def test_haar_backend_finds_both_faces(facedata: Path) -> None:
    finder = FaceFinder(make_detector("haar", 0), max_side=1600)
    faces = finder.find(_rgb(facedata / "facetag_samples" / "ben_mat_4.jpg"))
    assert len(faces) == 2


def test_large_photo_is_detected_on_a_scaled_copy_with_boxes_in_full_size(
    analyzer: FaceAnalyzer, facedata: Path
) -> None:
    import cv2

    rgb = _rgb(facedata / "facetag_samples" / "ben_mat_4.jpg")
    big = cv2.resize(rgb, (rgb.shape[1] * 3, rgb.shape[0] * 3))
    small_boxes = sorted(f.box.left for f in analyzer.finder.find(rgb))
    big_faces = FaceFinder(analyzer.finder.detector, max_side=1024).find(big)
    assert sorted(f.box.left for f in big_faces) == pytest.approx([3 * x for x in small_boxes], abs=30)


def test_unknown_detector_name_is_refused() -> None:
    with pytest.raises(ValueError, match="hog, haar"):
        make_detector("cnn", 1)
