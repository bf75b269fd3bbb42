"""On celeb5, the default network puts the same person near and different people far."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from services.core.faces.analyzer import FaceAnalyzer
from services.core.faces.decode import decode_image
from services.core.faces.networks import NETWORKS


def _largest_face_vectors(analyzer: FaceAnalyzer, celeb5_images: dict[str, list[Path]]
                          ) -> list[tuple[str, np.ndarray]]:
    vectors: list[tuple[str, np.ndarray]] = []
    for person, photos in celeb5_images.items():
        for photo in photos:
            faces = analyzer.analyze(decode_image(photo.read_bytes(), 100_000_000).rgb)
            if faces:
                largest = max(faces, key=lambda f: f.box.width * f.box.height)
                assert largest.descriptor is not None
                vectors.append((person, largest.descriptor))
    return vectors


def _pair_accuracy(vectors: list[tuple[str, np.ndarray]], threshold: float) -> float:
    right = total = 0
    for (p1, v1), (p2, v2) in itertools.combinations(vectors, 2):
        right += (float(np.linalg.norm(v1 - v2)) < threshold) == (p1 == p2)
        total += 1
    return right / total


def test_sface_separates_people_at_its_default_threshold(
    analyzer: FaceAnalyzer, celeb5_images: dict[str, list[Path]]
) -> None:
    vectors = _largest_face_vectors(analyzer, celeb5_images)
    photos = sum(len(p) for p in celeb5_images.values())
    assert len(vectors) >= photos - 2, "CenterFace should find a face on nearly every celeb5 photo"
    assert all(abs(float(np.linalg.norm(v)) - 1.0) < 1e-4 for _, v in vectors), "SFace descriptors are unit length"
    accuracy = _pair_accuracy(vectors, NETWORKS["sface"].default_threshold)
    assert accuracy >= 0.97, f"only {accuracy:.3f} of pairs on the right side"


def test_dlib_network_still_separates_people_at_0_6(
    dlib_analyzer: FaceAnalyzer, celeb5_images: dict[str, list[Path]]
) -> None:
    vectors = _largest_face_vectors(dlib_analyzer, celeb5_images)
    assert len(vectors) >= 100, "too few celeb5 photos gave a face"
    assert _pair_accuracy(vectors, 0.6) >= 0.95
