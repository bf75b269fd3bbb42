"""The face core's public API: image bytes in, faces with boxes, landmarks, chips and descriptors out."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from services.core.domain import Box, Point
from services.core.faces.align import Aligner
from services.core.faces.detect import FaceDetector, detect_scaled, make_detector
from services.core.faces.model_files import descriptor_model_path
from services.core.faces.onnx_export import OUTPUT_NAME
from services.core.faces.onnx_session import OnnxModel
from services.core.settings import Settings

log = logging.getLogger(__name__)
BATCH = 16  # a batch this size runs about 15% faster per face than one at a time


@dataclass
class FoundFace:
    box: Box
    score: float
    landmarks: list[Point]
    chip: NDArray[np.uint8]  # (150, 150, 3) RGB
    descriptor: NDArray[np.float32] | None = None


class Descriptors:
    """The descriptor network in ONNX Runtime; chips (N, 150, 150, 3) uint8 in, (N, 128) out."""

    def __init__(self, settings: Settings) -> None:
        path = descriptor_model_path(settings.model_cache)
        self.model = OnnxModel(path, settings.execution_provider, settings.onnx_threads)
        log.info("face descriptor network %s running on %s", path.name, self.model.provider)

    @property
    def provider(self) -> str:
        return self.model.provider

    def compute(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        parts = [self.model.run(chips[i : i + BATCH])[OUTPUT_NAME] for i in range(0, len(chips), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, 128), dtype=np.float32)


class FaceFinder:
    """Detection, landmarks and chips: what the detector worker does."""

    def __init__(self, detector: FaceDetector, max_side: int) -> None:
        self.detector = detector
        self.max_side = max_side
        self.aligner = Aligner()

    @classmethod
    def from_settings(cls, settings: Settings, detector: str | None = None, upsample: int | None = None
                      ) -> FaceFinder:
        return cls(make_detector(detector or settings.detector,
                                 settings.upsample if upsample is None else upsample),
                   settings.max_detect_side)

    def find(self, rgb: NDArray[np.uint8]) -> list[FoundFace]:
        detections = detect_scaled(self.detector, rgb, self.max_side)
        return self.at_boxes(rgb, [d.box for d in detections], [d.score for d in detections])

    def at_boxes(self, rgb: NDArray[np.uint8], boxes: list[Box], scores: list[float] | None = None
                 ) -> list[FoundFace]:
        """Landmarks and chips for given boxes (detected, or drawn by hand)."""
        landmarks, chips = self.aligner.align(rgb, boxes)
        scores = scores if scores is not None else [1.0] * len(boxes)
        return [FoundFace(b, s, lm, chip) for b, s, lm, chip in zip(boxes, scores, landmarks, chips, strict=True)]


class FaceAnalyzer:
    """Everything at once, for the command line and benchmarks."""

    def __init__(self, finder: FaceFinder, descriptors: Descriptors) -> None:
        self.finder = finder
        self.descriptors = descriptors

    def analyze(self, rgb: NDArray[np.uint8]) -> list[FoundFace]:
        faces = self.finder.find(rgb)
        if faces:
            vectors = self.descriptors.compute(np.stack([f.chip for f in faces]))
            for face, vector in zip(faces, vectors, strict=True):
                face.descriptor = vector
        return faces
