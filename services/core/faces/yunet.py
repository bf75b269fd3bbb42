"""YuNet through OpenCV's ``FaceDetectorYN``: the fast CNN detector, with five landmarks."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

from services.core.domain import Point
from services.core.faces.detect import Detection, clip_box

NMS_IOU = 0.3
TOP_K = 5000


class YuNetDetector:
    name = "yunet"

    def __init__(self, model_path: Path, threshold: float = 0.6) -> None:
        self._net = cv2.FaceDetectorYN.create(str(model_path), "", (320, 320), threshold, NMS_IOU, TOP_K)

    def detect(self, rgb: NDArray[np.uint8]) -> list[Detection]:
        height, width = rgb.shape[:2]
        self._net.setInputSize((width, height))
        _, rows = self._net.detect(cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
        found = []
        for row in rows if rows is not None else []:
            x, y, w, h = (float(v) for v in row[:4])
            box = clip_box(x, y, x + w, y + h, width, height)
            if box is None:
                continue
            # YuNet's order: the person's right eye (left in the image), left eye, nose tip, mouth corners.
            points = tuple(Point(x=float(row[4 + 2 * j]), y=float(row[5 + 2 * j])) for j in range(5))
            found.append(Detection(box, float(row[14]), points))
        return sorted(found, key=lambda d: -d.score)
