"""Which descriptor network the library runs on now.

The current published model carries its network inside its graph, so its chips must be cut for that
network: while a model is published, its network decides; before any, the setting does. A change
of ``FACETAG_DESCRIPTOR`` takes effect through the switch job, which publishes a model on the new
network (the old one serves until then).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from services.core.errors import FacetagError
from services.core.faces.networks import NETWORKS, DescriptorNetwork
from services.core.registry import Registry
from services.core.settings import Settings

CHECK_SECONDS = 2.0
LEGACY_DESCRIPTOR = "dlib-resnet_v1"  # faces described before the network was recorded


def descriptor_of(descriptor_model: str | None) -> str:
    return descriptor_model or LEGACY_DESCRIPTOR


@dataclass(frozen=True)
class NetworkChoice:
    network: DescriptorNetwork
    flip: bool

    @property
    def label(self) -> str:
        return self.network.label + ("+flip" if self.flip else "")


def parse_label(label: str) -> NetworkChoice:
    """``sface-2021dec+flip`` -> (sface, flip)."""
    base, _, option = label.partition("+")
    name = base.split("-", 1)[0]
    if name not in NETWORKS or NETWORKS[name].label != base:
        raise FacetagError(f"unknown descriptor network {label!r}")
    return NetworkChoice(NETWORKS[name], option == "flip")


def configured(settings: Settings) -> NetworkChoice:
    return NetworkChoice(NETWORKS[settings.descriptor], settings.descriptor_flip)


class LibraryNetwork:
    """The network of the current model (or the setting), looked up at most every few seconds."""

    def __init__(self, settings: Settings, registry: Registry) -> None:
        self.settings = settings
        self.registry = registry
        self._lock = threading.Lock()
        self._checked = 0.0
        self._choice = configured(settings)

    def current(self) -> NetworkChoice:
        with self._lock:
            if time.monotonic() - self._checked >= CHECK_SECONDS:
                manifest = self.registry.current_manifest()
                self._choice = configured(self.settings) if manifest is None else parse_label(manifest.descriptor)
                self._checked = time.monotonic()
            return self._choice
