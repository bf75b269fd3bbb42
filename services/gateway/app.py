"""The FastAPI gateway: REST API under /v1, health checks, and the web UI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from services import __version__
from services.core.queue import make_celery
from services.core.settings import Settings, get_settings
from services.core.stores import Stores
from services.gateway.errors import install_error_handlers
from services.gateway.reconciler import run_reconciler
from services.gateway.routes import admin, downloads, faces, health, image_edits, images, jobs, people
from services.gateway.upload_limit import install_upload_limit

log = logging.getLogger(__name__)
WEB_DIR = Path(__file__).parent / "web"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.stores = await Stores.open(settings)
        app.state.celery = make_celery(settings)
        reconciler = asyncio.create_task(run_reconciler(app.state.stores, app.state.celery, settings))
        log.info("gateway ready: catalog %s, blobs %s, broker %s", settings.catalog_url.split("@")[-1],
                 settings.blob_url.split("@")[-1], "embedded" if settings.embedded_broker else "redis")
        try:
            yield
        finally:
            reconciler.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reconciler
            await app.state.stores.close()

    app = FastAPI(
        title="Facetag",
        version=__version__,
        description="Upload photos, find and name the faces in them, and teach the model from corrections.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    install_upload_limit(app, settings.max_upload_bytes)
    for module in (images, image_edits, faces, people, downloads, health, jobs, admin):
        app.include_router(module.router)
    if WEB_DIR.is_dir():
        app.mount("/", StaticFiles(directory=WEB_DIR, html=True), name="web")
    return app
