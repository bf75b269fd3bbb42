"""Execution providers: what was asked for, or a clear refusal; never a silent fall back."""

from __future__ import annotations

import onnxruntime as ort
import pytest

from services.core.faces.onnx_session import ProviderUnavailable, choose_providers


def test_auto_prefers_cuda_and_falls_back_to_cpu() -> None:
    providers = choose_providers("auto")
    assert providers[-1] == "CPUExecutionProvider"
    assert ("CUDAExecutionProvider" in providers) == ("CUDAExecutionProvider" in ort.get_available_providers())


@pytest.mark.skipif("CUDAExecutionProvider" in ort.get_available_providers(), reason="this machine has CUDA")
def test_cuda_without_cuda_fails_with_a_clear_message() -> None:
    with pytest.raises(ProviderUnavailable, match=r"no CUDA provider.*FACETAG_EXECUTION_PROVIDER=auto or cpu"):
        choose_providers("cuda")


def test_descriptor_reports_its_provider(analyzer) -> None:  # type: ignore[no-untyped-def]
    assert analyzer.descriptors.provider == "CPUExecutionProvider"


def test_the_services_onnx_threads_never_spin_wait(analyzer) -> None:  # type: ignore[no-untyped-def]
    """Spinning threads busy-wait between runs: on cores shared with other workers they slow everyone."""
    options = analyzer.descriptors.model.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
