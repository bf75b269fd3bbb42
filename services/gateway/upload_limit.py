"""Refuse an upload whose declared size is over the limit before its body is received."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from services.gateway.errors import error_response

MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around the file


def install_upload_limit(app: FastAPI, max_bytes: int) -> None:
    @app.middleware("http")
    async def _limit(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        declared = request.headers.get("content-length", "")
        if request.method == "POST" and declared.isdigit() and int(declared) > max_bytes + MULTIPART_OVERHEAD:
            return error_response(413, "too_large", f"The upload is {int(declared):,} bytes; the limit is "
                                  f"{max_bytes:,} bytes per photo.")
        return await call_next(request)
