"""The face networks inside the gateway, for searching by a photo: bytes in, faces and one descriptor out.

The gateway runs no face network for uploads (the workers do); a search or a verification has to look at
a photo while the client waits, so the gateway loads the configured detector and the library's descriptor
network itself, on the first such request, and keeps them for the life of the process. Every probe runs
on one thread of its own: one photo at a time, so a burst of searches queues up here instead of taking
every core and the memory of many decoded photos, and the event loop keeps answering everything else.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from services.core.blobs import BlobStore
from services.core.domain import Box
from services.core.faces.decode import DETECT_DECODE_PIXELS, decode_image
from services.core.library_network import LibraryNetwork, NetworkChoice
from services.core.registry import Registry
from services.core.settings import Settings

if TYPE_CHECKING:  # imported on first use: ONNX Runtime and OpenCV stay out of a gateway nobody searches
    from services.core.faces.analyzer import Descriptors, FaceFinder

log = logging.getLogger(__name__)
_RUNNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="face-probe")
_LOAD_LOCK = threading.Lock()
_FINDERS: dict[tuple[object, ...], FaceFinder] = {}
_DESCRIPTORS: dict[tuple[object, ...], Descriptors] = {}


class NoFace(Exception):
    """The photo decoded, but no face was found in it."""


@dataclass(frozen=True)
class ProbedFace:
    index: int  # faces are numbered largest first
    box: Box  # in the photo's own (upright) pixels
    detection_score: float
    quality: float


@dataclass(frozen=True)
class Probe:
    faces: list[ProbedFace]
    chosen: int
    descriptor: NDArray[np.float32]
    network: str  # descriptor network label, as faces record it

    @property
    def face(self) -> ProbedFace:
        return self.faces[self.chosen]


class FaceIndexOutOfRange(Exception):
    def __init__(self, asked: int, found: int) -> None:
        super().__init__(f"The photo has {found} face{'s' if found != 1 else ''} (numbered 0 to {found - 1}, "
                         f"largest first); there is no face {asked}.")


def _detector_key(settings: Settings) -> tuple[object, ...]:
    return (settings.model_cache, settings.detector, settings.upsample, settings.max_detect_side,
            settings.detect_recheck, settings.execution_provider, settings.onnx_threads)


def _finder(settings: Settings, choice: NetworkChoice) -> FaceFinder:
    """A finder cutting chips for ``choice``'s network; the detector itself is loaded once per process."""
    from services.core.faces.analyzer import FaceFinder

    key = (*_detector_key(settings), choice.network.name)
    with _LOAD_LOCK:
        finder = _FINDERS.get(key)
        if finder is None:
            base = next((f for k, f in _FINDERS.items() if k[:-1] == key[:-1]), None)
            if base is None:
                finder = FaceFinder.from_settings(settings, net=choice.network)
                log.info("face search: detector %s loaded in the gateway", finder.detector_label)
            else:  # the same detector, chips for another network (after a network switch)
                finder = FaceFinder(base.detector, base.max_side, choice.network, base.landmarker.centerface,
                                    recheck=base.recheck is not None)
            _FINDERS[key] = finder
        return finder


def _descriptors(settings: Settings, choice: NetworkChoice) -> Descriptors:
    from services.core.faces.analyzer import Descriptors

    key = (settings.model_cache, settings.execution_provider, settings.onnx_threads, choice.label)
    with _LOAD_LOCK:
        found = _DESCRIPTORS.get(key)
        if found is None:
            found = Descriptors(settings, choice.network, choice.flip)
            _DESCRIPTORS[key] = found
        return found


def _scaled(box: Box, scale: float) -> Box:
    if scale == 1.0:
        return box
    return Box(left=round(box.left * scale), top=round(box.top * scale), width=max(1, round(box.width * scale)),
               height=max(1, round(box.height * scale)))


class FaceProbe:
    """One gateway's face search: which network the library runs on, and the probe itself."""

    def __init__(self, settings: Settings, blobs: BlobStore) -> None:
        self.settings = settings
        self.blobs = blobs

    @cached_property
    def library(self) -> LibraryNetwork:
        return LibraryNetwork(self.settings, Registry(self.blobs))

    def network(self) -> NetworkChoice:
        """The network the library's descriptors are made with now (reads the registry every few seconds)."""
        return self.library.current()

    def _probe(self, data: bytes, face: int | None) -> Probe:
        decoded = decode_image(data, self.settings.max_pixels, DETECT_DECODE_PIXELS)
        choice = self.network()
        finder = _finder(self.settings, choice)
        found = finder.find(decoded.rgb)
        if not found:
            raise NoFace(f"No face was found in the {decoded.width}x{decoded.height} photo; send a photo where "
                         "the face is clearly visible (at least about 20 pixels wide), or crop it closer.")
        found.sort(key=lambda f: (-f.box.width * f.box.height, f.box.left, f.box.top))
        chosen = 0 if face is None else face
        if chosen >= len(found):
            raise FaceIndexOutOfRange(chosen, len(found))
        vector = _descriptors(self.settings, choice).compute(found[chosen].chip[None])[0]
        faces = [ProbedFace(i, _scaled(f.box, decoded.scale), round(float(f.score), 4), f.quality.score)
                 for i, f in enumerate(found)]
        return Probe(faces, chosen, vector.astype(np.float32), choice.label)

    async def probe(self, data: bytes, face: int | None = None) -> Probe:
        """Decode, find the faces, and describe one (``face``, numbered largest first; the largest if None).
        Raises ImageDecodeError (the upload's own 4xx), NoFace or FaceIndexOutOfRange."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(_RUNNER, self._probe, data, face)
