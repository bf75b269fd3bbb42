"""The README stays true: every setting documented, and CI runs the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

from services.core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def test_every_setting_is_in_the_readme_table() -> None:
    readme = (ROOT / "README.md").read_text()
    missing = [f"FACETAG_{name.upper()}" for name in Settings.model_fields
               if f"`FACETAG_{name.upper()}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"```sh\n(scripts/\w+)\n```", readme)
    assert commands[:2] == ["scripts/serve", "scripts/test"]
    assert re.search(r"^scripts/test\b", (ROOT / ".ci" / "run").read_text(), re.MULTILINE)
