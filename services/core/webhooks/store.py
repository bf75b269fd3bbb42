"""The webhook store: hooks, upload callbacks and deliveries. SQLite and MongoDB pass one contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from services.core.cursors import NewestKey, OldestKey
from services.core.webhooks.model import Callback, Delivery, Webhook


class WebhookStore(ABC):
    """Async store of where events go and how their deliveries fared. Hooks are listed oldest first,
    deliveries newest first."""

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    # hooks
    @abstractmethod
    async def add_hook(self, hook: Webhook) -> Webhook: ...

    @abstractmethod
    async def get_hook(self, hook_id: str) -> Webhook | None: ...

    @abstractmethod
    async def list_hooks(self, limit: int | None = None, after: OldestKey | None = None) -> list[Webhook]:
        """Hooks oldest first: at most ``limit`` (None: all) after ``after`` (keyset pages)."""

    @abstractmethod
    async def set_hook_paused(self, hook_id: str, paused: bool) -> Webhook:
        """NotFound if absent."""

    @abstractmethod
    async def delete_hook(self, hook_id: str) -> bool:
        """Delete the hook and its deliveries; False if absent."""

    # upload callbacks
    @abstractmethod
    async def set_callback(self, callback: Callback) -> None:
        """Remember (or replace) the callback of ``callback.image_id``."""

    @abstractmethod
    async def get_callback(self, image_id: str) -> Callback | None: ...

    # deliveries
    @abstractmethod
    async def claim_delivery(self, delivery: Delivery) -> bool:
        """Insert if no delivery with its id exists: True for the one caller that did, False for any other."""

    @abstractmethod
    async def take_due_deliveries(self, now: datetime, lease_until: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries due by ``now`` that nobody holds (lease_until passed), oldest due first, each
        now held by the caller until ``lease_until``: two gateways never take the same one."""

    @abstractmethod
    async def save_delivery(self, delivery: Delivery) -> None:
        """Replace a delivery's record after an attempt. NotFound if absent."""

    @abstractmethod
    async def list_deliveries(self, target: str, limit: int, after: NewestKey | None = None) -> list[Delivery]:
        """The target's deliveries, newest first (after ``after``: keyset pages)."""

    @abstractmethod
    async def prune_deliveries(self, finished_before: datetime) -> int:
        """Delete delivered and failed deliveries, and upload callbacks, made before the given time; returns how
        many deliveries went."""
