"""The dlib network reader on the real weights file, and on damaged copies of it."""

from __future__ import annotations

import pytest

from services.core.faces.dlib_format import AddPrev, Conv, DlibFormatError, FullyConnected, Pool, read_network
from services.core.faces.model_files import descriptor_source


@pytest.fixture(scope="module")
def weights() -> bytes:
    return descriptor_source().read_bytes()


def test_reads_the_resnet_descriptor_network(weights: bytes) -> None:
    net = read_network(weights)
    assert net.loss_name == "loss_metric_2"
    assert net.loss_params == pytest.approx((0.04, 0.6))
    assert net.input_size == (150, 150)
    assert net.channel_means == pytest.approx((122.782, 117.001, 104.298))
    assert net.layer_versions == 130
    convs = [layer for layer in net.layers if isinstance(layer, Conv)]
    assert len(convs) == 29 and convs[0].weights.shape == (32, 3, 7, 7)
    assert sum(isinstance(layer, AddPrev) for layer in net.layers) == 14
    assert isinstance(net.layers[-2], Pool) and net.layers[-2].window == (0, 0)
    fc = net.layers[-1]
    assert isinstance(fc, FullyConnected) and fc.weights.shape == (256, 128) and fc.bias is None


def test_truncated_file_is_refused(weights: bytes) -> None:
    with pytest.raises(DlibFormatError, match="ends early"):
        read_network(weights[: len(weights) // 2])


def test_other_network_is_refused(weights: bytes) -> None:
    tampered = weights.replace(b"loss_metric_2", b"loss_mmod_xx2", 1)
    with pytest.raises(DlibFormatError, match="loss_metric"):
        read_network(tampered)
