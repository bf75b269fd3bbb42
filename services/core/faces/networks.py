"""Descriptor networks: which ones there are, the chips each expects, and their backbone graphs.

Every backbone Facetag serves has the same contract, whatever network is inside: input ``chips``,
uint8 (N, S, S, 3) RGB aligned the network's way; output ``descriptors``, float (N, D). The trainer
appends the identity head to it, so one published graph does chips -> descriptors -> names.

- ``sface`` (default): OpenCV Zoo's SFace, 128-D, 112 px chips aligned to the ArcFace 5-point
  template; descriptors are L2-normalised, so distances run from 0 to 2.
- ``dlib``: dlib's ResNet, 128-D, dlib's own 150 px chips; raw descriptors (dlib's 0.6 rule).
- ``mbf``: InsightFace MobileFaceNet w600k, 512-D, 112 px template chips, L2-normalised. Its weights
  are for non-commercial research only; it is served only when that licence is accepted in settings.

``flip`` averages each chip's descriptor with its mirror image's inside the graph (measured in
``bench/identify.py``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper, version_converter
from pydantic import BaseModel

from services.core.errors import FacetagError
from services.core.faces import packaged
from services.core.faces.model_files import (
    DESCRIPTOR_FILE,
    ModelFileError,
    already_prepared,
    atomic_write,
    prepare_descriptor_model,
    read_manifest,
    sha256_file,
    verify_descriptor_model,
)
from services.core.faces.onnx_export import INPUT_NAME, OUTPUT_NAME

log = logging.getLogger(__name__)
OPSET = 17
BUILDER_VERSION = 1  # bump when the wrapper changes what it writes


class LicenceNotAccepted(FacetagError):
    """A network whose weights carry a restrictive licence was asked for without accepting it."""


@dataclass(frozen=True)
class DescriptorNetwork:
    name: str
    version: str
    alignment: str  # "template112" (ArcFace 5-point template) or "dlib150" (dlib's face chips)
    chip_size: int
    dimension: int
    normalised: bool
    default_threshold: float  # used when there is nothing to calibrate on
    threshold_range: tuple[float, float]  # where calibration looks
    source: packaged.PackagedModel | None = None  # None: converted from dlib by Facetag
    mean: float = 0.0  # input = (pixel - mean) * scale, applied inside the graph
    scale: float = 1.0
    licence: str = ""
    restricted: bool = False  # needs FACETAG_ACCEPT_MODEL_LICENCE naming it

    @property
    def label(self) -> str:
        return f"{self.name}-{self.version}"


NETWORKS = {
    "sface": DescriptorNetwork(name="sface", version="2021dec", alignment="template112", chip_size=112, dimension=128,
                               normalised=True, default_threshold=1.13, threshold_range=(0.6, 1.5),
                               source=packaged.SFACE, licence="Apache-2.0"),
    "dlib": DescriptorNetwork(name="dlib", version="resnet_v1", alignment="dlib150", chip_size=150, dimension=128,
                              normalised=False, default_threshold=0.6, threshold_range=(0.3, 0.8), licence="CC0"),
    "mbf": DescriptorNetwork(name="mbf", version="w600k", alignment="template112", chip_size=112, dimension=512,
                             normalised=True, default_threshold=1.2, threshold_range=(0.6, 1.5),
                             source=packaged.MOBILEFACENET, mean=127.5, scale=1 / 127.5,
                             licence=packaged.MOBILEFACENET.licence, restricted=True),
}


def network(name: str, accepted_licences: frozenset[str] = frozenset()) -> DescriptorNetwork:
    try:
        net = NETWORKS[name]
    except KeyError:
        raise ValueError(f"unknown descriptor network {name!r}; choose one of {', '.join(NETWORKS)}") from None
    if net.restricted and name not in accepted_licences:
        raise LicenceNotAccepted(
            f"the {name} descriptor network's weights are licensed '{net.licence}'. To use it anyway, accept "
            f"that licence explicitly: FACETAG_ACCEPT_MODEL_LICENCE={name}. Otherwise use sface (Apache-2.0).")
    return net


class BackboneManifest(BaseModel):
    network: str
    label: str
    file: str
    sha256: str
    flip: bool
    source_sha256: str
    builder_version: int


def backbone_file(net: DescriptorNetwork, flip: bool) -> str:
    if net.source is None and not flip:
        return DESCRIPTOR_FILE
    return f"backbone_{net.name}_{net.version}{'_flip' if flip else ''}.onnx"


def _const(name: str, value: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(value, name)


def wrap_backbone(source: onnx.ModelProto, net: DescriptorNetwork, flip: bool) -> onnx.ModelProto:
    """``source`` (float NCHW in, one output) behind Facetag's contract: uint8 NHWC chips in,
    (optionally flip-averaged, L2-normalised) descriptors out."""
    model = version_converter.convert_version(source, OPSET)
    graph = model.graph
    initializers = {t.name for t in graph.initializer}
    (source_in,) = [i.name for i in graph.input if i.name not in initializers]
    (source_out,) = [o.name for o in graph.output]
    prefix: list[onnx.NodeProto] = []
    tail: list[onnx.NodeProto] = []
    consts = [_const("wrap_mean", np.array([net.mean], np.float32)),
              _const("wrap_scale", np.array([net.scale], np.float32))]
    net_in = "wrap_input"
    if flip:
        consts += [_const("wrap_flip_starts", np.array([-1], np.int64)),
                   _const("wrap_flip_ends", np.array([-(2**62)], np.int64)),
                   _const("wrap_flip_axes", np.array([2], np.int64)),
                   _const("wrap_flip_steps", np.array([-1], np.int64)),
                   _const("wrap_two", np.array([2], np.int64)),
                   _const("wrap_axis0", np.array([0], np.int64))]
        prefix += [helper.make_node("Slice", [INPUT_NAME, "wrap_flip_starts", "wrap_flip_ends", "wrap_flip_axes",
                                              "wrap_flip_steps"], ["wrap_mirrored"]),
                   helper.make_node("Concat", [INPUT_NAME, "wrap_mirrored"], ["wrap_both"], axis=0)]
        chips = "wrap_both"
    else:
        chips = INPUT_NAME
    prefix += [helper.make_node("Cast", [chips], ["wrap_float"], to=TensorProto.FLOAT),
               helper.make_node("Sub", ["wrap_float", "wrap_mean"], ["wrap_centred"]),
               helper.make_node("Mul", ["wrap_centred", "wrap_scale"], ["wrap_scaled"]),
               helper.make_node("Transpose", ["wrap_scaled"], [net_in], perm=[0, 3, 1, 2])]
    raw = source_out
    if flip:
        tail += [helper.make_node("Shape", [source_out], ["wrap_shape"]),
                 helper.make_node("Gather", ["wrap_shape", "wrap_axis0"], ["wrap_rows"]),
                 helper.make_node("Div", ["wrap_rows", "wrap_two"], ["wrap_half"]),
                 helper.make_node("Concat", ["wrap_half", "wrap_half"], ["wrap_split"], axis=0),
                 helper.make_node("Split", [source_out, "wrap_split"], ["wrap_plain", "wrap_mirror"], axis=0),
                 helper.make_node("Add", ["wrap_plain", "wrap_mirror"], ["wrap_sum"])]
        raw = "wrap_sum"
    if net.normalised:
        tail.append(helper.make_node("LpNormalization", [raw], [OUTPUT_NAME], axis=1, p=2))
    else:
        if flip:
            consts.append(_const("wrap_half_f", np.array([0.5], np.float32)))
            tail.append(helper.make_node("Mul", [raw, "wrap_half_f"], [OUTPUT_NAME]))
        else:
            tail.append(helper.make_node("Identity", [raw], [OUTPUT_NAME]))
    for node in graph.node:
        node.input[:] = [net_in if name == source_in else name for name in node.input]
    nodes = [*prefix, *graph.node, *tail]
    kept_inits = [*graph.initializer, *consts]
    new_graph = helper.make_graph(
        nodes, f"facetag_{net.name}",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", net.chip_size, net.chip_size, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", net.dimension])],
        kept_inits)
    wrapped = helper.make_model(new_graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facetag")
    wrapped.ir_version = 8
    onnx.checker.check_model(wrapped)
    return wrapped


def _manifest_path(model: Path) -> Path:
    return model.with_suffix(".json")


def verify_backbone(net: DescriptorNetwork, flip: bool, cache_dir: Path) -> BackboneManifest:
    model = cache_dir / backbone_file(net, flip)
    if net.source is None and not flip:
        dlib = verify_descriptor_model(cache_dir)
        return BackboneManifest(network=net.name, label=net.label, file=model.name, sha256=dlib.sha256, flip=False,
                                source_sha256=dlib.source_sha256, builder_version=BUILDER_VERSION)
    manifest = read_manifest(model, BackboneManifest)
    if manifest.builder_version != BUILDER_VERSION or sha256_file(model) != manifest.sha256:
        raise ModelFileError(f"{model} is damaged or from another version of Facetag; run "
                             "'facetag models prepare'.")
    return manifest


def prepare_backbone(net: DescriptorNetwork, flip: bool, cache_dir: Path, *, force: bool = False,
                     fetch: bool = True) -> tuple[BackboneManifest, bool]:
    """A verified backbone graph for ``net`` in ``cache_dir``; built from its source when missing."""
    ready = already_prepared(lambda: verify_backbone(net, flip, cache_dir), f"the {net.label} backbone", force)
    if ready is not None:
        return ready, False
    if net.source is None:
        dlib, built = prepare_descriptor_model(cache_dir, force=force)
        if not flip:
            return verify_backbone(net, flip, cache_dir), built
        source = onnx.load(str(cache_dir / DESCRIPTOR_FILE))
        source = _unwrap_dlib_input(source)
        source_sha = dlib.sha256
    else:
        packaged.prepare_packaged(net.source, cache_dir, force=force, fetch=fetch)
        source = onnx.load(str(cache_dir / net.source.output))
        source_sha = net.source.sha256
    data = wrap_backbone(source, net, flip).SerializeToString()
    model = cache_dir / backbone_file(net, flip)
    atomic_write(model, data)
    manifest = BackboneManifest(network=net.name, label=net.label, file=model.name,
                                sha256=hashlib.sha256(data).hexdigest(), flip=flip, source_sha256=source_sha,
                                builder_version=BUILDER_VERSION)
    atomic_write(_manifest_path(model), json.dumps(manifest.model_dump(), indent=2).encode())
    return manifest, True


def _unwrap_dlib_input(model: onnx.ModelProto) -> onnx.ModelProto:
    """dlib's converted graph takes uint8 NHWC chips; give it a float NCHW input so it wraps like the others."""
    graph = model.graph
    cast = next(n for n in graph.node if n.op_type == "Cast" and n.input[0] == INPUT_NAME)
    float_nhwc = cast.output[0]
    graph.node.remove(cast)
    graph.node.insert(0, helper.make_node("Transpose", ["dlib_nchw"], [float_nhwc], perm=[0, 2, 3, 1]))
    del graph.input[:]
    graph.input.append(helper.make_tensor_value_info("dlib_nchw", TensorProto.FLOAT, ["batch", 3, 150, 150]))
    graph.output[0].name = "dlib_raw"
    for node in graph.node:
        node.output[:] = ["dlib_raw" if name == OUTPUT_NAME else name for name in node.output]
    return model


def backbone_path(net: DescriptorNetwork, flip: bool, cache_dir: Path) -> Path:
    """A verified backbone; builds from local files only (dlib's conversion), never fetches."""
    prepare_backbone(net, flip, cache_dir, fetch=False)
    return cache_dir / backbone_file(net, flip)
