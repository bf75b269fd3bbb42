"""Every error leaves the gateway as JSON ``{"error": code, "message": text}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.core.errors import Conflict, InvalidInput, NotFound, StoreUnavailable
from services.core.faces.decode import ImageDecodeError

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_type", 422: "invalid", 503: "unavailable"}


RETRY_AFTER_SECONDS = "5"  # a store that dropped out is usually back (or failed over) within seconds


class ApiError(Exception):
    """Raised by routes for a specific status and code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = [str(p) for p in err.get("loc", ()) if p not in ("body",)]
        place = f"{where[0]} '{'.'.join(where[1:])}'" if len(where) > 1 else (where[0] if where else "request")
        parts.append(f"{place}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "the request is not valid"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(exc.status, exc.code, str(exc))

    @app.exception_handler(ImageDecodeError)
    async def _decode(_: Request, exc: ImageDecodeError) -> JSONResponse:
        return error_response(exc.status_code, exc.reason, str(exc))

    @app.exception_handler(NotFound)
    async def _not_found(_: Request, exc: NotFound) -> JSONResponse:
        return error_response(404, "not_found", str(exc))

    @app.exception_handler(Conflict)
    async def _conflict(_: Request, exc: Conflict) -> JSONResponse:
        return error_response(409, "conflict", str(exc))

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return error_response(422, "invalid", str(exc))

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store unavailable: %s", exc)
        return error_response(503, "unavailable", f"{exc} Try again shortly.", {"Retry-After": RETRY_AFTER_SECONDS})

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(422, "invalid", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "No such endpoint; see /docs for the API."
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"This endpoint does not take {request.method}" + (f"; it takes {allowed}." if allowed else ".")
        return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), message, exc.headers)
