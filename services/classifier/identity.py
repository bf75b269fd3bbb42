"""What the classifier runs on a batch of chips: descriptors, and names once a model is trained."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from services.core.faces.analyzer import Descriptors


@dataclass
class Prediction:
    descriptors: NDArray[np.float32]  # (N, D)
    person_ids: list[str | None] | None = None  # None: no trained model; an item None: unknown
    confidences: list[float] | None = None
    distances: NDArray[np.float32] | None = None  # (N, P): to each person the model knows, for joint naming
    label_ids: list[str] = field(default_factory=list)  # the P people, in column order
    threshold: float = 0.0
    known_faces: dict[str, int] = field(default_factory=dict)  # person -> named faces the model learnt from


class IdentityModel(Protocol):
    version: str | None  # None until a trained model is published
    descriptor_label: str  # the network that makes its descriptors, e.g. "sface-2021dec"
    chip_size: int

    def predict(self, chips: NDArray[np.uint8]) -> Prediction: ...


class DescriptorOnly:
    """Before any training: descriptors are kept, every face stays unknown."""

    version: str | None = None

    def __init__(self, descriptors: Descriptors) -> None:
        self.descriptors = descriptors
        self.descriptor_label = descriptors.label
        self.chip_size = descriptors.network.chip_size

    @property
    def provider(self) -> str:
        return self.descriptors.provider

    def predict(self, chips: NDArray[np.uint8]) -> Prediction:
        return Prediction(descriptors=self.descriptors.compute(chips))
