"""The import's state file: what a stopped import recorded is what the next run trusts, and no more."""

from __future__ import annotations

import os
from pathlib import Path

from services.commands.import_state import ImportState

SERVICE = "http://127.0.0.1:8000"


def _photo(folder: Path, name: str, data: bytes = b"jpeg bytes") -> Path:
    path = folder / "Ada" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_a_second_run_finds_what_the_first_recorded_even_after_a_kill_mid_line(tmp_path: Path) -> None:
    first, second = _photo(tmp_path, "1.jpg"), _photo(tmp_path, "2.jpg", b"other bytes")
    state = ImportState(tmp_path / "state.jsonl", tmp_path, SERVICE)
    state.record(state.new(first, "a" * 64).model_copy(update={"image_id": "img-1", "outcome": "named",
                                                                "person": "Ada"}))
    state.record(state.new(second, "b" * 64))
    state.close()
    with (tmp_path / "state.jsonl").open("a") as fh:
        fh.write('{"path": "Ada/2.jpg", "size": 11, "mtime_ns": 1, "sha2')  # killed while writing

    again = ImportState(tmp_path / "state.jsonl", tmp_path, SERVICE)
    known = again.get(first)
    assert known is not None and (known.image_id, known.outcome, known.person) == ("img-1", "named", "Ada")
    hashed = again.get(second)
    assert hashed is not None and hashed.sha256 == "b" * 64 and hashed.image_id is None


def test_a_changed_file_is_not_trusted_and_another_service_keeps_only_the_hash(tmp_path: Path) -> None:
    photo = _photo(tmp_path, "1.jpg")
    state = ImportState(tmp_path / "state.jsonl", tmp_path, SERVICE)
    state.record(state.new(photo, "a" * 64).model_copy(update={"image_id": "img-1", "outcome": "named"}))
    state.close()

    elsewhere = ImportState(tmp_path / "state.jsonl", tmp_path, "http://nas:8000").get(photo)
    assert elsewhere is not None and elsewhere.sha256 == "a" * 64
    assert (elsewhere.image_id, elsewhere.outcome) == (None, None)

    photo.write_bytes(b"edited bytes!")
    os.utime(photo, ns=(1, 1))
    assert ImportState(tmp_path / "state.jsonl", tmp_path, SERVICE).get(photo) is None
