"""Every request body has a size limit, counted as it arrives (a declared length and chunked alike).

Photos (multipart uploads) may be up to ``FACETAG_MAX_UPLOAD_BYTES``; everything else, JSON above all,
up to ``FACETAG_MAX_JSON_BYTES``. A declared length over the limit is refused before anything is read;
an undeclared (chunked) body is refused as soon as it passes the limit, whatever the route was doing.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.gateway.errors import error_response

MULTIPART_OVERHEAD = 64 * 1024  # form boundaries and headers around the file


class BodyLimit:
    def __init__(self, app: ASGIApp, max_upload_bytes: int, max_json_bytes: int) -> None:
        self.app = app
        self.max_upload_bytes = max_upload_bytes
        self.max_json_bytes = max_json_bytes

    def _limit(self, scope: Scope) -> tuple[int, str]:
        headers = dict(scope.get("headers") or [])
        if headers.get(b"content-type", b"").startswith(b"multipart/form-data"):
            return self.max_upload_bytes + MULTIPART_OVERHEAD, f"{self.max_upload_bytes:,} bytes per photo"
        return self.max_json_bytes, f"{self.max_json_bytes:,} bytes for a request body (FACETAG_MAX_JSON_BYTES)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, what = self._limit(scope)
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > limit:
            await self._refuse(send, f"The request body is {int(declared):,} bytes; the limit is {what}.")
            return
        seen = 0
        over = False
        started = False

        async def counted() -> Message:
            nonlocal seen, over
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    over = True
                    return {"type": "http.disconnect"}  # the route stops reading; the answer is ours
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if over:
                return  # whatever the route answers to a cut-off body, the client gets the 413
            started = True
            await send(message)

        try:
            await self.app(scope, counted, guarded)
        except Exception:
            if not over:
                raise
        if over and not started:
            await self._refuse(send, f"The request body is larger than the limit of {what}.")

    @staticmethod
    async def _refuse(send: Send, message: str) -> None:
        response = error_response(413, "too_large", message)
        await send({"type": "http.response.start", "status": 413, "headers": response.raw_headers})
        await send({"type": "http.response.body", "body": response.body})
