"""The FastAPI gateway: REST API under /v1, health checks, and the web UI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from prometheus_fastapi_instrumentator import Instrumentator

from services import __version__
from services.core.event_bus import EventBus
from services.core.event_hub import EventHub
from services.core.metrics import METRICS_PATH
from services.core.queue import make_celery
from services.core.settings import Settings, get_settings
from services.core.stores import Stores
from services.gateway.body_limit import BodyLimit
from services.gateway.errors import install_error_handlers
from services.gateway.face_index_live import LiveFaceIndex
from services.gateway.live_outputs.runtime import LiveOutputs
from services.gateway.outbox import Outbox
from services.gateway.reconciler import run_reconciler
from services.gateway.responses import document_errors
from services.gateway.routes import (
    actions,
    admin,
    audit_log,
    auth,
    clusters,
    downloads,
    events,
    face_batch,
    face_search,
    faces,
    health,
    image_edits,
    image_lookup,
    images,
    jobs,
    metrics,
    model_status,
    people,
    people_duplicates,
    review,
    tokens,
    users,
    webhooks,
)
from services.gateway.security.middleware import Gate
from services.gateway.security.policy import Policy, allow, api_routes, policy_of
from services.gateway.security.trusted_hosts import TrustedHosts
from services.gateway.web_mount import WebPages

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"
SWAGGER_DIR = Path(str(resources.files("fastapi_offline") / "static"))
# What is not a route of its own, and what it needs. Web pages and the API docs need a signed-in
# user; the sign-in page and what it loads (styles, scripts, icon) are public.
PUBLIC_WEB = frozenset({"/login.html", "/favicon.svg"})
PUBLIC_WEB_PREFIXES = ("/css/", "/js/")
OTHER_POLICIES = {"/openapi.json": Policy.signed_in, "/docs-assets": Policy.signed_in, "/": Policy.signed_in}
# Fixed paths (/v1/faces/batch, /v1/people/duplicates) come before the routers whose /{id} would take them.
ROUTERS = (images, image_edits, face_batch, faces, actions, review, people_duplicates, people, clusters, face_search,
           downloads, health, jobs, model_status, admin, auth, users, tokens, audit_log, metrics,
           events, webhooks, image_lookup)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.stores = await Stores.open(settings)
        app.state.celery = make_celery(settings)
        app.state.outbox = Outbox(app.state.celery)
        app.state.event_bus = EventBus.for_settings(settings)
        app.state.event_hub = EventHub(app.state.event_bus.transport)
        app.state.face_index = LiveFaceIndex(app.state.stores.catalog)
        background = [asyncio.create_task(run_reconciler(app.state.stores, app.state.celery, settings,
                                                     app.state.event_bus)),
                      asyncio.create_task(app.state.outbox.run()),
                      asyncio.create_task(app.state.event_hub.run()),
                      asyncio.create_task(app.state.face_index.run(app.state.event_hub))]
        app.state.live_outputs = await LiveOutputs.start(settings, app.state.event_hub)
        log.info("gateway ready: catalog %s, blobs %s, broker %s", settings.catalog_url.split("@")[-1],
                 settings.blob_url.split("@")[-1], "embedded" if settings.embedded_broker else "redis")
        try:
            yield
        finally:
            for task in background:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await app.state.live_outputs.stop()
            app.state.event_bus.close()
            await app.state.stores.close()

    app = FastAPI(
        title="Facetag",
        version=__version__,
        description="Upload photos, find and name the faces in them, and teach the model from corrections. "
                    "Sign in at /login.html (a session cookie), or send a personal API token as "
                    "`Authorization: Bearer TOKEN`.",
        lifespan=lifespan,
        docs_url=None,  # served below from the fastapi-offline package's files: nothing from a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)

    @app.get("/docs", include_in_schema=False, dependencies=[allow(Policy.signed_in)])
    async def docs(_: Request) -> FileResponse:
        return FileResponse(WEB_DIR / "docs.html")

    app.mount("/docs-assets", StaticFiles(directory=SWAGGER_DIR), name="docs-assets")
    if WEB_DIR.is_dir():
        app.mount("/", WebPages(app, WEB_DIR), name="web")
    document_errors(app)
    public = frozenset(r.path for r in api_routes(app) if policy_of(r) is Policy.public)
    # Added last is outermost: hosts are checked first, then CORS answers preflights, then the gate, then
    # body sizes are counted.
    app.add_middleware(BodyLimit, max_upload_bytes=settings.max_upload_bytes, max_json_bytes=settings.max_json_bytes)
    app.add_middleware(Gate, settings=settings, public_paths=public | PUBLIC_WEB,
                       public_prefixes=PUBLIC_WEB_PREFIXES)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origin_list,
                           allow_methods=["*"], allow_headers=["Authorization", "Content-Type", "X-CSRF-Token"])
    if "*" not in settings.trusted_host_list:
        app.add_middleware(TrustedHosts, allowed_hosts=settings.trusted_host_list,
                           any_host_paths=frozenset({"/healthz", "/readyz", METRICS_PATH}))
    # Outermost: every answer is timed, refusals included, by route template (unmatched paths as "none"); not
    # the event stream, which lasts as long as a page stays open and would only fill the top bucket.
    Instrumentator(excluded_handlers=[METRICS_PATH, events.STREAM_PATH]).add(metrics.observe_request).instrument(app)
    return app

