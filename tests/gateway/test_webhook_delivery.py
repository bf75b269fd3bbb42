"""Webhook and callback deliveries against a real HTTP receiver on loopback: signed, retried with backoff until the
receiver takes them, given up after the last delay, never redirected, sent once however many gateways see the
event. The store is the embedded SQLite one (both stores' claims and leases are held to one contract in
tests/contract/test_contract_webhooks.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from webhook_receiver import Receiver

from services.core.access.secrets import new_token_secret
from services.core.events import Event, EventKind
from services.core.settings import Settings
from services.core.webhooks import WebhookStore
from services.core.webhooks.model import Callback, DeliveryState, Webhook
from services.core.webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_KIND_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    callback_key,
    verify,
)
from services.gateway.live_outputs.sender import Outcome, new_client, post_signed
from services.gateway.live_outputs.webhook_dispatch import WebhookDispatcher

Dispatchers = Callable[..., WebhookDispatcher]


@pytest.fixture
async def dispatcher(tmp_path: Path, store: WebhookStore) -> AsyncIterator[Dispatchers]:
    """Makes dispatchers (gateways) on the store, with short retry delays, each running its retry loop."""
    running: list[tuple[WebhookDispatcher, asyncio.Task[None]]] = []

    def make(**settings: object) -> WebhookDispatcher:
        made = WebhookDispatcher(store, Settings(data_dir=tmp_path, **{"webhook_retry_delays": "0.3,0.3",
                                                                        "webhook_timeout": 2.0, **settings}))
        running.append((made, asyncio.create_task(made.run_retries())))
        return made

    yield make
    for made, task in running:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await made.close()


async def _hook(store: WebhookStore, url: str, kinds: list[EventKind] | None = None) -> Webhook:
    return await store.add_hook(Webhook(url=url, kinds=kinds or [EventKind.photo_done], secret="hook-secret"))



async def _settled(store: WebhookStore, target: str, timeout: float = 10.0) -> None:
    """Wait until the target's deliveries are all delivered or failed."""
    for _ in range(int(timeout / 0.05)):
        log = await store.list_deliveries(target, 10)
        if log and all(d.state is not DeliveryState.pending for d in log):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"deliveries of {target} still pending: {await store.list_deliveries(target, 10)}")


async def test_a_failing_receiver_gets_retries_until_it_answers(store: WebhookStore,
                                                                dispatcher: Dispatchers) -> None:
    with Receiver([500, 500]) as receiver:
        hook = await _hook(store, receiver.url)
        event = Event(kind=EventKind.photo_done, image_id="img1", data={"faces": 2})
        await dispatcher().handle(event)
        got = await asyncio.to_thread(receiver.wait_for, 3, 15.0)
        await _settled(store, hook.id)
    assert [r.answered for r in got] == [500, 500, 204]
    for request in got:  # the same event each time, signed with the hook's secret
        assert request.headers[EVENT_ID_HEADER] == event.id
        assert request.headers[EVENT_KIND_HEADER] == "photo.done"
        assert verify("hook-secret", request.headers[TIMESTAMP_HEADER], request.body,
                      request.headers[SIGNATURE_HEADER])
        assert Event.model_validate_json(request.body) == event
    [delivery] = await store.list_deliveries(hook.id, 10)
    assert (delivery.state, delivery.attempts, delivery.last_status, delivery.last_error) == (
        DeliveryState.delivered, 3, 204, None)
    assert delivery.delivered_at is not None and delivery.next_attempt_at is None


async def test_a_delivery_is_given_up_after_the_last_delay(store: WebhookStore, dispatcher: Dispatchers) -> None:
    with Receiver([500] * 10) as receiver:
        hook = await _hook(store, receiver.url)
        await dispatcher().handle(Event(kind=EventKind.photo_done))
        await _settled(store, hook.id)
        await asyncio.sleep(1.0)  # past another delay: nothing more is sent
    assert len(receiver.received) == 3  # the first attempt and one retry per delay
    [delivery] = await store.list_deliveries(hook.id, 10)
    assert (delivery.state, delivery.attempts, delivery.last_status) == (DeliveryState.failed, 3, 500)
    assert delivery.last_error is not None and delivery.last_error.startswith("HTTP 500: receiver says no")
    assert len(delivery.last_error) < 250  # a short excerpt of the answer, not the answer


async def test_redirects_are_not_followed(store: WebhookStore, dispatcher: Dispatchers) -> None:
    with Receiver() as elsewhere, Receiver([302] * 3, location=elsewhere.url) as receiver:
        hook = await _hook(store, receiver.url)
        await dispatcher().handle(Event(kind=EventKind.photo_done))
        await _settled(store, hook.id)
    assert elsewhere.received == []
    [delivery] = await store.list_deliveries(hook.id, 10)
    assert delivery.state is DeliveryState.failed and "redirects are not followed" in (delivery.last_error or "")


async def test_gateways_that_all_see_an_event_deliver_it_once(store: WebhookStore, dispatcher: Dispatchers) -> None:
    with Receiver() as receiver:
        hook = await _hook(store, receiver.url)
        gateways = [dispatcher() for _ in range(3)]
        event = Event(kind=EventKind.photo_done)
        await asyncio.gather(*(gateway.handle(event) for gateway in gateways))
        await _settled(store, hook.id)
        await asyncio.sleep(0.5)
    assert len(receiver.received) == 1


async def test_only_wanted_kinds_reach_a_hook_and_none_while_it_is_paused(store: WebhookStore,
                                                                          dispatcher: Dispatchers) -> None:
    with Receiver() as receiver:
        hook = await _hook(store, receiver.url, [EventKind.face_named])
        gateway = dispatcher()
        await gateway.handle(Event(kind=EventKind.photo_done))
        await store.set_hook_paused(hook.id, True)
        await gateway.handle(Event(kind=EventKind.face_named))
        await store.set_hook_paused(hook.id, False)
        wanted = Event(kind=EventKind.face_named, face_id="f1")
        await gateway.handle(wanted)
        await _settled(store, hook.id)
    assert [json.loads(r.body)["id"] for r in receiver.received] == [wanted.id]


async def test_an_upload_callback_is_signed_with_the_uploaders_token(store: WebhookStore,
                                                                     dispatcher: Dispatchers) -> None:
    token = new_token_secret()
    with Receiver() as receiver:
        callback = Callback(image_id="img7", url=receiver.url, signing_key=callback_key(token))
        await store.set_callback(callback)
        gateway = dispatcher(callback_allow_private=True)
        await gateway.handle(Event(kind=EventKind.photo_detected, image_id="img7"))  # not a callback's kind
        await gateway.handle(Event(kind=EventKind.photo_done, image_id="img8"))  # another photo
        done = Event(kind=EventKind.photo_done, image_id="img7")
        await gateway.handle(done)
        [request] = await asyncio.to_thread(receiver.wait_for, 1)
        await _settled(store, callback.target)
    assert json.loads(request.body)["id"] == done.id
    assert verify(callback_key(token), request.headers[TIMESTAMP_HEADER], request.body,
                  request.headers[SIGNATURE_HEADER])
    assert not verify(callback_key(new_token_secret()), request.headers[TIMESTAMP_HEADER], request.body,
                      request.headers[SIGNATURE_HEADER])


async def test_a_callback_to_a_private_address_is_refused_when_sent(store: WebhookStore,
                                                                    dispatcher: Dispatchers) -> None:
    with Receiver() as receiver:
        callback = Callback(image_id="img9", url=receiver.url, signing_key="k")
        await store.set_callback(callback)
        await dispatcher().handle(Event(kind=EventKind.photo_done, image_id="img9"))
        await _settled(store, callback.target)
    assert receiver.received == []
    [delivery] = await store.list_deliveries(callback.target, 10)
    assert delivery.state is DeliveryState.failed and "loopback, private or link-local" in (delivery.last_error or "")
    assert delivery.attempts == 1  # no retry can make the address public


async def test_a_callback_goes_to_the_address_that_was_checked_not_a_second_lookup() -> None:
    # receiver.invalid never resolves: the request can only arrive because it went to the checked address.
    with Receiver() as receiver:
        port = receiver.server.server_address[1]
        async with new_client(2.0) as client:
            outcome = await post_signed(client, f"http://receiver.invalid:{port}/hook", "{}", "k", "e1", "photo.done",
                                        address="127.0.0.1")
    assert outcome == Outcome(204, None)
    [request] = receiver.received
    assert request.headers["Host"] == f"receiver.invalid:{port}"
