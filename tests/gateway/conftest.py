"""Fixtures shared by the gateway's live-output tests (webhooks and MQTT)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from services.core.webhooks import WebhookStore, open_webhook_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[WebhookStore]:
    """The webhook and delivery store on a fresh SQLite catalog."""
    opened = open_webhook_store(f"sqlite:///{tmp_path / 'facetag.db'}")
    await opened.connect()
    yield opened
    await opened.close()
