"""A fixed path beside a path with an id (``/v1/faces/batch`` beside ``/v1/faces/{face_id}``) takes only its own
methods: any other is a 405 naming those, not a request to the id route with the id "batch"."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from starlette.routing import Route

from services.gateway.errors import error_response

METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def refuse_other_methods(router: APIRouter, path: str, *taken: str) -> None:
    """Answer 405 with ``Allow`` for every method ``path`` does not take; register before the id route's router."""
    allowed = ", ".join(taken)

    async def refuse(request: Request) -> Response:
        return error_response(405, "method_not_allowed", f"{path} does not take {request.method}; it takes "
                              f"{allowed}.", {"Allow": allowed})

    router.routes.append(Route(path, refuse, methods=[m for m in METHODS if m not in taken], include_in_schema=False))
