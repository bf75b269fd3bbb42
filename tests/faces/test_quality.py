"""Face quality: small, blurred and turned-away faces score low; good frontal faces high."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from services.core.domain import Box, Point
from services.core.faces.analyzer import FaceAnalyzer
from services.core.faces.decode import decode_image
from services.core.faces.quality import face_quality, pose_score
from services.core.faces.template_align import TEMPLATE, similarity_transform, template_chip


def _face(analyzer: FaceAnalyzer, path: Path):  # type: ignore[no-untyped-def]
    rgb = decode_image(path.read_bytes(), 100_000_000).rgb
    return rgb, max(analyzer.finder.find(rgb), key=lambda f: f.box.width)


def test_similarity_transform_recovers_rotation_scale_and_shift() -> None:
    angle, scale = 0.4, 2.2
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    moved = TEMPLATE @ rotation.T * scale + np.array([130.0, 40.0])
    matrix = similarity_transform(moved, TEMPLATE)
    assert np.abs(moved @ matrix[:, :2].T + matrix[:, 2] - TEMPLATE).max() < 1e-9


def test_blur_lowers_sharpness_but_not_pose(analyzer: FaceAnalyzer, facedata: Path) -> None:
    rgb, face = _face(analyzer, facedata / "facetag_samples" / "ben_mat_4.jpg")
    blurred = cv2.GaussianBlur(rgb, (0, 0), 6)
    before = face_quality(face.box, face.landmarks, template_chip(rgb, face.landmarks))
    after = face_quality(face.box, face.landmarks, template_chip(blurred, face.landmarks))
    assert before.score > 0.8 and after.sharpness < 0.3 and after.pose == before.pose
    assert after.weakest == "blurred"


def test_a_tiny_face_is_too_small() -> None:
    chip = np.random.default_rng(1).integers(0, 256, size=(112, 112, 3), dtype=np.uint8)
    box = Box(left=0, top=0, width=16, height=18)
    marks = [Point(x=float(x) / 7, y=float(y) / 7) for x, y in TEMPLATE]
    quality = face_quality(box, marks, chip)
    assert quality.score == 0.0 and quality.weakest == "too small"


def test_a_face_turned_sideways_scores_low_on_pose() -> None:
    frontal = [Point(x=float(x), y=float(y)) for x, y in TEMPLATE]
    profile = [Point(x=float(x), y=float(y)) for x, y in TEMPLATE]
    profile[2] = Point(x=profile[1].x + 8, y=profile[2].y)  # nose beyond the far eye
    assert pose_score(frontal) == 1.0
    assert pose_score(profile) < 0.2
    # roll alone (a tilted head) is not a pose problem: alignment undoes it
    angle = 0.5
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    rolled = [Point(x=float(x), y=float(y)) for x, y in TEMPLATE @ rotation.T]
    assert pose_score(rolled) == 1.0
