"""Hot reload in a classifier worker: verify, load beside the old model, swap; refuse what is broken."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from learning_data import BuiltModel
from prometheus_client import REGISTRY

from services.classifier.identity import IdentityModel, Prediction
from services.classifier.model_holder import ModelHolder, PublishedModel
from services.core import registry as reg
from services.core.blobs import open_blobs
from services.core.settings import Settings


class NoModel:
    version: str | None = None

    def predict(self, chips: np.ndarray) -> Prediction:
        return Prediction(np.zeros((len(chips), 128), dtype=np.float32))


def _holder(tmp_path: Path, **settings: object) -> ModelHolder:
    config = Settings(data_dir=tmp_path / "data", model_cache=tmp_path / "cache", execution_provider="cpu",
                      onnx_threads=1, **settings)  # type: ignore[arg-type]
    fallback: IdentityModel = NoModel()
    return ModelHolder(config, open_blobs(config.blob_url), lambda: fallback)


def _counted() -> tuple[float, float]:
    """facetag_model_reloads_total and facetag_models_refused_total of this process."""
    return (REGISTRY.get_sample_value("facetag_model_reloads_total") or 0.0,
            REGISTRY.get_sample_value("facetag_models_refused_total") or 0.0)


def _publish(holder: ModelHolder, model: BuiltModel, version: str) -> None:
    holder.registry.write_version(model.manifest(version), model.data)
    holder.registry.set_current(version, "test")


def test_descriptor_only_until_a_model_is_published(tmp_path: Path, built_models: list[BuiltModel],
                                                     chips: np.ndarray) -> None:
    holder = _holder(tmp_path)
    assert holder.current().version is None
    _publish(holder, built_models[0], "v1")
    assert holder.check()
    model = holder.current()
    assert isinstance(model, PublishedModel) and model.version == "v1"
    prediction = model.predict(chips)
    assert prediction.descriptors.shape == (3, 128)
    assert prediction.person_ids is not None and len(prediction.person_ids) == 3
    assert all(p is None or p in built_models[0].labels for p in prediction.person_ids)
    assert not holder.check()  # nothing new
    assert (tmp_path / "cache" / "published" / f"{model.sha256}.onnx").is_file()


def test_damaged_model_is_refused_and_reported_old_keeps_serving(tmp_path: Path, built_models: list[BuiltModel],
                                                                 chips: np.ndarray) -> None:
    holder = _holder(tmp_path)
    reloads, refused = _counted()
    _publish(holder, built_models[0], "v1")
    holder.check()
    good, other = built_models
    # v2: its file is damaged after the pointer moved (a disk fault, a bad copy).
    holder.registry.write_version(other.manifest("v2"), other.data)
    holder.registry.set_current("v2", "test")
    holder.blobs.put(reg.model_key("v2"), other.data[:1000])
    assert not holder.check()
    assert holder.current().version == "v1"
    assert holder.error is not None and "v2" in holder.error and "still serving v1" in holder.error
    beat = reg.read_beats(holder.blobs)[0]
    assert beat.model_version == "v1" and beat.model_error == holder.error
    holder.current().predict(chips)  # still works
    holder.registry.set_current("v1", "rollback")  # back on what it serves: the error is over
    assert not holder.check() and holder.error is None
    # v3: the hash matches, but it is not a model ONNX Runtime can load.
    junk = b"not an onnx graph" * 100
    holder.registry.write_version(good.manifest("v3", sha256=reg.sha256_bytes(junk)), junk)
    holder.registry.set_current("v3", "test", verify=False)
    assert not holder.check()
    assert "v3" in (holder.error or "") and holder.current().version == "v1"
    # v4: a good one again: served, the error is gone.
    _publish(holder, other, "v4")
    assert holder.check()
    assert holder.current().version == "v4" and holder.error is None
    assert _counted() == (reloads + 2, refused + 2)  # v1 and v4 loaded; v2 and v3 refused (the metrics)


def test_a_broken_current_model_at_start_serves_descriptors_only(tmp_path: Path,
                                                                 built_models: list[BuiltModel]) -> None:
    holder = _holder(tmp_path)
    _publish(holder, built_models[0], "v1")
    holder.blobs.put(reg.model_key("v1"), b"broken")
    assert holder.current().version is None
    assert holder.error is not None and "v1" in holder.error


def test_no_task_fails_during_swaps(tmp_path: Path, built_models: list[BuiltModel], chips: np.ndarray) -> None:
    holder = _holder(tmp_path)
    _publish(holder, built_models[0], "v1")
    holder.check()
    errors: list[BaseException] = []
    seen: set[str | None] = set()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                model = holder.current()  # a task takes the model once and keeps it to its end
                result = model.predict(chips[:1])
                assert result.person_ids is not None
                seen.add(model.version)
            except BaseException as exc:
                errors.append(exc)
                return

    threads = [threading.Thread(target=work) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(2, 6):
            _publish(holder, built_models[i % 2], f"v{i}")
            assert holder.check()
            time.sleep(0.2)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors
    assert holder.current().version == "v5"
    assert len(seen) >= 2


def test_periodic_check_picks_up_a_new_version(tmp_path: Path, built_models: list[BuiltModel]) -> None:
    holder = _holder(tmp_path, model_check_interval=0.2)
    holder.check()
    holder.start()
    try:
        _publish(holder, built_models[0], "v1")
        deadline = time.monotonic() + 10
        while holder.version != "v1" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.version == "v1"
    finally:
        holder.stop()


@pytest.mark.servers
def test_an_announcement_reloads_at_once(tmp_path: Path, built_models: list[BuiltModel], redis_url: str) -> None:
    holder = _holder(tmp_path, model_check_interval=120, broker_url=redis_url)
    holder.check()
    holder.start()
    try:
        time.sleep(1.0)  # the listener subscribes
        _publish(holder, built_models[1], "v1")
        reg.announce(holder.settings, "v1")
        deadline = time.monotonic() + 10
        while holder.version != "v1" and time.monotonic() < deadline:
            time.sleep(0.05)
        assert holder.version == "v1", "the announcement did not reach the worker"
    finally:
        holder.stop()


def test_a_withdrawn_model_is_dropped_from_memory_and_from_the_local_cache(tmp_path: Path,
                                                                           built_models: list[BuiltModel]) -> None:
    """After an erasure the models that learnt the person leave the registry: workers let go of them too."""
    holder = _holder(tmp_path)
    first, second = built_models
    _publish(holder, first, "v1")
    holder.check()
    holder.registry.write_version(second.manifest("v2"), second.data)
    holder.registry.set_current("v2", "test")
    holder.check()
    cache = tmp_path / "cache" / "published"
    assert len(list(cache.glob("*.onnx"))) == 2
    # v2 is withdrawn and the pointer goes back to v1: v2's file leaves the cache.
    holder.registry.set_current("v1", "v2 withdrawn")
    holder.registry.withdraw("v2", "test")
    assert holder.check() and holder.current().version == "v1"
    assert [p.stem for p in cache.glob("*.onnx")] == [holder.registry.manifest("v1").sha256]
    # v1 goes too and no model is left: back to descriptors only, nothing cached.
    holder.registry.clear_current()
    holder.registry.withdraw("v1", "test")
    assert holder.check() and holder.current().version is None
    assert list(cache.glob("*.onnx")) == []
    assert holder.registry.next_version() == "v3"  # withdrawn numbers are never used again
