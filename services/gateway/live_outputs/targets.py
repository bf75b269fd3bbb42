"""Which URLs events may be sent to.

Only http and https, with a host and without credentials in them. An upload's ``callback_url`` is chosen by any
uploader, so it must not reach into the server's own network (SSRF): every address its host resolves to must be
public, unless the operator allows private ones. Admins' webhooks may point anywhere (a receiver on the LAN is the
usual case). The check is made when the URL is given and again before every attempt (a name can be re-pointed),
which then connects to the address checked, not to a second lookup's.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from urllib.parse import urlsplit

MAX_URL_LENGTH = 2048
RESOLVE_SECONDS = 3.0  # an upload waits for this check: a slow resolver must not hold it
_PORT = r"(:(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[1-9][0-9]{0,3}))?"
# The same rules as check_url, for the OpenAPI document: http(s), an ASCII host name or IPv4 address without
# user:password@, an optional port from 1 to 65535, then printable ASCII.
URL_PATTERN = rf"^https?://[A-Za-z0-9._~%!$&'()*+,;=-]+{_PORT}([/?#][!-~]*)?$"


class RefusedTarget(ValueError):
    """A URL events may not be sent to; the message says why."""


def check_url(url: str, what: str) -> str:
    """``url`` if it is an http(s) URL with a host and no credentials, else RefusedTarget."""
    if len(url) > MAX_URL_LENGTH:
        raise RefusedTarget(f"{what} is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port  # raises for a port that is not a number or out of range
    except ValueError as exc:
        raise RefusedTarget(f"{what} is not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https"):
        raise RefusedTarget(f"{what} must start with http:// or https://")
    if not parts.hostname:
        raise RefusedTarget(f"{what} has no host")
    if parts.username is not None or parts.password is not None:
        raise RefusedTarget(f"{what} must not carry credentials (user:password@); the deliveries are signed instead")
    if port == 0:
        raise RefusedTarget(f"{what} has port 0")
    if not re.fullmatch(URL_PATTERN, url):
        raise RefusedTarget(f"{what} must be printable ASCII with a host name or IPv4 address (for IPv6, a name) "
                            "and a port from 1 to 65535")
    return url


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


async def check_public(url: str, what: str) -> str:
    """One public address of the URL's host, to connect to (so a second lookup cannot lead elsewhere: DNS
    rebinding). RefusedTarget unless every address the host resolves to is public (not loopback, private,
    link-local, multicast or reserved), or when it does not resolve."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        found = await asyncio.wait_for(asyncio.get_running_loop().getaddrinfo(
            host, parts.port or 443, type=socket.SOCK_STREAM), RESOLVE_SECONDS)
    except TimeoutError:
        raise RefusedTarget(f"{what}'s host {host!r} did not resolve within {RESOLVE_SECONDS} s") from None
    except OSError as exc:
        raise RefusedTarget(f"{what}'s host {host!r} does not resolve ({exc.strerror or exc})") from None
    private = sorted({str(info[4][0]) for info in found if not _public(str(info[4][0]))})
    if private:
        raise RefusedTarget(f"{what}'s host {host!r} is a loopback, private or link-local address "
                            f"({', '.join(private)}); callbacks may only reach public addresses")
    return str(found[0][4][0])


def pinned(url: str, address: str) -> tuple[str, str]:
    """``url`` with its host replaced by ``address``, and the Host header that names the original host."""
    parts = urlsplit(url)
    shown = f"[{address}]" if ":" in address else address
    netloc = parts.netloc.rpartition("@")[2]
    return parts._replace(netloc=shown + (f":{parts.port}" if parts.port else "")).geturl(), netloc
