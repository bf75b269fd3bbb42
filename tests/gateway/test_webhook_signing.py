"""What a receiver relies on: the signature covers the timestamp and the exact body, and an old timestamp is
refused (a recorded delivery cannot be played again); and the URLs events may go to."""

from __future__ import annotations

import time

import pytest

from services.core.webhooks.signing import signature, verify
from services.gateway.live_outputs.targets import RefusedTarget, check_public, check_url

BODY = b'{"id":"e1","kind":"photo.done"}'


def test_a_signature_verifies_only_for_its_secret_timestamp_and_body() -> None:
    now = int(time.time())
    signed = signature("secret", now, BODY)
    assert verify("secret", str(now), BODY, signed)
    assert not verify("other secret", str(now), BODY, signed)
    assert not verify("secret", str(now), BODY.replace(b"done", b"failed"), signed)
    assert not verify("secret", str(now + 1), BODY, signed)  # the timestamp is signed too
    assert not verify("secret", "not a number", BODY, signed)


def test_a_replayed_delivery_is_refused_outside_the_tolerance() -> None:
    then = int(time.time()) - 600
    signed = signature("secret", then, BODY)
    assert not verify("secret", str(then), BODY, signed)  # ten minutes old: the default tolerance is five
    assert verify("secret", str(then), BODY, signed, tolerance=900)


@pytest.mark.parametrize(("url", "why"), [
    ("ftp://example.org/x", "http:// or https://"),
    ("file:///etc/passwd", "http:// or https://"),
    ("https://user:secret@example.org/x", "credentials"),
    ("https:///no-host", "no host"),
    ("http://example.org:99999/", "not a valid URL"),
    ("https://example.org/" + "a" * 2100, "longer than"),
    ("https://exämple.org/", "printable ASCII"),
    ("https://[::1]:8000/", "for IPv6, a name"),
])
def test_urls_events_may_not_go_to(url: str, why: str) -> None:
    with pytest.raises(RefusedTarget, match=why):
        check_url(url, "the URL")


async def test_callbacks_may_not_reach_private_addresses() -> None:
    for url in ("http://127.0.0.1:8000/", "http://localhost/", "http://10.1.2.3/", "http://192.168.1.10/",
                "http://169.254.169.254/latest/meta-data/", "http://[::1]/", "http://[::ffff:127.0.0.1]/",
                "http://0.0.0.0/", "http://[fe80::1]/"):
        with pytest.raises(RefusedTarget, match="loopback, private or link-local"):
            await check_public(url, "callback_url")
    await check_public("https://93.184.215.14/hook", "callback_url")  # a public address literal: no DNS needed
    with pytest.raises(RefusedTarget, match="does not resolve"):
        await check_public("https://no-such-host.invalid/", "callback_url")
