"""Do the catalog, the blob store and the broker answer? The checks behind every ``/readyz``."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

from celery import Celery

from services.core.blobs import BlobStore
from services.core.catalog import Catalog

OK = "ok"
FAILING = "failing"
CHECK_SECONDS = 5.0


def ping_broker(celery: Celery) -> None:
    with celery.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, timeout=2)


async def check(name: str, probe: Awaitable[object], timeout: float = CHECK_SECONDS) -> tuple[str, str]:
    """``(name, "ok")``, or ``(name, "failing: reason")``: the reason names servers, for those let in only."""
    try:
        await asyncio.wait_for(probe, timeout=timeout)
        return name, OK
    except Exception as exc:
        return name, f"{FAILING}: {type(exc).__name__}: {exc}"[:300]


async def store_checks(catalog: Catalog, blobs: BlobStore, celery: Celery) -> dict[str, str]:
    return dict(await asyncio.gather(
        check("catalog", catalog.ping()),
        check("blobs", asyncio.to_thread(blobs.ping)),
        check("broker", asyncio.to_thread(ping_broker, celery)),
    ))


def without_reasons(checks: dict[str, str]) -> dict[str, str]:
    """What an anonymous caller may see: ok or failing, no server names nor error text."""
    return {name: OK if value == OK else FAILING for name, value in checks.items()}
