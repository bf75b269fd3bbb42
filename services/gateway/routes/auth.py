"""Signing in and out, the signed-in user, and changing one's own password."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse

from services.core.access.accounts import Accounts, SignInRefused
from services.core.access.secrets import verify_password
from services.core.errors import InvalidInput
from services.gateway.access_schemas import LoginIn, LoginOut, MeOut, PasswordChangeIn, UserOut
from services.gateway.deps import SettingsDep, StoresDep
from services.gateway.errors import ApiError, error_response
from services.gateway.responses import errors
from services.gateway.security.audit import audit, client_of
from services.gateway.security.policy import Policy, allow, principal_of
from services.gateway.security.principal import CSRF_COOKIE, SESSION_COOKIE, Principal

router = APIRouter(prefix="/v1/auth", tags=["auth"])


def _accounts(request: Request) -> Accounts:
    return Accounts(request.app.state.stores.access, request.app.state.settings)


AccountsDep = Annotated[Accounts, Depends(_accounts)]


def signed_in(request: Request) -> Principal:
    principal = principal_of(request)
    assert principal is not None  # the policy let the request in
    return principal


def session_user(request: Request) -> Principal:
    principal = signed_in(request)
    if principal.user_id is None:
        raise ApiError(403, "An admin key belongs to no user; sign in as a user for this.")
    return principal


@router.post("/login", response_model=LoginOut, responses=errors(429), dependencies=[allow(Policy.public)],
             summary="Sign in with a username and password; sets the session cookie")
async def login(body: LoginIn, request: Request, accounts: AccountsDep, settings: SettingsDep) -> Response:
    client = client_of(request) or "unknown"
    try:
        user = await accounts.sign_in(body.username, body.password, client)
    except SignInRefused as exc:
        await audit(request, "auth.login_failed", "user", None, actor=body.username.strip()[:64] or "-",
                    after={"locked": exc.retry_after is not None})
        if exc.retry_after is not None:
            response = error_response(429, "locked", str(exc))
            response.headers["Retry-After"] = str(exc.retry_after)
            return response
        return error_response(401, "unauthorized", str(exc))
    cookie, session = await accounts.start_session(user, client)
    await audit(request, "auth.login", "user", user.id, actor=user.username)
    out = LoginOut(user=UserOut.of(user), csrf_token=session.csrf_token)
    response = JSONResponse(out.model_dump(mode="json"))
    max_age = settings.session_hours * 3600
    response.set_cookie(SESSION_COOKIE, cookie, max_age=max_age, httponly=True, samesite="lax",
                        secure=settings.secure_cookies, path="/")
    response.set_cookie(CSRF_COOKIE, session.csrf_token, max_age=max_age, httponly=False, samesite="lax",
                        secure=settings.secure_cookies, path="/")
    return response


def _signed_out(settings: SettingsDep) -> Response:
    response = Response(status_code=204)
    for name in (SESSION_COOKIE, CSRF_COOKIE):
        response.delete_cookie(name, path="/", secure=settings.secure_cookies, samesite="lax")
    return response


@router.post("/logout", status_code=204, response_class=Response,
             dependencies=[allow(Policy.signed_in)], summary="End this session")
async def logout(request: Request, stores: StoresDep, settings: SettingsDep) -> Response:
    principal = signed_in(request)
    if principal.session is not None:
        await stores.access.delete_session(principal.session.id)
        await audit(request, "auth.logout", "user", principal.user_id)
    return _signed_out(settings)


@router.post("/logout-all", status_code=204, response_class=Response,
             dependencies=[allow(Policy.signed_in)], summary="Sign out everywhere: end every session of this user")
async def logout_all(request: Request, stores: StoresDep, settings: SettingsDep) -> Response:
    principal = session_user(request)
    assert principal.user_id is not None
    ended = await stores.access.delete_sessions_of(principal.user_id)
    await audit(request, "auth.logout_all", "user", principal.user_id, after={"sessions_ended": ended})
    return _signed_out(settings)


@router.get("/me", response_model=MeOut, dependencies=[allow(Policy.signed_in)],
            summary="Who is signed in, with which role and scopes")
async def me(request: Request) -> MeOut:
    principal = signed_in(request)
    return MeOut(id=principal.user_id, username=principal.name, role=principal.role,
                 scopes=sorted(principal.scopes), via=principal.via)


@router.post("/password", status_code=204, response_class=Response,
             dependencies=[allow(Policy.signed_in)],
             summary="Change your own password; your other sessions are signed out")
async def change_password(body: PasswordChangeIn, request: Request, accounts: AccountsDep) -> Response:
    principal = session_user(request)
    assert principal.user_id is not None
    user = await accounts.user(principal.user_id)
    if not await asyncio.to_thread(verify_password, user.password_hash, body.current_password):
        raise InvalidInput("The current password is not right.")
    keep = principal.session.id if principal.session else None
    await accounts.set_password(user, body.new_password, keep_session=keep)
    await audit(request, "user.password", "user", user.id)
    return Response(status_code=204)
