"""ONNX Runtime sessions with the execution provider chosen by setting, never silently changed."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
from numpy.typing import NDArray

from services.core.errors import FacetagError

log = logging.getLogger(__name__)

_PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class ProviderUnavailable(FacetagError):
    """The configured execution provider is not in this ONNX Runtime build or machine."""


def choose_providers(setting: str) -> list[str]:
    """Providers in order of preference for ``auto``, ``cpu`` or ``cuda``."""
    available = ort.get_available_providers()
    if setting == "cpu":
        return [_PROVIDERS["cpu"]]
    if setting == "cuda":
        if _PROVIDERS["cuda"] not in available:
            raise ProviderUnavailable(
                "FACETAG_EXECUTION_PROVIDER=cuda, but ONNX Runtime reports no CUDA provider "
                f"(it has: {', '.join(available)}). Install onnxruntime-gpu with a working CUDA, "
                "or set FACETAG_EXECUTION_PROVIDER=auto or cpu."
            )
        return [_PROVIDERS["cuda"]]
    if setting == "auto":
        return [p for p in (_PROVIDERS["cuda"], _PROVIDERS["cpu"]) if p in available]
    raise ValueError(f"unknown execution provider {setting!r}; choose auto, cpu or cuda")


class OnnxModel:
    """One loaded ONNX graph. ``provider`` is what ONNX Runtime actually runs it on."""

    def __init__(self, model: Path | bytes, provider_setting: str = "auto", threads: int = 0,
                 spinning: bool = False) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        # A memory pattern is planned after the first run of each input size and then allocated as one new
        # block beside the first run's freed pieces: CenterFace at 1600 px then holds twice its ~500 MB.
        # Without it the arena reuses those pieces, at no measurable cost in speed.
        options.enable_mem_pattern = False
        # Spinning threads wait busily for work; on a few shared cores they make two threads slower than one
        # (bench/embedding.py shows both ways; ``spinning`` is there for it).
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        source = str(model) if isinstance(model, Path) else model
        providers = choose_providers(provider_setting)
        self.session = ort.InferenceSession(source, sess_options=options, providers=providers)
        self.provider = self.session.get_providers()[0]
        if provider_setting == "cuda" and self.provider != _PROVIDERS["cuda"]:
            raise ProviderUnavailable("ONNX Runtime could not start the CUDA provider; see its log above.")
        self.input_name = self.session.get_inputs()[0].name
        self.output_names = [o.name for o in self.session.get_outputs()]

    def run(self, batch: NDArray[Any]) -> dict[str, NDArray[np.float32]]:
        outputs = self.session.run(None, {self.input_name: batch})
        return dict(zip(self.output_names, outputs, strict=True))
