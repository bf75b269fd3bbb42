"""Request and response bodies for sign-in, users, API tokens and the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict

from services.core.access.accounts import MAX_PASSWORD, MIN_PASSWORD
from services.core.access.model import ApiToken, AuditEntry, Role, Scope, User
from services.gateway.inputs import Integer, StrictBody
from services.gateway.paging import Paged

Password = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD,
                 description=f"At least {MIN_PASSWORD} characters.")
Username = Field(min_length=1, max_length=64, pattern=r"^[\t\n\v\f\r ]*[A-Za-z0-9][A-Za-z0-9._@-]{0,63}[\t\n\v\f\r ]*$",
                 description="Letters, digits and . _ @ -, starting with a letter or digit; case-insensitive.")


# Enum values arrive as JSON strings; strict validation of the parsed body would want the enum objects.
RoleName = Annotated[Role, Strict(False)]
ScopeName = Annotated[Scope, Strict(False)]


class LoginIn(StrictBody):
    username: str = Field(min_length=1, max_length=256)
    password: str = Field(min_length=1, max_length=MAX_PASSWORD)


class UserOut(BaseModel):
    id: str
    username: str
    role: RoleName
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: User) -> UserOut:
        return cls.model_validate(user.model_dump(exclude={"password_hash", "password_changed_at"}))


class LoginOut(BaseModel):
    user: UserOut
    csrf_token: str = Field(description="Send it in the X-CSRF-Token header with every state-changing request "
                                        "made with the session cookie (also in the facetag_csrf cookie).")


class MeOut(BaseModel):
    id: str | None
    username: str
    role: Role | None = Field(description="None for an admin key from FACETAG_ADMIN_KEYS.")
    scopes: list[Scope]
    via: Literal["session", "token", "admin-key"]


class PasswordChangeIn(StrictBody):
    current_password: str = Field(min_length=1, max_length=MAX_PASSWORD)
    new_password: str = Password


class UserIn(StrictBody):
    username: str = Username
    password: str = Password
    role: RoleName


class UserChangeIn(StrictBody):
    role: RoleName | None = None
    password: str | None = Field(None, min_length=MIN_PASSWORD, max_length=MAX_PASSWORD,
                                 description=f"A new password (at least {MIN_PASSWORD} characters).")


class TokenIn(StrictBody):
    name: str = Field(min_length=1, max_length=100, description="What the token is for, e.g. 'phone uploader'.")
    scopes: list[ScopeName] = Field(min_length=1, max_length=4)
    expires_in_days: Integer | None = Field(90, ge=1, le=3650, description="None: never expires.")
    for_user: str | None = Field(None, max_length=64, description="Admins: make the token for this username "
                                 "(an admin key, which belongs to no user, must say whose token it is).")


class TokenOut(BaseModel):
    id: str
    name: str
    scopes: list[Scope]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    user_id: str
    username: str

    @classmethod
    def of(cls, token: ApiToken, username: str) -> TokenOut:
        return cls.model_validate({**token.model_dump(exclude={"digest"}), "username": username})


class NewTokenOut(TokenOut):
    token: str = Field(description="The secret: shown only now. Send it as Authorization: Bearer TOKEN.")


class AuditOut(BaseModel):
    id: str
    at: datetime
    actor: str
    action: str
    target_kind: str | None
    target_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    client: str | None

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditOut:
        return cls.model_validate(entry.model_dump())


class AuditPage(Paged):
    items: list[AuditOut]
