"""The audit trail for admins: who did what, when, with before and after."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.core.access.model import AuditQuery
from services.core.cursors import NewestKey, decode
from services.gateway.access_schemas import AuditOut, AuditPage
from services.gateway.deps import StoresDep
from services.gateway.inputs import Instant
from services.gateway.paging import Cursor
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1/admin/audit", tags=["audit"], dependencies=[allow(Policy.admin)])


@router.get("", response_model=AuditPage, summary="Audit entries, newest first")
async def list_audit(
    stores: StoresDep,
    actor: Annotated[str | None, Query(max_length=256, description="Username, or admin-key.")] = None,
    action: Annotated[str | None, Query(max_length=64, description="e.g. person.rename")] = None,
    target_id: Annotated[str | None, Query(max_length=128)] = None,
    since: Annotated[Instant | None, Query(description="At or after this time.")] = None,
    until: Annotated[Instant | None, Query(description="Before this time.")] = None,
    cursor: Cursor = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> AuditPage:
    page = await stores.access.list_audit(AuditQuery(actor=actor, action=action, target_id=target_id, since=since,
                                                     until=until, after=decode(NewestKey, cursor), limit=limit))
    return AuditPage(items=[AuditOut.of(entry) for entry in page.items], next_cursor=page.next_cursor)
