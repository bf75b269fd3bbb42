"""What the webhook routes accept and answer."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, Strict

from services.core.events import EventKind
from services.core.webhooks.model import Delivery, DeliveryState, Webhook
from services.gateway.inputs import StrictBody
from services.gateway.live_outputs.targets import MAX_URL_LENGTH, URL_PATTERN, check_url
from services.gateway.paging import Paged

# Enum values arrive as JSON strings; strict validation of the parsed body would want the enum objects.
KindName = Annotated[EventKind, Strict(False)]
# The pattern is stated for the document; check_url enforces the same, saying which rule a URL breaks.
HookUrl = Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH, json_schema_extra={"pattern": URL_PATTERN},
                               description="http:// or https://, without credentials; it gets a POST of each "
                               "event's JSON, signed."),
                    AfterValidator(lambda url: check_url(url, "the webhook URL"))]


class WebhookIn(StrictBody):
    url: HookUrl
    kinds: list[KindName] = Field(min_length=1, max_length=len(EventKind), description="Event kinds to send.")
    description: str = Field("", max_length=200, description="What the hook is for.")


class WebhookPatch(StrictBody):
    paused: bool = Field(description="true: no new events are sent to it (deliveries already under way go on).")


class WebhookOut(BaseModel):
    id: str
    url: str
    kinds: list[EventKind]
    description: str
    paused: bool
    created_at: datetime
    created_by: str | None

    @classmethod
    def of(cls, hook: Webhook) -> WebhookOut:
        return cls.model_validate(hook.model_dump(exclude={"secret"}))


class NewWebhookOut(WebhookOut):
    secret: str = Field(description="The signing secret: shown only now. Each delivery's X-Facetag-Signature is "
                        "the hex HMAC-SHA256 of f'{X-Facetag-Timestamp}.{body}' with it.")


class DeliveryOut(BaseModel):
    event_id: str
    kind: EventKind
    state: DeliveryState
    attempts: int
    last_status: int | None = Field(description="The receiver's HTTP status at the last attempt.")
    last_error: str | None = Field(description="Why the last attempt failed, with a short excerpt of the answer.")
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, delivery: Delivery) -> DeliveryOut:
        return cls.model_validate(delivery.model_dump(include=set(cls.model_fields)))


class DeliveryPage(Paged):
    items: list[DeliveryOut]


class WebhookPage(Paged):
    items: list[WebhookOut]
