"""Learning-loop fixtures: a real published model (backbone + head) built once per session."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from learning_data import BuiltModel, labelled_set

from services.core.faces.model_files import DESCRIPTOR_FILE, prepare_descriptor_model
from services.core.faces.onnx_head import merge_head
from services.core.settings import Settings
from services.trainer.fit import FitParams, fit


@pytest.fixture(scope="session")
def backbone() -> tuple[onnx.ModelProto, str]:
    cache = Settings().model_cache
    manifest, _ = prepare_descriptor_model(cache)
    return onnx.load(str(cache / DESCRIPTOR_FILE)), manifest.sha256


@pytest.fixture(scope="session")
def built_models(backbone: tuple[onnx.ModelProto, str]) -> list[BuiltModel]:
    """Two different valid published graphs (3 and 4 people)."""
    out = []
    for n_people in (3, 4):
        data = labelled_set(n_people, 8, seed=n_people)
        result = fit(data, FitParams())
        model = merge_head(backbone[0], result.gallery, result.gallery_mask).SerializeToString()
        out.append(BuiltModel(model, data.people, result.threshold, backbone[1]))
    return out


@pytest.fixture
def chips() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, size=(3, 150, 150, 3), dtype=np.uint8)
