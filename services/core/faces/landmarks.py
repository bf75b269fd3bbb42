"""Five landmarks for a box that came without them (HOG, Haar, a box drawn by hand).

CenterFace looks again at the box's neighbourhood, enlarged or shrunk so the face is about
``FACE_SIDE`` pixels; the face it finds there that overlaps the box gives the landmarks. When it
finds none, the template's points are laid over the box (good enough to make a chip; the quality
score's pose part tells the rest).
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from services.core.domain import Box, Point
from services.core.faces.centerface import CenterFaceDetector
from services.core.faces.template_align import CHIP_SIZE, TEMPLATE

FACE_SIDE = 96
MIN_IOU = 0.3


def template_landmarks(box: Box) -> tuple[Point, ...]:
    return tuple(Point(x=box.left + x / CHIP_SIZE * box.width, y=box.top + y / CHIP_SIZE * box.height)
                 for x, y in TEMPLATE)


class BoxLandmarker:
    def __init__(self, centerface: CenterFaceDetector) -> None:
        self.centerface = centerface

    def landmarks(self, rgb: NDArray[np.uint8], box: Box) -> tuple[Point, ...]:
        height, width = rgb.shape[:2]
        margin = max(box.width, box.height) // 2 + 2
        x0, y0 = max(0, box.left - margin), max(0, box.top - margin)
        x1, y1 = min(width, box.right + margin), min(height, box.bottom + margin)
        zoom = FACE_SIDE / max(box.width, box.height)
        size = (max(32, round((x1 - x0) * zoom)), max(32, round((y1 - y0) * zoom)))
        crop: NDArray[np.uint8] = cv2.resize(  # type: ignore[assignment]
            rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA if zoom < 1 else cv2.INTER_LINEAR)
        best, best_iou = None, MIN_IOU
        for found in self.centerface.detect_raw(crop, 0.05):
            b = found.box
            back = Box(left=round(b.left / zoom) + x0, top=round(b.top / zoom) + y0,
                       width=max(1, round(b.width / zoom)), height=max(1, round(b.height / zoom)))
            if back.iou(box) >= best_iou and found.landmarks is not None:
                best, best_iou = found, back.iou(box)
        if best is None or best.landmarks is None:
            return template_landmarks(box)
        return tuple(Point(x=p.x / zoom + x0, y=p.y / zoom + y0) for p in best.landmarks)
