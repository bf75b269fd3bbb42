"""GET /v1/events: live events as server-sent events, for the web UI and for programs that would poll.

The stream, in order:
- ``event: ready`` once the subscription is made (data: the kinds asked for; empty = all): what happens
  from then on is delivered;
- each event as ``event: <kind>`` (e.g. ``photo.done``), ``id: <event id>``, ``data: <Event JSON>``;
- ``event: resync`` (no id) when the client cannot have everything it asked for: it reconnected with a
  ``Last-Event-ID`` no longer in this gateway's buffer of recent events, or it read so slowly that its
  queue overflowed and the oldest events were dropped, or the gateway's own source of events was down
  for a while (Redis restarting). Data: ``{"reason": ..., "dropped": n}``. A client
  then reloads what it shows from the REST API, as if it had just started;
- a comment line every ``PING_SECONDS`` so proxies keep the connection open.
Browsers' ``EventSource`` reconnects by itself and sends ``Last-Event-ID``; the missed events still
buffered come first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request
from sse_starlette import EventSourceResponse, ServerSentEvent

from services.core.event_hub import EventHub
from services.core.events import EventKind
from services.gateway.errors import ApiError
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1", tags=["events"])
STREAM_PATH = "/v1/events"

PING_SECONDS = 15
SEND_TIMEOUT = 30  # seconds a client may take to accept one message before the stream is closed
KINDS = ", ".join(kind.value for kind in EventKind)


def parse_kinds(text: str | None) -> frozenset[EventKind]:
    wanted = {part.strip() for part in (text or "").split(",") if part.strip()}
    unknown = sorted(wanted - {kind.value for kind in EventKind})
    if unknown:
        raise ApiError(422, f"kinds: unknown event kind {', '.join(unknown)}; the kinds are {KINDS}.")
    return frozenset(EventKind(kind) for kind in wanted)


def resync(reason: str, dropped: int = 0) -> ServerSentEvent:
    return ServerSentEvent(json.dumps({"reason": reason, "dropped": dropped}), event="resync")


async def stream(hub: EventHub, kinds: frozenset[EventKind], after: str | None
                 ) -> AsyncGenerator[ServerSentEvent, None]:
    # Subscribed here, not in the route: a response never started leaves no subscription behind.
    with hub.subscribe(kinds, after=after) as subscription:
        yield ServerSentEvent(json.dumps({"kinds": sorted(kinds)}), event="ready")
        if not subscription.replay_complete:
            yield resync("Last-Event-ID is no longer buffered")
        while True:
            event = await subscription.next_or_gap()
            if dropped := subscription.take_dropped():
                yield resync("the client read too slowly", dropped)
            if event is None:
                yield resync("this gateway lost its event source for a while")
            else:
                yield ServerSentEvent(event.model_dump_json(), event=event.kind.value, id=event.id)


EVENT_STREAM = {"description": "A server-sent event stream (text/event-stream) that stays open; see the summary.",
                "content": {"text/event-stream": {"schema": {"type": "string"}}}}


@router.get(STREAM_PATH.removeprefix(router.prefix), dependencies=[allow(Policy.read)],
            response_class=EventSourceResponse,
            responses={200: EVENT_STREAM},
            summary="Live events (server-sent events): photo queued, detected, done or failed; face named; person "
                    "changed; model published. Each message: event = the kind, id = the event id, data = the "
                    "event as JSON. 'ready' when subscribed; 'resync' when events were missed (reload state).")
async def events(
    request: Request,
    kinds: Annotated[str | None, Query(max_length=500, description=f"Comma-separated kinds to receive ({KINDS}); "
                                                                   "empty = all.")] = None,
    last_event_id: Annotated[str | None, Header(max_length=64, description="Sent by EventSource on reconnecting: "
                                                                           "the buffered events after it come "
                                                                           "first.")] = None,
) -> EventSourceResponse:
    wanted = parse_kinds(kinds)
    hub: EventHub = request.app.state.event_hub
    return EventSourceResponse(stream(hub, wanted, last_event_id or None), ping=PING_SECONDS, send_timeout=SEND_TIMEOUT,
                               headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})
