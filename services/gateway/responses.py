"""The error answers of the API, stated once: what each status means, and which routes can give it.

A route lists only its own refusals, with ``responses=errors(409)``. ``document_errors(app)`` adds to the
OpenAPI document what every route of a kind can answer, read from how the route is declared, so no route
can forget one:

- 401 anywhere (a credential that is sent and not valid is refused even on public routes), 403 wherever
  someone must be signed in or the method changes state (cross-site and CSRF refusals), both from the gate;
- 404 wherever an id is in the path;
- 413 and 422 wherever there is a body, 422 wherever there are query or constrained path parameters;
- 503 with Retry-After everywhere: even the gate looks tokens up in a store.

Every error body is ``ErrorOut``; FastAPI's own 422 shape (``HTTPValidationError``) is never sent, so it is
replaced wherever FastAPI put it.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from services.gateway.schemas import ErrorOut
from services.gateway.security.middleware import SAFE_METHODS
from services.gateway.security.policy import Policy, api_routes, policy_of

MEANINGS = {
    400: "The file is empty: there is nothing to read.",
    401: "Nobody signed in (no session cookie or API token), or the token or key sent is not valid.",
    403: "Signed in, but without the role or scope this needs (or asking for a token with scopes beyond its "
         "owner's role); or a cross-site request, or a session request without its CSRF token.",
    404: "Nothing has that id (or an id the request refers to), or it has been deleted.",
    409: "The request is well-formed but clashes with what is stored (a name taken, a box past its photo's "
         "edge, a label to confirm that is not there); the message says how.",
    413: "The body (or the image's pixel count) is over the limit.",
    415: "The file is not an image format this service reads.",
    422: "The request breaks a rule this document states (a type, length, range, format, pattern or a count "
         "of fields), or its body is not JSON sent as application/json; the message names the field and the "
         "rule.",
    429: "Too many failed sign-ins: locked for a while.",
    503: "A store or the queue does not answer; nothing was changed. Try again after Retry-After seconds.",
}
_WAIT = {"Retry-After": {"description": "Seconds to wait before trying again.", "schema": {"type": "integer"}}}
_HEADERS = {429: _WAIT, 503: _WAIT}
_ERROR_REF = {"$ref": f"#/components/schemas/{ErrorOut.__name__}"}
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def error(status: int, meaning: str | None = None) -> dict[str, Any]:
    """``responses=`` entry of one error status: the ``ErrorOut`` body, its meaning (the usual one unless a
    route's is its own), its headers."""
    doc: dict[str, Any] = {"model": ErrorOut, "description": meaning or MEANINGS[status]}
    if status in _HEADERS:
        doc["headers"] = _HEADERS[status]
    return doc


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route's (or router's) own refusals, beyond those every route of its kind has."""
    return {status: error(status) for status in statuses}


def file_answer(description: str, *media_types: str) -> dict[str, Any]:
    """``responses=`` entry of a download: its bytes, in one of these media types."""
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {"description": description, "content": {media_type: binary for media_type in media_types}}


ZIP = file_answer("A zip archive.", "application/zip")


def _openapi_error(status: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"description": MEANINGS[status], "content": {"application/json": {"schema": _ERROR_REF}}}
    if status in _HEADERS:
        doc["headers"] = _HEADERS[status]
    return doc


def _common(route: Any) -> list[int]:
    """The error statuses every route declared like this one can answer."""
    dependant = route.dependant
    statuses = [401, 503]
    if policy_of(route) is not Policy.public or route.methods - SAFE_METHODS:
        statuses.append(403)
    if dependant.path_params:
        statuses.append(404)
    if route.body_field is not None:
        statuses += [413, 422]
    elif dependant.query_params or any(param.field_info.metadata for param in dependant.path_params):
        statuses.append(422)  # a path parameter without constraints takes any text: it cannot be invalid
    return statuses


def _is_fastapi_validation(response: dict[str, Any]) -> bool:
    ref = response.get("content", {}).get("application/json", {}).get("schema", {}).get("$ref", "")
    return ref.rsplit("/", 1)[-1] in _FASTAPI_VALIDATION


def add_common_errors(app: FastAPI, document: dict[str, Any]) -> None:
    """Complete a generated OpenAPI document with the error answers each route's kind can give."""
    for route in api_routes(app):
        operations = document["paths"].get(route.path_format, {})
        for method in route.methods:
            responses = operations.get(method.lower(), {}).get("responses")
            if responses is None:  # not in the document (include_in_schema=False)
                continue
            if "422" in responses and _is_fastapi_validation(responses["422"]):
                del responses["422"]
            for status in _common(route):
                responses.setdefault(str(status), _openapi_error(status))
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    schemas.setdefault(ErrorOut.__name__, ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}"))


def document_errors(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so /openapi.json) state every route's error answers."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            add_common_errors(app, generate())
        return app.openapi_schema  # type: ignore[return-value]  # set by generate()

    app.openapi = openapi  # type: ignore[method-assign]
