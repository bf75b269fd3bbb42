"""The Host check against DNS rebinding, with the machine endpoints left out of it.

A page on attacker.example whose name now points at the gateway sends ``Host: attacker.example``: the
check refuses it. Probes and metrics scrapers address a pod by its IP, which no list of names can
hold. Leaving those paths out gives a rebinding page nothing: probes tell an anonymous caller only
ok/failing, and /metrics needs a bearer token (a browser never sends one on its own) or a session
cookie (which a browser sends only to the name it was set for, never to attacker.example).
"""

from __future__ import annotations

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send


class TrustedHosts:
    def __init__(self, app: ASGIApp, allowed_hosts: list[str], any_host_paths: frozenset[str]) -> None:
        self.app = app
        self.checked = TrustedHostMiddleware(app, allowed_hosts=allowed_hosts)
        self.any_host_paths = any_host_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.any_host_paths:
            await self.app(scope, receive, send)
        else:
            await self.checked(scope, receive, send)
