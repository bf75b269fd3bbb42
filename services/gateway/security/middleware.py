"""The gate every request passes before a route: headers, who is asking, cross-site refusals.

- Sets the browser hardening headers on every answer (CSP with no inline script, no framing).
- Finds the principal once (``request.state.principal``).
- Refuses, before any body is read: a credential that is not valid (401); a request without one to
  anything not public (401 for the API and media, a redirect to the sign-in page for web pages); a
  state-changing request from a foreign ``Origin`` or ``Sec-Fetch-Site: cross-site`` (403); a
  state-changing request made with the session cookie without the session's CSRF token (403).
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp

from services.core.access.accounts import Accounts
from services.core.errors import StoreUnavailable
from services.core.settings import Settings
from services.gateway.errors import error_response, unavailable_response
from services.gateway.security.policy import SIGN_IN_HINT
from services.gateway.security.principal import CSRF_COOKIE, CSRF_HEADER, BadCredential, identify

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
       "font-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'")
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
LOGIN_PAGE = "/login.html"
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _host_port(netloc: str, scheme: str) -> tuple[str, int] | None:
    """Host and port of ``netloc``; a missing port is the scheme's default (so a proxy's Host matches)."""
    try:
        split = urlsplit(f"//{netloc}")
        port = split.port or _DEFAULT_PORTS.get(scheme, 0)
    except ValueError:
        return None
    return (split.hostname or "", port) if split.hostname else None


class Gate(BaseHTTPMiddleware):
    def __init__(self, app: ASGIApp, settings: Settings, public_paths: frozenset[str],
                 public_prefixes: tuple[str, ...]) -> None:
        super().__init__(app)
        self.settings = settings
        self.public_paths = public_paths
        self.public_prefixes = public_prefixes
        self.allowed_origins = {o.rstrip("/").lower() for o in settings.cors_origin_list}
        if settings.public_url:
            split = urlsplit(settings.public_url)
            self.allowed_origins.add(f"{split.scheme}://{split.netloc}".lower())

    def is_public(self, path: str) -> bool:
        return path in self.public_paths or path.startswith(self.public_prefixes)

    def _same_origin(self, request: Request, origin: str) -> bool:
        if origin.rstrip("/").lower() in self.allowed_origins:
            return True
        split = urlsplit(origin)
        theirs = _host_port(split.netloc, split.scheme)
        return theirs is not None and theirs == _host_port(request.headers.get("host", ""), split.scheme)

    async def dispatch(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await self._gate(request, call_next)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        return response

    async def _gate(self, request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        accounts = Accounts(request.app.state.stores.access, self.settings)
        try:
            principal = await identify(request, accounts, self.settings)
        except BadCredential as exc:
            return error_response(401, "unauthorized", str(exc))
        except StoreUnavailable as exc:  # raised here, outside the routes, it would meet no handler: a 500
            return unavailable_response(exc)
        request.state.principal = principal
        if request.method not in SAFE_METHODS:
            refused = self._cross_site(request) or self._csrf(request)
            if refused:
                return error_response(403, "forbidden", refused)
        if principal is None and not self.is_public(request.url.path):
            if request.method == "GET" and self._wants_page(request):
                target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
                return RedirectResponse(f"{LOGIN_PAGE}?next={quote(target, safe='')}", status_code=303)
            return error_response(401, "unauthorized", SIGN_IN_HINT)
        return await call_next(request)

    def _cross_site(self, request: Request) -> str | None:
        origin = request.headers.get("origin")
        if origin and origin != "null" and not self._same_origin(request, origin):
            return (f"Cross-site request refused: it comes from {origin}, which is not this service. "
                    "Set FACETAG_PUBLIC_URL or FACETAG_CORS_ORIGINS if that origin should be let in.")
        if origin == "null" or request.headers.get("sec-fetch-site") == "cross-site":
            return "Cross-site request refused: it was sent by another site's page."
        return None

    @staticmethod
    def _csrf(request: Request) -> str | None:
        principal = request.state.principal
        if principal is None or principal.session is None:
            return None  # a token or key in a header is never sent by a browser on its own
        given = request.headers.get(CSRF_HEADER, "")
        if given and hmac.compare_digest(given.encode(), principal.session.csrf_token.encode()):
            return None
        return (f"Missing or wrong {CSRF_HEADER} header: a request made with the session cookie must send the "
                f"value of the {CSRF_COOKIE} cookie in it (the web pages do).")

    @staticmethod
    def _wants_page(request: Request) -> bool:
        path = request.url.path
        return not path.startswith("/v1/") and (path.endswith((".html", "/")) or "text/html" in
                                                request.headers.get("accept", ""))
