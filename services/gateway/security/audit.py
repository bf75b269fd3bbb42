"""Writing the audit trail from a route: who (the principal), what, on what, before and after."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request

from services.core.access.model import AuditEntry
from services.gateway.security.policy import principal_of

log = logging.getLogger("facetag.audit")


def client_of(request: Request) -> str | None:
    return request.client.host if request.client else None


async def audit(request: Request, action: str, target_kind: str | None = None, target_id: str | None = None, *,
                before: dict[str, Any] | None = None, after: dict[str, Any] | None = None,
                actor: str | None = None) -> None:
    """Record one action. ``actor`` overrides the principal (sign-in, where nobody is signed in yet)."""
    principal = principal_of(request)
    who = actor or (principal.name if principal else "anonymous")
    entry = AuditEntry(actor=who, action=action, target_kind=target_kind, target_id=target_id, before=before,
                       after=after, client=client_of(request))
    await request.app.state.stores.access.add_audit(entry)
    log.info("%s by %s on %s %s", action, who, target_kind or "-", target_id or "-")
