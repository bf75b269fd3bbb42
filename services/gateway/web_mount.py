"""The web pages, mounted at ``/`` behind the API: a request under ``/v1/`` that no route took is answered
as the API would (404, or 405 with ``Allow`` naming the methods the path takes), never by the file server."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from services.gateway.errors import error_response
from services.gateway.security.policy import api_routes

API_PREFIX = "/v1/"


class WebPages:
    def __init__(self, app: FastAPI, directory: Path) -> None:
        self.app = app
        self.files = StaticFiles(directory=directory, html=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIX):
            await self.files(scope, receive, send)
            return
        allowed = sorted({method for route in api_routes(self.app) if route.path_regex.match(path)
                          for method in route.methods})
        if allowed:
            response = error_response(405, "method_not_allowed", f"{path} does not take {scope['method']}; it takes "
                                      f"{', '.join(allowed)}.", {"Allow": ", ".join(allowed)})
        else:
            response = error_response(404, "not_found", "No such endpoint; see /docs for the API.")
        await response(scope, receive, send)
