"""Admins manage accounts: list, add, change role or password, remove."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.gateway.access_schemas import UserChangeIn, UserIn, UserOut
from services.gateway.deps import StoresDep
from services.gateway.responses import errors
from services.gateway.routes.auth import AccountsDep
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1/admin/users", tags=["users"], dependencies=[allow(Policy.admin)])


@router.get("", response_model=list[UserOut], summary="Every account, by username")
async def list_users(stores: StoresDep) -> list[UserOut]:
    return [UserOut.of(user) for user in await stores.access.list_users()]


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
