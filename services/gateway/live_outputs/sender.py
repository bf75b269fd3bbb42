"""One signed POST of an event to a receiver, and what came of it."""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from services import __version__
from services.core.webhooks.signing import (
    EVENT_ID_HEADER,
    EVENT_KIND_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    signature,
)
from services.gateway.live_outputs.targets import pinned

EXCERPT_BYTES = 200  # of a failing receiver's answer, kept in the delivery log; nothing more is read or stored


@dataclass(frozen=True)
class Outcome:
    status: int | None  # the receiver's HTTP status, None if it never answered
    error: str | None  # None when delivered (2xx)
    final: bool = False  # no retry can help (the hook or callback is gone, the address is refused)


def new_client(timeout: float) -> httpx.AsyncClient:
    """Short timeouts, no redirects (a 3xx is a failure: a redirect could lead anywhere), no proxy settings
    from the environment."""
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False,
                             headers={"User-Agent": f"Facetag/{__version__} (webhooks)"})


async def post_signed(client: httpx.AsyncClient, url: str, body: str, secret: str, event_id: str, kind: str, *,
                      address: str | None = None) -> Outcome:
    """POST ``body`` signed; to ``address`` (an IP the caller checked) instead of a fresh lookup of the host,
    when given: TLS then still checks the certificate against the URL's host name."""
    data = body.encode()
    timestamp = int(time.time())
    headers = {"Content-Type": "application/json", EVENT_ID_HEADER: event_id, EVENT_KIND_HEADER: kind,
               TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, data)}
    extensions = {}
    if address is not None:
        host = httpx.URL(url).host
        url, headers["Host"] = pinned(url, address)
        extensions["sni_hostname"] = host
    try:
        async with client.stream("POST", url, content=data, headers=headers, extensions=extensions) as response:
            if response.is_success:
                return Outcome(response.status_code, None)
            if response.is_redirect:
                return Outcome(response.status_code, f"HTTP {response.status_code}: redirects are not followed")
            return Outcome(response.status_code, f"HTTP {response.status_code}: {await _excerpt(response)}")
    except httpx.TimeoutException:
        return Outcome(None, f"no answer within {client.timeout.read} s")
    except httpx.HTTPError as exc:
        return Outcome(None, f"{type(exc).__name__}: {exc}"[:EXCERPT_BYTES])


async def _excerpt(response: httpx.Response) -> str:
    read = b""
    async for chunk in response.aiter_raw():
        read += chunk
        if len(read) >= EXCERPT_BYTES:
            break
    return read[:EXCERPT_BYTES].decode(errors="replace").strip() or "(empty answer)"
