"""``facetag import``: what it picks up from a folder, and what it says when it cannot run."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import free_port

from services.commands.import_photos import plan_import, run_import
from services.core.settings import Settings


def _folder(tmp_path: Path) -> Path:
    root = tmp_path / "people"
    for person, files in {"Ada Lovelace": ["1.jpg", "2.PNG", "notes.txt"], "Grace": ["a/b.jpeg"]}.items():
        for name in files:
            path = root / person / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"x")
    (root / "loose.jpg").write_bytes(b"x")
    (root / ".hidden").mkdir()
    return root


def test_plan_takes_photos_in_person_folders(tmp_path: Path) -> None:
    plan = plan_import(_folder(tmp_path))
    assert [(p.name, person) for p, person in plan.photos] == [
        ("1.jpg", "Ada Lovelace"), ("2.PNG", "Ada Lovelace"), ("b.jpeg", "Grace")]
    assert sorted(p.name for p in plan.ignored) == ["loose.jpg", "notes.txt"]


def test_errors_say_what_to_do(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = Settings(data_dir=tmp_path / "data", api_token="ftk_anything")
    assert run_import(tmp_path / "missing", None, settings, progress=False) == 2
    assert "not a folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert run_import(tmp_path / "empty", None, settings, progress=False) == 2
    assert "no photos" in capsys.readouterr().err
    url = f"http://127.0.0.1:{free_port()}"
    assert run_import(_folder(tmp_path), url, settings, progress=False) == 2
    err = capsys.readouterr().err
    assert "no Facetag service answers" in err and "--url" in err
    no_token = Settings(data_dir=tmp_path / "data", api_token="")
    assert run_import(tmp_path / "people", url, no_token, progress=False) == 2
    assert "FACETAG_API_TOKEN" in capsys.readouterr().err
