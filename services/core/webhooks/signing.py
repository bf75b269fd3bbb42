"""How a webhook or callback delivery is signed, and how a receiver checks it.

The signature is ``HMAC-SHA256(secret, f"{timestamp}.{body}")`` in hex, sent with the Unix timestamp it covers.
A receiver recomputes it over the raw body, compares in constant time, and refuses a timestamp too far from its
own clock, so a recorded delivery cannot be played again later; the event id lets it drop a repeat within that
window (a retried delivery carries the same event id).
"""

from __future__ import annotations

import hashlib
import hmac
import time

from services.core.access.secrets import digest

EVENT_ID_HEADER = "X-Facetag-Event-Id"
EVENT_KIND_HEADER = "X-Facetag-Event-Kind"
TIMESTAMP_HEADER = "X-Facetag-Timestamp"
SIGNATURE_HEADER = "X-Facetag-Signature"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def callback_key(api_token: str) -> str:
    """The key an upload's callback is signed with: the sha256 (hex) of the API token that uploaded it, which the
    server keeps (never the token itself) and the uploader can compute."""
    return digest(api_token)


def verify(secret: str, timestamp: str, body: bytes, given: str, *, now: float | None = None,
           tolerance: float = DEFAULT_TOLERANCE_SECONDS) -> bool:
    """True if ``given`` signs ``body`` at ``timestamp`` (header text) and that time is within ``tolerance``
    seconds of ``now``."""
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(signature(secret, int(timestamp), body), given)
