"""A quality score per face, from its size, sharpness and pose: poor faces are never named by a model.

Each part runs from 0 (useless for recognition) to 1 (good); the score is the smallest part, so one
bad reason is enough. Limits come from the shared photos (bench/identify.py prints the spread).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from numpy.typing import NDArray

from services.core.domain import Box, Point
from services.core.faces.template_align import ordered

SMALL_SIDE, GOOD_SIDE = 20.0, 56.0  # px: a face this narrow carries no identity / enough of it
BLURRED, SHARP = 1.3, 2.3  # log10 of the Laplacian's variance on the grey chip
YAW_OK, YAW_BAD = 0.22, 0.6  # nose offset from the eyes' middle, in eye distances
PITCH_OK, PITCH_BAD = 0.18, 0.45  # how far the nose sits from halfway between eyes and mouth


def _ramp(value: float, bad: float, good: float) -> float:
    """0 at ``bad``, 1 at ``good``, linear between (either direction)."""
    t = (value - bad) / (good - bad)
    return float(min(1.0, max(0.0, t)))


@dataclass(frozen=True)
class FaceQuality:
    size: float
    sharpness: float
    pose: float

    @property
    def score(self) -> float:
        return round(min(self.size, self.sharpness, self.pose), 3)

    @property
    def weakest(self) -> str:
        parts = {"too small": self.size, "blurred": self.sharpness, "turned away": self.pose}
        return min(parts, key=lambda k: parts[k])


def pose_score(landmarks: tuple[Point, ...] | list[Point]) -> float:
    """How frontal a face is, from its five landmarks, in the frame of the eye line (roll does not count)."""
    points = ordered(landmarks)
    left_eye, right_eye, nose, mouth_l, mouth_r = points
    eye_mid, mouth_mid = (left_eye + right_eye) / 2, (mouth_l + mouth_r) / 2
    axis = right_eye - left_eye
    eye_distance = float(np.hypot(*axis))
    if eye_distance < 1e-6:
        return 0.0
    across = axis / eye_distance
    down = np.array([-across[1], across[0]])
    yaw = abs(float((nose - eye_mid) @ across)) / eye_distance
    face_height = float((mouth_mid - eye_mid) @ down)
    if face_height <= 1e-6:
        return 0.0
    pitch = abs(float((nose - eye_mid) @ down) / face_height - 0.5)
    return min(_ramp(yaw, YAW_BAD, YAW_OK), _ramp(pitch, PITCH_BAD, PITCH_OK))


def sharpness_score(chip: NDArray[np.uint8]) -> float:
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return _ramp(float(np.log10(max(variance, 1e-3))), BLURRED, SHARP)


def face_quality(box: Box, landmarks: tuple[Point, ...] | list[Point], chip: NDArray[np.uint8]) -> FaceQuality:
    side = float(min(box.width, box.height))
    return FaceQuality(size=round(_ramp(side, SMALL_SIDE, GOOD_SIDE), 3),
                       sharpness=round(sharpness_score(chip), 3), pose=round(pose_score(landmarks), 3))
