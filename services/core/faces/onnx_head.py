"""The identity head in ONNX, appended to the descriptor network so one graph does it all.

Published graph: input ``chips`` (N, 150, 150, 3) uint8; outputs ``descriptors`` (N, 128),
``person_distances`` (N, P), ``best_index`` (N,) int64, ``best_distance`` (N,). The head computes
squared distances to every exemplar as |x|^2 - 2 x.g + |g|^2 (padding rows get a large penalty),
takes each person's minimum, then the nearest person. Labels and the threshold are in the manifest.
"""

from __future__ import annotations

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from services.core.faces.onnx_export import OUTPUT_NAME as DESCRIPTORS
from services.core.registry import OUT_BEST_DISTANCE, OUT_BEST_INDEX, OUT_DISTANCES

PAD_PENALTY = 1e6


def _head(gallery: NDArray[np.float32], mask: NDArray[np.bool_]
          ) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    n_people, width, dim = gallery.shape
    flat = gallery.reshape(-1, dim).astype(np.float32)
    inits = [
        numpy_helper.from_array(np.ascontiguousarray(flat.T), "head_gallery_t"),  # (dim, P*K)
        numpy_helper.from_array(((flat.astype(np.float64) ** 2).sum(axis=1)
                                 + np.where(mask.reshape(-1), 0.0, PAD_PENALTY)).astype(np.float32)[None, :],
                                "head_gallery_sq"),  # (1, P*K)
        numpy_helper.from_array(np.array([-2.0], dtype=np.float32), "head_minus_two"),
        numpy_helper.from_array(np.array([0.0], dtype=np.float32), "head_zero"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "head_axis1"),
        numpy_helper.from_array(np.array([-1, n_people, width], dtype=np.int64), "head_shape"),
    ]
    nodes = [
        helper.make_node("Mul", [DESCRIPTORS, DESCRIPTORS], ["head_x_sq"]),
        helper.make_node("ReduceSum", ["head_x_sq", "head_axis1"], ["head_x_norm"], keepdims=1),  # (N, 1)
        helper.make_node("MatMul", [DESCRIPTORS, "head_gallery_t"], ["head_dot"]),  # (N, P*K)
        helper.make_node("Mul", ["head_dot", "head_minus_two"], ["head_dot2"]),
        helper.make_node("Add", ["head_dot2", "head_x_norm"], ["head_d2a"]),
        helper.make_node("Add", ["head_d2a", "head_gallery_sq"], ["head_d2b"]),
        helper.make_node("Max", ["head_d2b", "head_zero"], ["head_d2"]),  # rounding never goes below 0
        helper.make_node("Reshape", ["head_d2", "head_shape"], ["head_d2_pk"]),  # (N, P, K)
        helper.make_node("ReduceMin", ["head_d2_pk"], ["head_person_d2"], axes=[2], keepdims=0),  # (N, P)
        helper.make_node("Sqrt", ["head_person_d2"], [OUT_DISTANCES]),
        helper.make_node("ArgMin", [OUT_DISTANCES], [OUT_BEST_INDEX], axis=1, keepdims=0),
        helper.make_node("ReduceMin", [OUT_DISTANCES], [OUT_BEST_DISTANCE], axes=[1], keepdims=0),
    ]
    return nodes, inits


def _outputs(n_people: int) -> list[onnx.ValueInfoProto]:
    return [
        helper.make_tensor_value_info(OUT_DISTANCES, TensorProto.FLOAT, ["batch", n_people]),
        helper.make_tensor_value_info(OUT_BEST_INDEX, TensorProto.INT64, ["batch"]),
        helper.make_tensor_value_info(OUT_BEST_DISTANCE, TensorProto.FLOAT, ["batch"]),
    ]


def merge_head(backbone: onnx.ModelProto, gallery: NDArray[np.float32], mask: NDArray[np.bool_]
               ) -> onnx.ModelProto:
    """The backbone with the head appended; the backbone's ``descriptors`` stays an output."""
    model = onnx.ModelProto()
    model.CopyFrom(backbone)
    if [o.name for o in model.graph.output] != [DESCRIPTORS]:
        raise ValueError(f"the backbone should have the single output {DESCRIPTORS!r}")
    nodes, inits = _head(gallery, mask)
    model.graph.node.extend(nodes)
    model.graph.initializer.extend(inits)
    model.graph.output.extend(_outputs(gallery.shape[0]))
    model.graph.name = "facetag_identity"
    onnx.checker.check_model(model)
    return model


def head_only(gallery: NDArray[np.float32], mask: NDArray[np.bool_], opset: int = 17) -> onnx.ModelProto:
    """The head alone (descriptors in), for tests and quick evaluation."""
    nodes, inits = _head(gallery, mask)
    graph = helper.make_graph(
        nodes, "facetag_identity_head",
        [helper.make_tensor_value_info(DESCRIPTORS, TensorProto.FLOAT, ["batch", gallery.shape[2]])],
        _outputs(gallery.shape[0]), inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="facetag")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def extract_head(model_bytes: bytes) -> bytes:
    """The head of a published graph as its own graph with input ``descriptors``.

    Lets the trainer and re-tagging reuse stored descriptors instead of running the backbone again.
    """
    full = onnx.load_from_string(model_bytes)
    outputs = {o.name for o in full.graph.output}
    missing = {OUT_DISTANCES, OUT_BEST_INDEX, OUT_BEST_DISTANCE} - outputs
    if missing:
        raise ValueError(f"not a published identity model: no output {sorted(missing)}")
    head_nodes = [n for n in full.graph.node if n.name.startswith("head_") or
                  any(o.startswith("head_") or o in (OUT_DISTANCES, OUT_BEST_INDEX, OUT_BEST_DISTANCE)
                      for o in n.output)]
    needed = {i for n in head_nodes for i in n.input}
    inits = [t for t in full.graph.initializer if t.name in needed]
    descriptor_out = next(v for v in [*full.graph.output, *full.graph.input] if v.name == DESCRIPTORS)
    graph = helper.make_graph(head_nodes, "facetag_identity_head", [descriptor_out],
                              [o for o in full.graph.output if o.name != DESCRIPTORS], inits)
    model = helper.make_model(graph, opset_imports=list(full.opset_import), producer_name="facetag")
    model.ir_version = full.ir_version
    onnx.checker.check_model(model)
    return model.SerializeToString()
