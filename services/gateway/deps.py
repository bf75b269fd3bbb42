"""Request-scoped access to what the gateway opened at start-up."""

from __future__ import annotations

from typing import Annotated

from celery import Celery
from fastapi import Depends, Request

from services.core.settings import Settings
from services.core.stores import Stores
from services.gateway.outbox import Outbox


def _stores(request: Request) -> Stores:
    stores: Stores = request.app.state.stores
    return stores


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _celery(request: Request) -> Celery:
    celery: Celery = request.app.state.celery
    return celery


def _outbox(request: Request) -> Outbox:
    outbox: Outbox = request.app.state.outbox
    return outbox


StoresDep = Annotated[Stores, Depends(_stores)]
SettingsDep = Annotated[Settings, Depends(_settings)]
CeleryDep = Annotated[Celery, Depends(_celery)]
OutboxDep = Annotated[Outbox, Depends(_outbox)]
