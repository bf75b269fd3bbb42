"""On celeb5, descriptors put the same person within dlib's 0.6 and different people beyond it."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np

from services.core.faces.analyzer import FaceAnalyzer
from services.core.faces.decode import decode_image


def test_same_person_close_different_people_far(
    analyzer: FaceAnalyzer, celeb5_images: dict[str, list[Path]]
) -> None:
    vectors: list[tuple[str, np.ndarray]] = []
    for person, photos in celeb5_images.items():
        for photo in photos:
            faces = analyzer.analyze(decode_image(photo.read_bytes(), 100_000_000).rgb)
            if faces:
                largest = max(faces, key=lambda f: f.box.width * f.box.height)
                assert largest.descriptor is not None
                vectors.append((person, largest.descriptor))
    assert len(vectors) >= 100, "too few celeb5 photos gave a face"
    right = total = 0
    for (p1, v1), (p2, v2) in itertools.combinations(vectors, 2):
        distance = float(np.linalg.norm(v1 - v2))
        right += (distance < 0.6) == (p1 == p2)
        total += 1
    assert right / total >= 0.95, f"only {right}/{total} pairs on the right side of 0.6"
