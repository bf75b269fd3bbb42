"""Recent corrections, and undoing one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from services.core.cursors import NewestKey, cut, decode
from services.core.errors import NotAllowed, NotFound
from services.gateway.deps import StoresDep
from services.gateway.paging import Cursor, Paged
from services.gateway.responses import errors
from services.gateway.security.policy import Policy, allow, principal_of
from services.gateway.undo import ActionOut, UndoResult, action_out, actor_of, undo

router = APIRouter(prefix="/v1/actions", tags=["undo"])


def _sees_everyone(request: Request) -> bool:
    return Policy.admin.allows(principal_of(request))


class ActionPage(Paged):
    items: list[ActionOut]


@router.get("", response_model=ActionPage, dependencies=[allow(Policy.edit)],
            summary="Your recent corrections that can be undone, newest first (an admin sees everyone's)")
async def list_actions(request: Request, stores: StoresDep, cursor: Cursor = None,
                       limit: Annotated[int, Query(ge=1, le=200)] = 20) -> ActionPage:
    actor = None if _sees_everyone(request) else actor_of(request)
    found = await stores.catalog.list_actions(actor, limit + 1, decode(NewestKey, cursor))
    page, next_cursor = cut(found, limit, lambda action: NewestKey(at=action.created_at, id=action.id))
    return ActionPage(items=[action_out(a) for a in page], next_cursor=next_cursor)


@router.post("/{action_id}/undo", response_model=UndoResult, responses=errors(409), dependencies=[allow(Policy.edit)],
             summary="Undo a correction: merge, split, delete person, not X, a named cluster, a bulk change",
             description="Faces someone changed since are left as they are (`faces_left`). 409 if it was undone "
                         "already or a person it brings back has a name someone took meanwhile.")
async def undo_action(action_id: str, request: Request, stores: StoresDep) -> UndoResult:
    action = await stores.catalog.get_action(action_id)
    if action is None:
        raise NotFound(f"No action with id {action_id!r}.")
    if action.actor != actor_of(request) and not _sees_everyone(request):
        raise NotAllowed("Only the person who made a change, or an admin, can undo it.")
    return await undo(request, stores, action)
