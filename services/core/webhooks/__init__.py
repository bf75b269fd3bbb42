"""Where live events are delivered over HTTP: webhooks, upload callbacks and the delivery log, kept beside the
catalog (same URL)."""

from __future__ import annotations

from services.core.catalog import open_catalog, sqlite_path
from services.core.webhooks.store import WebhookStore

__all__ = ["WebhookStore", "open_webhook_store"]


def open_webhook_store(url: str) -> WebhookStore:
    """The webhook store beside the catalog at ``url``, not yet connected."""
    open_catalog(url)  # the same URL checks, with the same messages
    if url.startswith("sqlite://"):
        from services.core.webhooks.sqlite_store import SQLiteWebhookStore

        return SQLiteWebhookStore(sqlite_path(url))
    from services.core.webhooks.mongo_store import MongoWebhookStore

    return MongoWebhookStore(url)
