"""Webhooks, upload callbacks and their deliveries, as the webhook store keeps them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field

from services.core.domain import new_id, utcnow
from services.core.events import EventKind

CALLBACK_PREFIX = "callback:"  # a delivery's target for an upload's callback_url: "callback:<image id>"


class Webhook(BaseModel):
    """An admin's subscription: every event of ``kinds`` is POSTed to ``url``, signed with ``secret``."""

    id: str = Field(default_factory=new_id)
    url: str
    kinds: list[EventKind]
    description: str = ""
    secret: str  # kept in the clear: signing needs it (shown once, never listed)
    paused: bool = False
    created_at: datetime = Field(default_factory=utcnow)
    created_by: str | None = None


class Callback(BaseModel):
    """An upload's ``callback_url``: the photo's ``photo.done`` or ``photo.failed`` goes there."""

    image_id: str
    url: str
    signing_key: str  # the sha256 (hex) of the uploader's API token: the uploader can compute it, nobody else
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def target(self) -> str:
        return CALLBACK_PREFIX + self.image_id


class DeliveryState(StrEnum):
    pending = "pending"  # an attempt is due at next_attempt_at
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # every attempt failed; no more are made


class Delivery(BaseModel):
    """One event on its way to one target (a webhook id or ``callback:<image id>``). Its id is made of both,
    so a second gateway handling the same event cannot make a second delivery."""

    id: str
    event_id: str
    kind: EventKind
    target: str
    url: str
    body: str  # the event JSON, exactly as signed and sent
    state: DeliveryState = DeliveryState.pending
    attempts: int = 0
    last_status: int | None = None  # the receiver's HTTP status
    last_error: str | None = None  # or why there was none, with a short excerpt of a failing answer
    next_attempt_at: datetime | None = Field(default_factory=utcnow)
    delivered_at: datetime | None = None
    lease_until: datetime = Field(default_factory=utcnow)  # a gateway sending it holds it until then
    created_at: datetime = Field(default_factory=utcnow)

    @staticmethod
    def id_for(event_id: str, target: str) -> str:
        return f"{target}/{event_id}"
