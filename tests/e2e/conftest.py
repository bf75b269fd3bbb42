"""End-to-end fixtures: the same tests run on the embedded default and on the cluster."""

from __future__ import annotations

import pytest
from service_fixtures import Service, cluster_service, embedded_service

__all__ = ["cluster_service", "embedded_service"]


@pytest.fixture(scope="module", params=["embedded", "cluster"])
def service(request: pytest.FixtureRequest) -> Service:
    """``facetag serve`` (embedded stores), then gateway + workers on real Redis, FerretDB and MinIO."""
    return request.getfixturevalue(f"{request.param}_service")  # type: ignore[no-any-return]
