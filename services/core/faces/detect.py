"""Face detectors behind one interface. CNN detectors (CenterFace, YuNet) live in their own modules;
here are the interface, dlib's HOG, OpenCV's Haar cascade and the helpers they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import cv2
import numpy as np
from numpy.typing import NDArray

from services.core.domain import Box, Point


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float
    # Eye centres (left then right in the image), nose tip, mouth corners (left, right); None when the
    # detector gives no landmarks (HOG, Haar, a box drawn by hand).
    landmarks: tuple[Point, ...] | None = None


class FaceDetector(Protocol):
    name: str

    def detect(self, rgb: NDArray[np.uint8]) -> list[Detection]:
        """Faces in an RGB image, boxes in that image's pixels, best score first."""
        ...


def clip_box(left: float, top: float, right: float, bottom: float, width: int, height: int) -> Box | None:
    x0, y0 = max(0, round(left)), max(0, round(top))
    x1, y1 = min(width, round(right)), min(height, round(bottom))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return None
    return Box(left=x0, top=y0, width=x1 - x0, height=y1 - y0)


class HogDetector:
    """dlib's HOG + linear SVM frontal detector; each upsample pass halves the smallest face found."""

    name = "hog"

    def __init__(self, upsample: int = 1) -> None:
        import dlib

        self._detector = dlib.get_frontal_face_detector()
        self.upsample = upsample

    def detect(self, rgb: NDArray[np.uint8]) -> list[Detection]:
        rects, scores, _ = self._detector.run(rgb, self.upsample, 0.0)
        found = []
        for rect, score in zip(rects, scores, strict=True):
            box = clip_box(rect.left(), rect.top(), rect.right() + 1, rect.bottom() + 1, rgb.shape[1], rgb.shape[0])
            if box is not None:
                found.append(Detection(box, float(score)))
        return sorted(found, key=lambda d: -d.score)


class HaarDetector:
    """OpenCV's frontal Haar cascade, the detector of the original facetag."""

    name = "haar"
    MODEL = "haarcascade_frontalface_default.xml"

    def __init__(self, upsample: int = 0) -> None:
        path = cv2.data.haarcascades + self.MODEL  # type: ignore[attr-defined]
        self._cascade = cv2.CascadeClassifier(path)
        if self._cascade.empty():
            raise RuntimeError(f"OpenCV could not load its Haar cascade {path}; reinstall opencv-python-headless<5.")
        # Upsampling is how HOG reaches small faces; the cascade reaches them with a smaller min size.
        self.min_size = max(12, 36 >> upsample)

    def detect(self, rgb: NDArray[np.uint8]) -> list[Detection]:
        grey = cv2.equalizeHist(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY))
        rects, _, weights = self._cascade.detectMultiScale3(
            grey, scaleFactor=1.1, minNeighbors=5, minSize=(self.min_size, self.min_size), outputRejectLevels=True
        )
        found = []
        for (x, y, w, h), weight in zip(rects, np.ravel(weights), strict=True):
            box = clip_box(x, y, x + w, y + h, rgb.shape[1], rgb.shape[0])
            if box is not None:
                found.append(Detection(box, float(weight)))
        return sorted(found, key=lambda d: -d.score)


def resize(rgb: NDArray[np.uint8], width: int, height: int) -> NDArray[np.uint8]:
    """Area-averaged resize (the right filter for shrinking)."""
    out: NDArray[np.uint8] = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)  # type: ignore[assignment]
    return out


def detect_scaled(detector: FaceDetector, rgb: NDArray[np.uint8], max_side: int) -> list[Detection]:
    """Detect on a copy no larger than ``max_side``, with boxes and landmarks mapped back to the full image.

    Detection cost grows with pixels while large photos gain nothing from full resolution.
    """
    height, width = rgb.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale >= 1.0:
        return detector.detect(rgb)
    small = resize(rgb, round(width * scale), round(height * scale))
    out = []
    for d in detector.detect(small):
        b = d.box
        box = clip_box(b.left / scale, b.top / scale, b.right / scale, b.bottom / scale, width, height)
        if box is not None:
            marks = None if d.landmarks is None else tuple(Point(x=p.x / scale, y=p.y / scale) for p in d.landmarks)
            out.append(Detection(box, d.score, marks))
    return out
