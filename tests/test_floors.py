"""The house's floors: core at the bottom, the four services above it, the commands on top.

An import may only reach down (or sideways within its own package); an upward import would make the
bottom floor load the whole service and tie the services to each other.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SERVICES = Path(__file__).resolve().parent.parent / "services"
FLOOR = {"core": 0, "detector": 1, "classifier": 1, "trainer": 1, "gateway": 1, "commands": 2}


def _imported_packages(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        names = [node.module or ""] if isinstance(node, ast.ImportFrom) else (
            [alias.name for alias in node.names] if isinstance(node, ast.Import) else [])
        found.update(name.split(".")[1] for name in names if name.startswith("services."))
    return found


@pytest.mark.parametrize("package", sorted(FLOOR))
def test_imports_only_run_downward(package: str) -> None:
    wrong = []
    for path in sorted((SERVICES / package).rglob("*.py")):
        for target in _imported_packages(path):
            if target != package and FLOOR[target] >= FLOOR[package]:
                wrong.append(f"{path.relative_to(SERVICES.parent)} imports services.{target}")
    assert not wrong, "imports that reach up or sideways:\n" + "\n".join(wrong)
