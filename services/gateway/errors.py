"""Every error leaves the gateway as JSON ``{"error": code, "message": text}``."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.core.errors import Conflict, InvalidInput, NotAllowed, NotFound, StoreUnavailable
from services.core.faces.decode import ImageDecodeError

log = logging.getLogger(__name__)

_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
          409: "conflict", 413: "too_large", 415: "unsupported_type", 422: "invalid", 503: "unavailable"}


_FASTAPI_PARSE_FAILURE = "There was an error parsing the body"  # FastAPI's 400 for a body it cannot decode
RETRY_AFTER_SECONDS = "5"  # a store that dropped out is usually back (or failed over) within seconds


class ApiError(Exception):
    """Raised by routes for a specific status and code."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code or _CODES.get(status, "error")


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def unavailable_response(exc: StoreUnavailable) -> JSONResponse:
    log.warning("store unavailable: %s", exc)
    return error_response(503, "unavailable", f"{exc} Try again shortly.", {"Retry-After": RETRY_AFTER_SECONDS})


def _place(loc: Sequence[object]) -> str:
    """Where in the request an error is: a body field by its path, a parameter by where it goes."""
    source, *path = [str(part) for part in loc] or ["body"]
    if not path:
        return "the body" if source == "body" else source
    field = ".".join(path)
    return field if source == "body" else f"{source} '{field}'"


def _describe(err: Mapping[str, Any]) -> str:
    if err.get("type") == "json_invalid":
        loc = list(err.get("loc", ()))
        at = f" (at character {loc[1]})" if len(loc) > 1 and isinstance(loc[1], int) else ""
        return f"the body is not valid JSON: {err.get('ctx', {}).get('error', 'it cannot be parsed')}{at}"
    message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
    return f"{_place(err.get('loc', ()))}: {message}"


def _describe_validation(exc: RequestValidationError) -> str:
    return "; ".join(_describe(err) for err in exc.errors()) or "the request is not valid"


def _is_unread_body(exc: RequestValidationError) -> bool:
    """FastAPI hands the body on as raw bytes when its Content-Type is not JSON: it was never read as JSON."""
    return any(tuple(err.get("loc", ())) == ("body",) and isinstance(err.get("input"), bytes)
               for err in exc.errors())


def _unparsable_body(exc: StarletteHTTPException) -> str | None:
    """What is wrong with a body FastAPI could not parse at all (its 400), or None for other 400s."""
    if exc.status_code != 400 or exc.detail != _FASTAPI_PARSE_FAILURE:
        return None
    cause = exc.__cause__
    if isinstance(cause, UnicodeDecodeError):
        return f"the body is not valid JSON: it is not UTF-8 text (byte {cause.start} cannot be decoded)"
    return f"the body cannot be read: {cause or 'it is malformed'}"


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

    @app.exception_handler(NotAllowed)
    async def _not_allowed(_: Request, exc: NotAllowed) -> JSONResponse:
        return error_response(403, "forbidden", str(exc))

    @app.exception_handler(InvalidInput)
    async def _invalid(_: Request, exc: InvalidInput) -> JSONResponse:
        return error_response(422, "invalid", str(exc))

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        return unavailable_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        if _is_unread_body(exc):  # as invalid as a body of the wrong shape: the same 422, saying what to do
            return error_response(422, "invalid", "the body is not JSON: send it with the header "
                                                  "Content-Type: application/json")
        return error_response(422, "invalid", _describe_validation(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        unparsable = _unparsable_body(exc)
        if unparsable is not None:  # a body that is not JSON at all is as invalid as one of the wrong shape
            return error_response(422, "invalid", unparsable)
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        if exc.status_code == 404 and message == "Not Found":
            message = "No such endpoint; see /docs for the API."
        if exc.status_code == 405:
            allowed = (exc.headers or {}).get("Allow", "")
            message = f"This endpoint does not take {request.method}" + (f"; it takes {allowed}." if allowed else ".")
        return error_response(exc.status_code, _CODES.get(exc.status_code, "error"), message, exc.headers)
