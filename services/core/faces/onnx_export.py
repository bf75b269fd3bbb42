"""Build an ONNX graph equal to dlib's ResNet face descriptor network.

Graph input ``chips``: uint8, shape (N, 150, 150, 3), RGB, as dlib's face chip extractor returns them.
Graph output ``descriptors``: float32, shape (N, 128), dlib's raw (not normalised) descriptor.

Foldings that keep the result exact: the input normalisation ``(pixel - mean) / 256`` goes into the
first convolution's weights and bias (its padding is 0, so no border pixel sees the mean); every
``affine`` (frozen batch norm) goes into the convolution before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

import numpy as np
import onnx
from numpy.typing import NDArray
from onnx import TensorProto, helper, numpy_helper

from services.core.faces.dlib_format import (
    AddPrev,
    Affine,
    Conv,
    DlibFormatError,
    DlibNetwork,
    FullyConnected,
    Layer,
    Pool,
    Relu,
)

INPUT_NAME = "chips"
OUTPUT_NAME = "descriptors"
OPSET = 17

Shape = tuple[int, int, int]  # channels, rows, cols
_L = TypeVar("_L")


def _out_size(size: int, window: int, stride: int, pad: int) -> int:
    return 1 + (size + 2 * pad - window) // stride


@dataclass
class _GraphBuilder:
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)
    shapes: dict[str, Shape] = field(default_factory=dict)
    counter: int = 0

    def name(self, prefix: str) -> str:
        self.counter += 1
        return f"{prefix}_{self.counter}"

    def const(self, prefix: str, value: NDArray[np.generic]) -> str:
        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def conv(self, x: str, conv: Conv, affine: Affine | None, bias_shift: NDArray[np.float32] | None) -> str:
        weights = conv.weights.astype(np.float64)
        bias = conv.bias.astype(np.float64)
        if bias_shift is not None:
            bias = bias + bias_shift
        if affine is not None:
            weights = weights * affine.gamma.astype(np.float64)[:, None, None, None]
            bias = bias * affine.gamma + affine.beta
        out = self.name("conv")
        kernel = list(weights.shape[2:])
        pads = [conv.padding[0], conv.padding[1], conv.padding[0], conv.padding[1]]
        w_name = self.const("w", weights.astype(np.float32))
        b_name = self.const("b", bias.astype(np.float32))
        self.nodes.append(
            helper.make_node(
                "Conv", [x, w_name, b_name], [out], kernel_shape=kernel, strides=list(conv.stride), pads=pads
            )
        )
        _, h, w = self.shapes[x]
        self.shapes[out] = (
            weights.shape[0],
            _out_size(h, kernel[0], conv.stride[0], conv.padding[0]),
            _out_size(w, kernel[1], conv.stride[1], conv.padding[1]),
        )
        return out

    def relu(self, x: str) -> str:
        out = self.name("relu")
        self.nodes.append(helper.make_node("Relu", [x], [out]))
        self.shapes[out] = self.shapes[x]
        return out

    def pool(self, x: str, pool: Pool) -> str:
        out = self.name(f"{pool.kind}pool")
        c, h, w = self.shapes[x]
        if pool.window == (0, 0):
            self.nodes.append(helper.make_node("GlobalAveragePool", [x], [out]))
            self.shapes[out] = (c, 1, 1)
            return out
        op = "MaxPool" if pool.kind == "max" else "AveragePool"
        pads = [pool.padding[0], pool.padding[1], pool.padding[0], pool.padding[1]]
        self.nodes.append(
            helper.make_node(op, [x], [out], kernel_shape=list(pool.window), strides=list(pool.stride), pads=pads)
        )
        self.shapes[out] = (
            c,
            _out_size(h, pool.window[0], pool.stride[0], pool.padding[0]),
            _out_size(w, pool.window[1], pool.stride[1], pool.padding[1]),
        )
        return out

    def pad_to(self, x: str, shape: Shape) -> str:
        """Zero-pad at the end of each axis: dlib's add_prev treats missing elements as zeros."""
        have = self.shapes[x]
        if have == shape:
            return x
        extra = [target - size for target, size in zip(shape, have, strict=True)]
        pads = np.array([0, 0, 0, 0, 0, *extra], dtype=np.int64)
        out = self.name("pad")
        self.nodes.append(helper.make_node("Pad", [x, self.const("pads", pads)], [out], mode="constant"))
        self.shapes[out] = shape
        return out

    def add(self, a: str, b: str) -> str:
        shape: Shape = tuple(max(p, q) for p, q in zip(self.shapes[a], self.shapes[b], strict=True))  # type: ignore[assignment]
        out = self.name("add")
        self.nodes.append(helper.make_node("Add", [self.pad_to(a, shape), self.pad_to(b, shape)], [out]))
        self.shapes[out] = shape
        return out


class _LayerStream:
    def __init__(self, layers: list[Layer]) -> None:
        self.layers = layers
        self.pos = 0

    def peek(self) -> Layer | None:
        return self.layers[self.pos] if self.pos < len(self.layers) else None

    def take(self, kind: type[_L]) -> _L:
        layer = self.peek()
        if not isinstance(layer, kind):
            found = type(layer).__name__ if layer is not None else "the end"
            raise DlibFormatError(f"layer {self.pos}: expected {kind.__name__}, found {found}")
        self.pos += 1
        return layer


def _input_shift(conv: Conv, means: tuple[float, float, float]) -> tuple[Conv, NDArray[np.float32]]:
    """Fold ``(x - mean) / 256`` into the first convolution; return it with the bias shift to add."""
    if conv.padding != (0, 0):
        raise DlibFormatError("the first convolution pads its input; the normalisation cannot be folded")
    scaled = conv.weights.astype(np.float64) / 256.0
    mean = np.asarray(means, dtype=np.float64)
    shift = -(scaled * mean[None, :, None, None]).sum(axis=(1, 2, 3))
    return Conv(scaled.astype(np.float32), conv.bias, conv.stride, conv.padding), shift.astype(np.float32)


def build_descriptor_graph(net: DlibNetwork) -> onnx.ModelProto:
    """Translate the parsed network into an ONNX model (dynamic batch)."""
    g = _GraphBuilder()
    stream = _LayerStream(net.layers)
    rows, cols = net.input_size

    as_float = g.name("as_float")
    g.nodes.append(helper.make_node("Cast", [INPUT_NAME], [as_float], to=TensorProto.FLOAT))
    x = g.name("nchw")
    g.nodes.append(helper.make_node("Transpose", [as_float], [x], perm=[0, 3, 1, 2]))
    g.shapes[x] = (3, rows, cols)

    stem, shift = _input_shift(stream.take(Conv), net.channel_means)
    x = g.relu(g.conv(x, stem, stream.take(Affine), shift))
    stream.take(Relu)
    x = g.pool(x, stream.take(Pool))

    # Residual blocks: conv-affine-relu-conv-affine, then (avg_pool of the block input for a
    # downsampling block) add_prev, relu.
    while isinstance(stream.peek(), Conv):
        block_input = x
        y = g.relu(g.conv(x, stream.take(Conv), stream.take(Affine), None))
        stream.take(Relu)
        y = g.conv(y, stream.take(Conv), stream.take(Affine), None)
        skip = g.pool(block_input, stream.take(Pool)) if isinstance(stream.peek(), Pool) else block_input
        stream.take(AddPrev)
        x = g.relu(g.add(skip, y))
        stream.take(Relu)

    pooled = g.pool(x, stream.take(Pool))
    fc = stream.take(FullyConnected)
    if stream.peek() is not None:
        raise DlibFormatError(f"unexpected layers after the fully connected output (layer {stream.pos})")
    flat = g.name("flat")
    g.nodes.append(helper.make_node("Flatten", [pooled], [flat], axis=1))
    matmul_out = OUTPUT_NAME if fc.bias is None else g.name("fc")
    g.nodes.append(helper.make_node("MatMul", [flat, g.const("fc_w", fc.weights)], [matmul_out]))
    if fc.bias is not None:
        g.nodes.append(helper.make_node("Add", [matmul_out, g.const("fc_b", fc.bias)], [OUTPUT_NAME]))

    graph = helper.make_graph(
        g.nodes,
        "dlib_face_descriptor",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.UINT8, ["batch", rows, cols, 3])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["batch", fc.weights.shape[1]])],
        g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="facetag")
    model.ir_version = 8  # readable by every ONNX Runtime from 1.10 on
    onnx.checker.check_model(model)
    return model
