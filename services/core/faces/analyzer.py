"""The face core's public API: image bytes in, faces with boxes, landmarks, chips, quality and descriptors out."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from services.core.domain import Box, Point
from services.core.faces.centerface import CenterFaceDetector, CropRecheck
from services.core.faces.detect import Detection, FaceDetector, detect_scaled
from services.core.faces.detectors import detector_label, load_centerface, make_detector
from services.core.faces.landmarks import BoxLandmarker
from services.core.faces.networks import DescriptorNetwork, network
from services.core.faces.onnx_export import OUTPUT_NAME
from services.core.faces.onnx_session import OnnxModel
from services.core.faces.quality import FaceQuality, face_quality
from services.core.faces.quantize import Precision, prepare_serving_backbone
from services.core.faces.template_align import template_chip
from services.core.settings import Settings

log = logging.getLogger(__name__)
BATCH = 16  # a batch this size runs about 15% faster per face than one at a time


@dataclass
class FoundFace:
    box: Box
    score: float
    landmarks: list[Point]  # five: eye centres, nose tip, mouth corners
    chip: NDArray[np.uint8]  # (S, S, 3) RGB, aligned for the descriptor network
    quality: FaceQuality
    descriptor: NDArray[np.float32] | None = None


def serving_network(settings: Settings) -> DescriptorNetwork:
    return network(settings.descriptor, settings.accepted_licences)


class Descriptors:
    """The descriptor network's backbone in ONNX Runtime: aligned chips in, descriptors out."""

    def __init__(self, settings: Settings, net: DescriptorNetwork | None = None, flip: bool | None = None,
                 precision: Precision | None = None) -> None:
        self.network = net or serving_network(settings)
        self.flip = settings.descriptor_flip if flip is None else flip
        self.precision = settings.descriptor_precision if precision is None else precision
        backbone = prepare_serving_backbone(self.network, self.flip, self.precision, settings.model_cache, fetch=False)
        path = settings.model_cache / backbone.file
        self.model = OnnxModel(path, settings.execution_provider, settings.onnx_threads)
        log.info("face descriptor network %s%s, %s (%s) running on %s", self.network.label,
                 " with flip averaging" if self.flip else "", self.precision, path.name, self.model.provider)

    @property
    def provider(self) -> str:
        return self.model.provider

    @property
    def label(self) -> str:
        return self.network.label + ("+flip" if self.flip else "")

    def compute(self, chips: NDArray[np.uint8]) -> NDArray[np.float32]:
        parts = [self.model.run(chips[i : i + BATCH])[OUTPUT_NAME] for i in range(0, len(chips), BATCH)]
        return np.concatenate(parts) if parts else np.zeros((0, self.network.dimension), dtype=np.float32)


class FaceFinder:
    """Detection, landmarks, aligned chips and quality: what the detector worker does."""

    def __init__(self, detector: FaceDetector, max_side: int, net: DescriptorNetwork,
                 centerface: CenterFaceDetector, recheck: bool = True) -> None:
        self.detector = detector
        self.max_side = max_side
        self.network = net
        self.landmarker = BoxLandmarker(centerface)
        self.recheck = CropRecheck(centerface) if recheck and isinstance(detector, CenterFaceDetector) else None

    @classmethod
    def from_settings(cls, settings: Settings, detector: str | None = None, upsample: int | None = None,
                      net: DescriptorNetwork | None = None) -> FaceFinder:
        cache, provider, threads = settings.model_cache, settings.execution_provider, settings.onnx_threads
        name = detector or settings.detector
        centerface = load_centerface(cache, provider, threads)
        chosen = centerface if name == "centerface" else make_detector(
            name, cache, provider, threads, settings.upsample if upsample is None else upsample)
        return cls(chosen, settings.max_detect_side, net or serving_network(settings), centerface,
                   recheck=settings.detect_recheck)

    @property
    def detector_label(self) -> str:
        return detector_label(self.detector.name, self.recheck is not None)

    @cached_property
    def _dlib_aligner(self):  # type: ignore[no-untyped-def]
        from services.core.faces.align import Aligner

        return Aligner()

    def detect(self, rgb: NDArray[np.uint8]) -> list[Detection]:
        if self.recheck is None:
            return detect_scaled(self.detector, rgb, self.max_side)
        # One pass down to the recheck's floor; what scores under the detector's threshold is looked at again.
        found = detect_scaled(_AtThreshold(self.recheck.detector, self.recheck.floor), rgb, self.max_side)
        threshold = self.recheck.detector.threshold
        sure = [d for d in found if d.score >= threshold]
        scale = min(1.0, self.max_side / max(rgb.shape[:2]))
        kept = self.recheck.confirm(rgb, [d for d in found if d.score < threshold], scale)
        return sorted(sure + kept, key=lambda d: -d.score)

    def find(self, rgb: NDArray[np.uint8]) -> list[FoundFace]:
        detections = self.detect(rgb)
        return self.at_detections(rgb, detections)

    def at_boxes(self, rgb: NDArray[np.uint8], boxes: list[Box], scores: list[float] | None = None
                 ) -> list[FoundFace]:
        """Landmarks, chips and quality for given boxes (drawn by hand)."""
        scores = scores if scores is not None else [1.0] * len(boxes)
        return self.at_detections(rgb, [Detection(b, s) for b, s in zip(boxes, scores, strict=True)])

    def at_detections(self, rgb: NDArray[np.uint8], detections: list[Detection]) -> list[FoundFace]:
        """Landmarks (where a detection has none), chips for the network, and quality."""
        if not detections:
            return []
        marks = [d.landmarks if d.landmarks is not None else self.landmarker.landmarks(rgb, d.box)
                 for d in detections]
        if self.network.alignment == "dlib150":
            _, dlib_chips = self._dlib_aligner.align(rgb, [d.box for d in detections])
            chips = list(dlib_chips)
        else:
            chips = [template_chip(rgb, m) for m in marks]
        faces = []
        for d, m, chip in zip(detections, marks, chips, strict=True):
            # Sharpness is judged on the template chip whatever the network, so one limit fits all.
            judged = chip if self.network.alignment == "template112" else template_chip(rgb, m)
            faces.append(FoundFace(d.box, d.score, list(m), chip, face_quality(d.box, m, judged)))
        return faces


class _AtThreshold:
    """A CenterFace detector seen through another threshold (for the candidates of the recheck)."""

    def __init__(self, detector: CenterFaceDetector, threshold: float) -> None:
        self.detector = detector
        self.threshold = threshold
        self.name = detector.name

    def detect(self, rgb: NDArray[np.uint8]) -> list[Detection]:
        return self.detector.detect_raw(rgb, self.threshold)


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
