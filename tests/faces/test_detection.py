"""Detectors on real photos: the faces that are there, with landmarks, and none where there are none."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from services.core.domain import Box
from services.core.faces.analyzer import FaceAnalyzer, FaceFinder
from services.core.faces.decode import decode_image
from services.core.faces.detectors import make_detector
from services.core.faces.networks import NETWORKS
from services.core.settings import Settings

NONFACE = ["dlib_dog.jpg", "dlib_eagle.jpg", "dlib_giraffe.jpg", "dlib_horses.jpg", "dlib_hubble_ultra_deep_field.jpg"]


def _rgb(path: Path):  # type: ignore[no-untyped-def]
    return decode_image(path.read_bytes(), 100_000_000).rgb


def test_default_finds_both_faces_with_landmarks_and_template_chips(analyzer: FaceAnalyzer, facedata: Path) -> None:
    faces = analyzer.analyze(_rgb(facedata / "facetag_samples" / "ben_mat_4.jpg"))
    assert len(faces) == 2
    for face in faces:
        assert face.box.width > 80 and len(face.landmarks) == 5
        assert face.chip.shape == (112, 112, 3)
        assert face.descriptor is not None and face.descriptor.shape == (128,)
        assert face.quality.score > 0.8
        eyes, mouth = face.landmarks[:2], face.landmarks[3:]
        # landmarks sit inside their box, eyes above the nose above the mouth
        assert all(face.box.left <= p.x <= face.box.right and face.box.top <= p.y <= face.box.bottom
                   for p in face.landmarks)
        assert max(p.y for p in eyes) < face.landmarks[2].y < min(p.y for p in mouth)


@pytest.mark.parametrize("name", NONFACE)
def test_no_face_in_photos_without_people(analyzer: FaceAnalyzer, facedata: Path, name: str) -> None:
    assert analyzer.finder.find(_rgb(facedata / "bad" / "nonface" / name)) == []


@pytest.mark.parametrize("detector", ["yunet", "hog", "haar"])
def test_other_detectors_still_find_both_faces(face_settings: Settings, facedata: Path, detector: str) -> None:
    finder = FaceFinder.from_settings(face_settings, detector=detector, upsample=0 if detector == "haar" else 1)
    faces = finder.find(_rgb(facedata / "facetag_samples" / "ben_mat_4.jpg"))
    assert len(faces) == 2
    # HOG and Haar give no landmarks: CenterFace supplies them on a crop, so chips are aligned all the same
    assert all(f.chip.shape == (112, 112, 3) and f.quality.pose > 0.5 for f in faces)


def test_recheck_finds_faces_one_pass_scores_too_low(analyzer: FaceAnalyzer, facedata: Path) -> None:
    """The parade photo of people looking up: the recheck brings back faces the first pass is unsure of."""
    rgb = _rgb(facedata / "groups" / "wider_val" / "images" / "0--Parade" / "0_Parade_Parade_0_559.jpg")
    finder = analyzer.finder
    plain = FaceFinder(finder.detector, finder.max_side, finder.network, finder.landmarker.centerface,
                       recheck=False)
    assert len(finder.detect(rgb)) > len(plain.detect(rgb))


def test_large_photo_is_detected_on_a_scaled_copy_with_boxes_in_full_size(
    analyzer: FaceAnalyzer, facedata: Path
) -> None:
    import cv2

    rgb = _rgb(facedata / "facetag_samples" / "ben_mat_4.jpg")
    big = cv2.resize(rgb, (rgb.shape[1] * 3, rgb.shape[0] * 3))
    small_boxes = sorted(f.box.left for f in analyzer.finder.find(rgb))
    finder = analyzer.finder
    big_faces = FaceFinder(finder.detector, 1024, finder.network, finder.landmarker.centerface).find(big)
    assert sorted(f.box.left for f in big_faces) == pytest.approx([3 * x for x in small_boxes], abs=30)


def test_box_drawn_by_hand_gets_landmarks_and_a_chip(analyzer: FaceAnalyzer, facedata: Path) -> None:
    rgb = _rgb(facedata / "facetag_samples" / "ben_mat_4.jpg")
    detected = analyzer.finder.find(rgb)[0]
    loose = Box(left=detected.box.left - 15, top=detected.box.top - 10, width=detected.box.width + 30,
                height=detected.box.height + 25)
    (drawn,) = analyzer.finder.at_boxes(rgb, [loose])
    gap = np.abs(np.array([[p.x, p.y] for p in drawn.landmarks]) -
                 np.array([[p.x, p.y] for p in detected.landmarks])).max()
    assert gap < 6, "the hand-drawn box should get the same landmarks as the detected face"
    vectors = analyzer.descriptors.compute(np.stack([detected.chip, drawn.chip]))
    assert float(np.linalg.norm(vectors[0] - vectors[1])) < 0.3


def test_unknown_detector_name_is_refused(face_settings: Settings) -> None:
    with pytest.raises(ValueError, match="centerface, yunet, hog, haar"):
        make_detector("cnn", face_settings.model_cache, "cpu", 1, 1)


def test_dlib_network_gets_dlib_chips(face_settings: Settings, facedata: Path) -> None:
    finder = FaceFinder.from_settings(face_settings, net=NETWORKS["dlib"])
    faces = finder.find(_rgb(facedata / "facetag_samples" / "ben_mat_4.jpg"))
    assert [f.chip.shape for f in faces] == [(150, 150, 3)] * 2
