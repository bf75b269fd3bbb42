"""Every route declares what it needs, with ``dependencies=[allow(Policy.X)]``.

The check answers 401 when nobody is signed in and 403 when the principal lacks every scope the
policy accepts, each saying what is needed. ``policy_of(route)`` reads the declaration back, so a
test can walk the route table and fail on a route that declares none.
"""

from __future__ import annotations

from collections.abc import Iterator
from enum import Enum
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.security import APIKeyCookie, HTTPBearer

from services.core.access.model import Scope
from services.gateway.errors import ApiError
from services.gateway.security.principal import SESSION_COOKIE, Principal

SIGN_IN_HINT = ("Sign in first: a session cookie from /login.html, or an API token in the header "
                "Authorization: Bearer TOKEN.")


class Policy(Enum):
    """What a route needs: any one of ``scopes`` (None = public, empty = anyone signed in)."""

    public = (None, "nothing")
    signed_in = (frozenset[Scope](), "any signed-in user or token")
    results = (frozenset({Scope.read, Scope.images_write}), "the read or images:write scope (any role)")
    read = (frozenset({Scope.read}), "the read scope (viewer, editor or admin)")
    upload = (frozenset({Scope.images_write}), "the images:write scope (editor or admin)")
    edit = (frozenset({Scope.edit}), "the edit scope (editor or admin)")
    admin = (frozenset({Scope.admin}), "the admin scope (admin)")
    metrics = (frozenset({Scope.admin}), "the admin scope (admin), or FACETAG_METRICS_TOKEN as a bearer token")

    def __init__(self, scopes: frozenset[Scope] | None, needs: str) -> None:
        self.scopes = scopes
        self.needs = needs

    def allows(self, principal: Principal | None) -> bool:
        if self.scopes is None:
            return True
        if principal is None:
            return False
        if principal.via == "metrics-token":  # good for the metrics and nothing else
            return self is Policy.metrics
        return not self.scopes or bool(self.scopes & principal.scopes)


# Declared so the OpenAPI document (and the Authorize button on /docs) shows both ways in; the
# principal itself is found once per request by the middleware.
_bearer = HTTPBearer(auto_error=False, description="A personal API token, or an admin key from FACETAG_ADMIN_KEYS.")
_cookie = APIKeyCookie(name=SESSION_COOKIE, auto_error=False, description="The session cookie set by sign-in.")


def principal_of(request: Request) -> Principal | None:
    principal: Principal | None = getattr(request.state, "principal", None)
    return principal


def require(policy: Policy, request: Request) -> Principal | None:
    principal = principal_of(request)
    if policy.allows(principal):
        return principal
    if principal is None:
        raise ApiError(401, SIGN_IN_HINT)
    raise ApiError(403, f"Not allowed: this needs {policy.needs}; you are signed in as {principal.name} "
                        f"with {', '.join(sorted(principal.scopes)) or 'no scopes'}.")


def allow(policy: Policy) -> Any:
    """The dependency that enforces ``policy``; put it in a route's ``dependencies``."""

    def check(request: Request) -> None:
        require(policy, request)

    def check_signed(request: Request, _b: Any = Depends(_bearer), _c: Any = Depends(_cookie)) -> None:  # noqa: B008
        require(policy, request)

    chosen = check if policy is Policy.public else check_signed
    chosen.policy = policy  # type: ignore[attr-defined]
    return Depends(chosen)


def policy_of(route: Any) -> Policy | None:
    """The policy a route (or a route context of an included router) declared, or None."""
    dependant = getattr(route, "dependant", None)
    for dependency in dependant.dependencies if dependant is not None else []:
        declared = getattr(dependency.call, "policy", None)
        if isinstance(declared, Policy):
            return declared
    return None


def api_routes(app: FastAPI) -> Iterator[Any]:
    """Every FastAPI route of the app, routes of included routers with their full paths."""
    for context in iter_route_contexts(app.routes):
        if isinstance(context.original_route, APIRoute):
            yield context
