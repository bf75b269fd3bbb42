"""Who a request comes from: a session cookie, a personal API token, an operator's admin key, or
Prometheus with the metrics token (good for ``/metrics`` only).

``Authorization: Bearer`` (or ``X-Admin-Key``) wins over the cookie; a credential that is sent but not
valid is refused outright rather than ignored, so a revoked token never falls back to a cookie.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Literal

from starlette.requests import HTTPConnection

from services.core.access.accounts import Accounts
from services.core.access.model import ROLE_SCOPES, Role, Scope, Session, expand
from services.core.metrics import METRICS_PATH, is_metrics_token
from services.core.settings import Settings

SESSION_COOKIE = "facetag_session"
CSRF_COOKIE = "facetag_csrf"
CSRF_HEADER = "X-CSRF-Token"
ADMIN_KEY_HEADER = "X-Admin-Key"


class BadCredential(Exception):
    """A token or key was sent and is not valid (401)."""


@dataclass(frozen=True)
class Principal:
    name: str  # shown in the audit trail
    via: Literal["session", "token", "admin-key", "metrics-token"]
    scopes: frozenset[Scope]
    user_id: str | None = None
    role: Role | None = None
    session: Session | None = None
    token_id: str | None = None


def _given_secret(conn: HTTPConnection) -> str | None:
    key = conn.headers.get(ADMIN_KEY_HEADER, "").strip()
    if key:
        return key
    scheme, _, value = conn.headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() == "bearer":
        return value.strip() or None
    if scheme:
        raise BadCredential("Only Authorization: Bearer TOKEN is accepted.")
    return None


def _is_admin_key(given: str, keys: frozenset[str]) -> bool:
    # Compare with every key, so the time taken says nothing about which or how many matched.
    found = False
    for key in keys:
        found |= hmac.compare_digest(given.encode(), key.encode())
    return found


async def identify(conn: HTTPConnection, accounts: Accounts, settings: Settings) -> Principal | None:
    """The principal behind a request, None when it carries no credentials; BadCredential for a bad one."""
    secret = _given_secret(conn)
    if secret is not None:
        if _is_admin_key(secret, settings.admin_key_set):
            return Principal(name="admin-key", via="admin-key", scopes=frozenset(Scope))
        if is_metrics_token(secret, settings.metrics_token):
            if conn.url.path != METRICS_PATH:
                raise BadCredential(f"The metrics token (FACETAG_METRICS_TOKEN) is only good for {METRICS_PATH}.")
            return Principal(name="metrics", via="metrics-token", scopes=frozenset())
        found = await accounts.token_of(secret)
        if found is None:
            keys = "" if settings.admin_key_set else " (No admin keys are set on this server: FACETAG_ADMIN_KEYS.)"
            raise BadCredential(f"This API token or key is not valid: it was revoked, has expired, or is "
                                f"mistyped.{keys}")
        token, user = found
        # A token never grants more than its owner's role has now.
        scopes = expand(frozenset(token.scopes)) & expand(ROLE_SCOPES[user.role])
        return Principal(name=user.username, via="token", scopes=scopes, user_id=user.id, role=user.role,
                         token_id=token.id)
    cookie = conn.cookies.get(SESSION_COOKIE)
    if cookie:
        signed_in = await accounts.session_of(cookie)
        if signed_in is not None:
            session, user = signed_in
            return Principal(name=user.username, via="session", scopes=ROLE_SCOPES[user.role], user_id=user.id,
                             role=user.role, session=session)
    return None  # an expired or ended session is the same as none: sign in again
