"""Reader for dlib's binary serialization of the face descriptor network.

Only what ``dlib_face_recognition_resnet_model_v1.dat`` uses is read: the loss header, the layer
version stack, the input layer, and the per-layer details (convolution, affine, relu, pooling,
add_prev, fully connected). The result is a flat list of layer records, first in the forward pass
first; :mod:`services.core.faces.onnx_export` rebuilds the graph from them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

INPUT_LAYER_NAME = b"input_rgb_image_sized"


class DlibFormatError(ValueError):
    """The file is not the dlib network this reader understands."""


@dataclass
class Conv:
    weights: NDArray[np.float32]  # OIHW
    bias: NDArray[np.float32]
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass
class Affine:
    gamma: NDArray[np.float32]
    beta: NDArray[np.float32]


@dataclass
class Relu:
    pass


@dataclass
class Pool:
    kind: str  # "max" or "avg"
    window: tuple[int, int]  # (0, 0) = the whole plane
    stride: tuple[int, int]
    padding: tuple[int, int]


@dataclass
class AddPrev:
    pass


@dataclass
class FullyConnected:
    weights: NDArray[np.float32]  # (inputs, outputs): out = x @ weights
    bias: NDArray[np.float32] | None


Layer = Conv | Affine | Relu | Pool | AddPrev | FullyConnected


@dataclass
class DlibNetwork:
    loss_name: str
    loss_params: tuple[float, ...]
    channel_means: tuple[float, float, float]  # R, G, B
    input_size: tuple[int, int]  # rows, cols
    layer_versions: int  # how many layer wrappers the file declares (tags and skips included)
    layers: list[Layer] = field(default_factory=list)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DlibFormatError(f"file ends early at byte {self.pos} (wanted {n} more bytes)")
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def int_(self, signed: bool = True) -> int:
        ctrl = self._take(1)[0]
        size = ctrl & 0x0F
        negative = bool(ctrl & 0x80)
        if size > 8 or ctrl & 0x70 or (negative and not signed):
            raise DlibFormatError(f"bad integer control byte 0x{ctrl:02x} at byte {self.pos - 1}")
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if negative else value

    def float_(self) -> float:
        mantissa = self.int_()
        exponent = self.int_()
        special = {32000: float("inf"), 32001: float("-inf"), 32002: float("nan")}
        if exponent in special:
            return special[exponent]
        return float(mantissa) * 2.0**exponent

    def bool_(self) -> bool:
        byte = self._take(1)
        if byte not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool byte {byte!r} at byte {self.pos - 1}")
        return byte == b"1"

    def string(self) -> bytes:
        return self._take(self.int_(signed=False))

    def peek_string(self) -> bytes | None:
        """The next value read as a string, without consuming it; None if it cannot be one."""
        saved = self.pos
        try:
            return self.string()
        except DlibFormatError:
            return None
        finally:
            self.pos = saved

    def tensor(self) -> NDArray[np.float32]:
        version = self.int_()
        if version != 2:
            raise DlibFormatError(f"unsupported tensor version {version} at byte {self.pos}")
        shape = tuple(self.int_() for _ in range(4))
        count = int(np.prod(shape))
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(shape)

    def alias_shape(self) -> tuple[int, int, int, int]:
        version = self.int_()
        if version != 1:
            raise DlibFormatError(f"unsupported alias tensor version {version} at byte {self.pos}")
        n, k, nr, nc = (self.int_() for _ in range(4))
        return n, k, nr, nc


def _read_conv(r: _Reader) -> Conv:
    params = r.tensor().ravel()
    num_filters = r.int_()
    nr, nc = r.int_(), r.int_()
    stride = (r.int_(), r.int_())
    padding = (r.int_(), r.int_())
    filters_shape = r.alias_shape()
    biases_shape = r.alias_shape()
    for _ in range(4):  # learning-rate and weight-decay multipliers: training only
        r.float_()
    if filters_shape[0] != num_filters or filters_shape[2:] != (nr, nc):
        raise DlibFormatError(f"convolution filter shape {filters_shape} disagrees with its header")
    n_weights = int(np.prod(filters_shape))
    if params.size != n_weights + num_filters or int(np.prod(biases_shape)) != num_filters:
        raise DlibFormatError("convolution parameter count does not match its shape")
    weights = params[:n_weights].reshape(filters_shape)
    return Conv(weights=weights, bias=params[n_weights:].copy(), stride=stride, padding=padding)


def _read_affine(r: _Reader) -> Affine:
    params = r.tensor().ravel()
    gamma_shape = r.alias_shape()
    r.alias_shape()  # beta has the same shape
    r.int_()  # mode: per channel (conv) or per element (fc); per channel is what this network uses
    channels = int(np.prod(gamma_shape))
    if params.size != 2 * channels:
        raise DlibFormatError("affine parameter count does not match its shape")
    return Affine(gamma=params[:channels].copy(), beta=params[channels:].copy())


def _read_pool(r: _Reader, kind: str) -> Pool:
    window = (r.int_(), r.int_())
    stride = (r.int_(), r.int_())
    padding = (r.int_(), r.int_())
    return Pool(kind=kind, window=window, stride=stride, padding=padding)


def _read_fc(r: _Reader) -> FullyConnected:
    outputs = r.int_(signed=False)
    inputs = r.int_(signed=False)
    params = r.tensor().ravel()
    r.alias_shape()  # weights view
    r.alias_shape()  # biases view
    bias_mode = r.int_()
    for _ in range(4):
        r.float_()
    weights = params[: inputs * outputs].reshape(inputs, outputs)
    has_bias = bias_mode == 0 and params.size == (inputs + 1) * outputs
    bias = params[inputs * outputs :].copy() if has_bias else None
    return FullyConnected(weights=weights.copy(), bias=bias)


def _read_layer(r: _Reader) -> Layer:
    name = r.string()
    if name == b"con_4":
        return _read_conv(r)
    if name == b"affine_":
        return _read_affine(r)
    if name == b"relu_":
        return Relu()
    if name == b"max_pool_2":
        return _read_pool(r, "max")
    if name == b"avg_pool_2":
        return _read_pool(r, "avg")
    if name == b"add_prev_":
        return AddPrev()
    if name == b"fc_2":
        return _read_fc(r)
    raise DlibFormatError(f"unsupported layer {name!r} at byte {r.pos}")


def read_network(data: bytes) -> DlibNetwork:
    """Parse a serialized ``loss_metric`` network; raises DlibFormatError on anything unexpected."""
    r = _Reader(data)
    r.int_()  # loss wrapper version
    loss_name = r.string().decode("ascii", "replace")
    if not loss_name.startswith("loss_metric"):
        raise DlibFormatError(f"expected a loss_metric network, found {loss_name!r}")
    loss_params = (r.float_(), r.float_())

    versions = 0
    while r.peek_string() != INPUT_LAYER_NAME:
        r.int_()
        versions += 1
        if r.at_end():
            raise DlibFormatError("no input_rgb_image_sized layer found")
    r.string()
    means = (r.float_(), r.float_(), r.float_())
    size = (r.int_(signed=False), r.int_(signed=False))

    layers: list[Layer] = []
    while not r.at_end():
        layers.append(_read_layer(r))
        for _ in range(3):  # setup / stale-gradient / disabled flags
            r.bool_()
        for _ in range(3):  # x_grad, cached output, params_grad: empty in a saved model
            r.tensor()
        if len(layers) == 1:
            r.int_(signed=False)  # the layer next to the input also stores its sample expansion factor
    return DlibNetwork(loss_name, loss_params, means, size, versions, layers)

