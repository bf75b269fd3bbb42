"""The offline deploy checkers scripts/install-servers provides: kustomize and the KEDA and compose-spec
schemas. Absent, their tests skip with the reason, or fail when FACETAG_REQUIRE_SERVERS=1 (CI)."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
import servers


def _installed(path: Path | None, what: str) -> Path:
    if path is not None and path.is_file():
        return path
    message = f"{what} not found; run scripts/install-servers (it caches it in {servers.server_cache_bin().parent})"
    if os.environ.get("FACETAG_REQUIRE_SERVERS", "").strip().lower() in {"1", "true", "yes"}:
        pytest.fail(f"{message} (FACETAG_REQUIRE_SERVERS is set, so this is a failure, not a skip)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def kustomize() -> Path:
    return _installed(servers.find_binary("kustomize"), "kustomize")


@pytest.fixture(scope="session")
def schema_file() -> Callable[[str], Path]:
    """``schema_file(NAME)``: a schema install-servers took from a Go module (``keda-scaledobjects.yaml``...)."""
    def find(name: str) -> Path:
        return _installed(servers.server_cache_bin().parent / "schemas" / name, f"schema {name}")
    return find
