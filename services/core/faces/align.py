"""dlib's 5-point landmarks and 150 px aligned face chips, the alignment the descriptor was trained on."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from services.core.domain import Box, Point
from services.core.faces.model_files import landmark_model_path

CHIP_SIZE = 150
CHIP_PADDING = 0.25


class Aligner:
    def __init__(self) -> None:
        import dlib

        self._dlib = dlib
        self._predictor = dlib.shape_predictor(str(landmark_model_path()))

    def align(self, rgb: NDArray[np.uint8], boxes: list[Box]) -> tuple[list[list[Point]], NDArray[np.uint8]]:
        """Landmarks per box, and the chips as one (N, 150, 150, 3) uint8 array."""
        if not boxes:
            return [], np.zeros((0, CHIP_SIZE, CHIP_SIZE, 3), dtype=np.uint8)
        shapes = self._dlib.full_object_detections()
        landmarks = []
        for box in boxes:
            rect = self._dlib.rectangle(box.left, box.top, box.right - 1, box.bottom - 1)
            shape = self._predictor(rgb, rect)
            shapes.append(shape)
            landmarks.append([Point(x=float(p.x), y=float(p.y)) for p in shape.parts()])
        chips = self._dlib.get_face_chips(rgb, shapes, size=CHIP_SIZE, padding=CHIP_PADDING)
        return landmarks, np.stack([np.asarray(c, dtype=np.uint8) for c in chips])
