"""Webhooks for admins: register a URL for some event kinds (its signing secret is shown once), list, pause or
resume, delete, and read a hook's delivery log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from services.core.access.secrets import new_secret
from services.core.cursors import NewestKey, OldestKey, cut, decode
from services.core.errors import NotFound
from services.core.webhooks import WebhookStore
from services.core.webhooks.model import Webhook
from services.gateway.paging import Cursor
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow, principal_of
from services.gateway.webhook_schemas import (
    DeliveryOut,
    DeliveryPage,
    NewWebhookOut,
    WebhookIn,
    WebhookOut,
    WebhookPage,
    WebhookPatch,
)

router = APIRouter(prefix="/v1/admin/webhooks", tags=["webhooks"], dependencies=[allow(Policy.admin)])


def _store(request: Request) -> WebhookStore:
    store: WebhookStore = request.app.state.live_outputs.store
    return store


StoreDep = Annotated[WebhookStore, Depends(_store)]


async def _hook_or_404(store: WebhookStore, hook_id: str) -> Webhook:
    hook = await store.get_hook(hook_id)
    if hook is None:
        raise NotFound(f"No webhook with id {hook_id!r}.")
    return hook


@router.post("", status_code=201, response_model=NewWebhookOut,
             summary="Register a webhook; its signing secret is in the answer and never shown again")
async def create_webhook(body: WebhookIn, request: Request, store: StoreDep) -> NewWebhookOut:
    principal = principal_of(request)
    hook = await store.add_hook(Webhook(url=body.url, kinds=sorted(set(body.kinds)), description=body.description,
                                        secret=new_secret(), created_by=principal.name if principal else None))
    await audit(request, "webhook.create", "webhook", hook.id,
                after={"url": hook.url, "kinds": hook.kinds, "description": hook.description})
    return NewWebhookOut(**WebhookOut.of(hook).model_dump(), secret=hook.secret)


@router.get("", response_model=WebhookPage, summary="Every webhook, oldest first (no secrets)")
async def list_webhooks(store: StoreDep, cursor: Cursor = None,
                        limit: Annotated[int, Query(ge=1, le=200)] = 100) -> WebhookPage:
    found = await store.list_hooks(limit + 1, decode(OldestKey, cursor))
    page, next_cursor = cut(found, limit, lambda hook: OldestKey(at=hook.created_at, id=hook.id))
    return WebhookPage(items=[WebhookOut.of(hook) for hook in page], next_cursor=next_cursor)


@router.patch("/{hook_id}", response_model=WebhookOut, summary="Pause or resume a webhook")
async def update_webhook(hook_id: str, body: WebhookPatch, request: Request, store: StoreDep) -> WebhookOut:
    before = await _hook_or_404(store, hook_id)
    hook = await store.set_hook_paused(hook_id, body.paused)
    await audit(request, "webhook.pause" if body.paused else "webhook.resume", "webhook", hook.id,
                before={"paused": before.paused}, after={"paused": hook.paused})
    return WebhookOut.of(hook)


@router.delete("/{hook_id}", status_code=204, response_class=Response, summary="Delete a webhook and its log")
async def delete_webhook(hook_id: str, request: Request, store: StoreDep) -> Response:
    hook = await _hook_or_404(store, hook_id)
    await store.delete_hook(hook_id)
    await audit(request, "webhook.delete", "webhook", hook.id, before={"url": hook.url, "kinds": hook.kinds})
    return Response(status_code=204)


@router.get("/{hook_id}/deliveries", response_model=DeliveryPage,
            summary="A webhook's deliveries, newest first: attempts, last status or error, next attempt")
async def list_deliveries(hook_id: str, store: StoreDep, cursor: Cursor = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 50) -> DeliveryPage:
    await _hook_or_404(store, hook_id)
    found = await store.list_deliveries(hook_id, limit + 1, decode(NewestKey, cursor))
    page, next_cursor = cut(found, limit, lambda delivery: NewestKey(at=delivery.created_at, id=delivery.id))
    return DeliveryPage(items=[DeliveryOut.of(delivery) for delivery in page], next_cursor=next_cursor)
