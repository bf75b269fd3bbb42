"""Admins manage accounts: list, add, change role or password, remove."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.core.access.store import username_key
from services.core.cursors import UserKey, cut, decode
from services.gateway.access_schemas import UserChangeIn, UserIn, UserOut
from services.gateway.deps import StoresDep
from services.gateway.paging import Cursor, Paged
from services.gateway.responses import errors
from services.gateway.routes.auth import AccountsDep
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1/admin/users", tags=["users"], dependencies=[allow(Policy.admin)])


class UserPage(Paged):
    items: list[UserOut]


@router.get("", response_model=UserPage, summary="Every account, by username")
async def list_users(stores: StoresDep, cursor: Cursor = None,
                     limit: Annotated[int, Query(ge=1, le=200)] = 100) -> UserPage:
    found = await stores.access.list_users(limit + 1, decode(UserKey, cursor))
    page, next_cursor = cut(found, limit, lambda user: UserKey(name_key=username_key(user.username), id=user.id))
    return UserPage(items=[UserOut.of(user) for user in page], next_cursor=next_cursor)


@router.post("", status_code=201, response_model=UserOut, responses=errors(409), summary="Add an account")
async def add_user(body: UserIn, request: Request, accounts: AccountsDep) -> UserOut:
    user = await accounts.create_user(body.username, body.password, body.role)
    await audit(request, "user.create", "user", user.id, after={"username": user.username, "role": user.role})
    return UserOut.of(user)


@router.patch("/{user_id}", response_model=UserOut, responses=errors(409),
              summary="Change an account's role or reset its password (which signs it out everywhere)")
async def change_user(user_id: str, body: UserChangeIn, request: Request, accounts: AccountsDep) -> UserOut:
    user = await accounts.user(user_id)
    before = {"role": user.role}
    if body.role is not None and body.role != user.role:
        user = await accounts.set_role(user, body.role)
    if body.password is not None:
        user = await accounts.set_password(user, body.password)
    await audit(request, "user.update", "user", user.id, before=before,
                after={"role": user.role, "password_reset": body.password is not None})
    return UserOut.of(user)


@router.delete("/{user_id}", status_code=204, response_class=Response, responses=errors(409),
               summary="Remove an account with its sessions and tokens")
async def remove_user(user_id: str, request: Request, accounts: AccountsDep) -> Response:
    user = await accounts.user(user_id)
    await accounts.remove_user(user)
    await audit(request, "user.delete", "user", user.id, before={"username": user.username, "role": user.role})
    return Response(status_code=204)
