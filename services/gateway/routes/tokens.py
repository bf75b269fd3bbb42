"""Personal API tokens for programs: create (the secret is shown once), list, revoke."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from services.core.access.model import Scope
from services.core.cursors import NewestKey, cut, decode
from services.core.errors import NotFound
from services.gateway.access_schemas import NewTokenOut, TokenIn, TokenOut
from services.gateway.deps import StoresDep
from services.gateway.errors import ApiError
from services.gateway.inputs import QueryFlag
from services.gateway.paging import Cursor, Paged
from services.gateway.responses import errors
from services.gateway.routes.auth import AccountsDep, signed_in
from services.gateway.security.audit import audit
from services.gateway.security.policy import Policy, allow

router = APIRouter(prefix="/v1/tokens", tags=["tokens"], dependencies=[allow(Policy.signed_in)])


class TokenPage(Paged):
    items: list[TokenOut]


@router.get("", response_model=TokenPage, summary="Your tokens, newest first (admins: everyone's)")
async def list_tokens(request: Request, stores: StoresDep,
                      everyone: Annotated[QueryFlag, Query(alias="all", description="Admins: every user's tokens.")]
                      = False, cursor: Cursor = None,
                      limit: Annotated[int, Query(ge=1, le=200)] = 100) -> TokenPage:
    principal = signed_in(request)
    show_all = (everyone or principal.user_id is None) and Scope.admin in principal.scopes
    found = await stores.access.list_tokens(None if show_all else principal.user_id, limit + 1,
                                            decode(NewestKey, cursor))
    page, next_cursor = cut(found, limit, lambda token: NewestKey(at=token.created_at, id=token.id))
    # Only the page's owners are read: a page costs the same however many accounts there are.
    names: dict[str, str] = {}
    for user_id in {token.user_id for token in page}:
        user = await stores.access.get_user(user_id)
        if user is not None:
            names[user_id] = user.username
    return TokenPage(items=[TokenOut.of(token, names.get(token.user_id, "?")) for token in page],
                     next_cursor=next_cursor)


@router.post("", status_code=201, response_model=NewTokenOut, responses=errors(404),
             summary="Create a token; its secret is in the answer and never shown again")
async def create_token(body: TokenIn, request: Request, accounts: AccountsDep) -> NewTokenOut:
    principal = signed_in(request)
    if body.for_user is not None:
        if Scope.admin not in principal.scopes:
            raise ApiError(403, "Only admins can make tokens for someone else (for_user).")
        user = await accounts.user_named(body.for_user)
    elif principal.user_id is None:
        # Like signing out everywhere: an admin key is nobody, so it cannot have a token of its own.
        raise ApiError(403, "An admin key belongs to no user: say whose token this is with for_user.")
    else:
        user = await accounts.user(principal.user_id)
    secret, token = await accounts.create_token(user, body.name, body.scopes, body.expires_in_days)
    await audit(request, "token.create", "token", token.id,
                after={"name": token.name, "scopes": token.scopes, "owner": user.username})
    return NewTokenOut(**TokenOut.of(token, user.username).model_dump(), token=secret)


@router.delete("/{token_id}", status_code=204, response_class=Response,
               summary="Revoke a token (yours; admins: anyone's)")
async def revoke_token(token_id: str, request: Request, stores: StoresDep) -> Response:
    principal = signed_in(request)
    token = await stores.access.get_token(token_id)
    if token is None or (token.user_id != principal.user_id and Scope.admin not in principal.scopes):
        raise NotFound(f"No token with id {token_id!r} of yours.")
    await stores.access.delete_token(token.id)
    await audit(request, "token.revoke", "token", token.id, before={"name": token.name, "scopes": token.scopes})
    return Response(status_code=204)
