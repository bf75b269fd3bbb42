"""The webhook store's contract, on SQLite and on MongoDB (FerretDB): hooks, upload callbacks, and deliveries that
two gateways can never both claim or both take."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from services.core.cursors import OldestKey
from services.core.domain import utcnow
from services.core.errors import NotFound
from services.core.events import EventKind
from services.core.webhooks import WebhookStore, open_webhook_store
from services.core.webhooks.model import Callback, Delivery, DeliveryState, Webhook


@pytest.fixture
async def stores(catalog_url: str) -> AsyncIterator[tuple[WebhookStore, WebhookStore]]:
    """Two stores on one catalog, as two gateway replicas would have."""
    first, second = open_webhook_store(catalog_url), open_webhook_store(catalog_url)
    await first.connect()
    await second.connect()
    yield first, second
    await first.close()
    await second.close()


def _delivery(event_id: str, target: str, due_in: float = 0.0) -> Delivery:
    now = utcnow()
    return Delivery(id=Delivery.id_for(event_id, target), event_id=event_id, kind=EventKind.photo_done,
                    target=target, url="https://example.org/hook", body="{}",
                    next_attempt_at=now + timedelta(seconds=due_in), lease_until=now)


async def test_hooks_are_added_listed_paused_and_deleted(stores: tuple[WebhookStore, WebhookStore]) -> None:
    store, _ = stores
    first = await store.add_hook(Webhook(url="https://a.example/x", kinds=[EventKind.photo_done], secret="s1"))
    second = await store.add_hook(Webhook(url="https://b.example/y", kinds=[EventKind.face_named], secret="s2",
                                          created_at=first.created_at + timedelta(seconds=1)))
    assert [hook.id for hook in await store.list_hooks()] == [first.id, second.id]
    assert await store.get_hook(first.id) == first
    paused = await store.set_hook_paused(first.id, True)
    assert paused.paused and (await store.get_hook(first.id)).paused  # type: ignore[union-attr]
    with pytest.raises(NotFound):
        await store.set_hook_paused("nope", True)
    await store.claim_delivery(_delivery("e1", first.id))
    assert await store.delete_hook(first.id) is True
    assert await store.delete_hook(first.id) is False
    assert await store.get_hook(first.id) is None
    assert await store.list_deliveries(first.id, 10) == []  # its log went with it


async def test_hooks_page_oldest_first_after_the_last_one_shown(stores: tuple[WebhookStore, WebhookStore]) -> None:
    store, other = stores
    start = utcnow().replace(microsecond=0)
    made = [await store.add_hook(Webhook(url=f"https://h{n}.example/x", kinds=[EventKind.photo_done], secret=f"s{n}",
                                         created_at=start + timedelta(seconds=n // 2)))  # pairs share their time
            for n in range(7)]
    seen: list[str] = []
    after = None
    while page := await other.list_hooks(3, after):
        assert len(page) <= 3
        seen += [hook.id for hook in page]
        after = OldestKey(at=page[-1].created_at, id=page[-1].id)
    assert seen == [hook.id for hook in sorted(made, key=lambda hook: (hook.created_at, hook.id))]


async def test_callbacks_are_kept_per_photo(stores: tuple[WebhookStore, WebhookStore]) -> None:
    store, _ = stores
    await store.set_callback(Callback(image_id="img1", url="https://a.example/cb", signing_key="k1"))
    await store.set_callback(Callback(image_id="img1", url="https://b.example/cb", signing_key="k2"))
    found = await store.get_callback("img1")
    assert found is not None and (found.url, found.signing_key) == ("https://b.example/cb", "k2")
    assert await store.get_callback("img2") is None


async def test_only_one_gateway_claims_an_event_for_a_target(stores: tuple[WebhookStore, WebhookStore]) -> None:
    first, second = stores
    claims = await asyncio.gather(*(store.claim_delivery(_delivery("e1", "hook1"))
                                    for store in (first, second, first, second)))
    assert sorted(claims) == [False, False, False, True]
    assert await first.claim_delivery(_delivery("e1", "hook2")) is True  # another target: its own delivery


async def test_due_deliveries_are_taken_once_until_their_lease_ends(
        stores: tuple[WebhookStore, WebhookStore]) -> None:
    first, second = stores
    for event_id in ("e1", "e2", "e3"):
        await first.claim_delivery(_delivery(event_id, "hook1"))
    await first.claim_delivery(_delivery("later", "hook1", due_in=3600))
    now = utcnow()
    taken = await asyncio.gather(first.take_due_deliveries(now, now + timedelta(seconds=30), 10),
                                 second.take_due_deliveries(now, now + timedelta(seconds=30), 10))
    ids = [delivery.event_id for batch in taken for delivery in batch]
    assert sorted(ids) == ["e1", "e2", "e3"]  # each once, the one not yet due by neither
    assert await second.take_due_deliveries(now, now + timedelta(seconds=30), 10) == []
    after_lease = now + timedelta(seconds=31)
    again = await second.take_due_deliveries(after_lease, after_lease + timedelta(seconds=30), 2)
    assert len(again) == 2  # a lease nobody renewed (a gateway died) lets another take it; limit kept


async def test_saved_attempts_show_in_the_log_and_finished_ones_are_pruned(
        stores: tuple[WebhookStore, WebhookStore]) -> None:
    store, _ = stores
    delivery = _delivery("e1", "hook1")
    await store.claim_delivery(delivery)
    failed = delivery.model_copy(update={"attempts": 1, "last_status": 500, "last_error": "HTTP 500: oops",
                                         "next_attempt_at": utcnow() + timedelta(hours=1)})
    await store.save_delivery(failed)
    assert await store.list_deliveries("hook1", 10) == [failed]
    assert await store.take_due_deliveries(utcnow(), utcnow(), 10) == []  # retry not due yet
    done = failed.model_copy(update={"state": DeliveryState.delivered, "attempts": 2, "last_status": 204,
                                     "next_attempt_at": None, "delivered_at": utcnow()})
    await store.save_delivery(done)
    await store.claim_delivery(_delivery("e2", "hook1"))  # still pending: never pruned
    await store.set_callback(Callback(image_id="old", url="https://a.example/cb", signing_key="k",
                                      created_at=utcnow() - timedelta(days=30)))
    await store.set_callback(Callback(image_id="new", url="https://a.example/cb", signing_key="k",
                                      created_at=utcnow() + timedelta(days=1)))
    assert await store.prune_deliveries(utcnow() + timedelta(seconds=1)) == 1
    assert await store.get_callback("old") is None and await store.get_callback("new") is not None
    assert [d.event_id for d in await store.list_deliveries("hook1", 10)] == ["e2"]
    with pytest.raises(NotFound):
        await store.save_delivery(_delivery("absent", "hook1"))
