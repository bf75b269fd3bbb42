"""The model registry in the blob store, and worker heartbeats."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from learning_data import BuiltModel

from services.core import registry as reg
from services.core.blobs import open_blobs
from services.core.domain import utcnow
from services.core.errors import InvalidInput, NotFound


@pytest.fixture
def registry(tmp_path: Path) -> reg.Registry:
    return reg.Registry(open_blobs(f"file://{tmp_path / 'blobs'}"))


def test_empty_registry(registry: reg.Registry) -> None:
    assert registry.versions() == []
    assert registry.current() is None
    assert registry.next_version() == "v1"
    with pytest.raises(NotFound, match="GET /v1/admin/models"):
        registry.manifest("v1")
    with pytest.raises(InvalidInput):
        registry.manifest("../etc")


def test_versions_pointer_and_rollback(registry: reg.Registry, built_models: list[BuiltModel]) -> None:
    first, second = built_models
    registry.write_version(first.manifest("v1"), first.data)
    assert registry.current() is None  # stored is not live
    registry.set_current("v1", "first")
    registry.write_version(second.manifest("v2", parent_version="v1"), second.data)
    registry.set_current("v2", "better")
    assert registry.versions() == ["v1", "v2"]
    assert registry.next_version() == "v3"
    pointer = registry.current()
    assert pointer is not None and pointer.version == "v2" and pointer.sha256 == reg.sha256_bytes(second.data)
    registry.set_current("v1", "rollback")
    assert registry.current().version == "v1"  # type: ignore[union-attr]
    assert registry.manifest("v2").parent_version == "v1"
    with pytest.raises(Exception, match="exists already"):
        registry.write_version(first.manifest("v1"), first.data)


def test_a_damaged_file_is_never_made_current(registry: reg.Registry, built_models: list[BuiltModel]) -> None:
    model = built_models[0]
    registry.write_version(model.manifest("v1"), model.data)
    registry.set_current("v1", "first")
    with pytest.raises(ValueError, match="sha256"):
        registry.write_version(model.manifest("v2"), model.data[:-10])
    registry.write_version(model.manifest("v2"), model.data)
    registry.blobs.put(reg.model_key("v2"), model.data[: len(model.data) // 2])  # half-written
    with pytest.raises(reg.ModelCorrupt, match="damaged or half-written"):
        registry.set_current("v2", "try")
    assert registry.current().version == "v1"  # type: ignore[union-attr]


def test_orphan_files_do_not_reuse_a_version(registry: reg.Registry, built_models: list[BuiltModel]) -> None:
    registry.blobs.put(reg.model_key("v4"), built_models[0].data)  # a trainer died before the manifest
    assert registry.versions() == []
    assert registry.next_version() == "v5"


def test_heartbeats(registry: reg.Registry) -> None:
    blobs = registry.blobs
    now = utcnow()
    beat = reg.WorkerBeat(name="classifier-1@host", kind="classifier", pid=1, host="host", started_at=now,
                          model_version="v2")
    reg.write_beat(blobs, beat)
    old = reg.WorkerBeat(name="classifier-2@gone", kind="classifier", pid=2, host="gone", started_at=now)
    blobs.put(reg.beat_key(old.name), old.model_copy(update={"updated_at": now - timedelta(hours=3)})
              .model_dump_json().encode())
    beats = reg.read_beats(blobs)
    assert [b.name for b in beats] == ["classifier-1@host"] and beats[0].model_version == "v2"
    assert not blobs.exists(reg.beat_key(old.name))  # long gone: forgotten
