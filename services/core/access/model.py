"""Access records: users with a role, sessions, API tokens with scopes, sign-in throttles, audit entries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field

from services.core.cursors import NewestKey
from services.core.domain import new_id, utcnow


class Role(StrEnum):
    admin = "admin"  # everything, including users, models and keys
    editor = "editor"  # upload, name and correct faces, manage people
    viewer = "viewer"  # see the gallery, people and search


class Scope(StrEnum):
    images_write = "images:write"  # upload photos and read their results
    read = "read"  # the gallery, people, search and media
    edit = "edit"  # name and correct faces, manage people, delete photos
    admin = "admin"  # users, tokens of others, models, audit, privacy actions


ROLE_SCOPES: dict[Role, frozenset[Scope]] = {
    Role.viewer: frozenset({Scope.read}),
    Role.editor: frozenset({Scope.read, Scope.edit, Scope.images_write}),
    Role.admin: frozenset(Scope),
}

# What a token scope grants besides itself: admin is everything (so FACETAG_ADMIN_KEYS keep working for
# every route), editing needs reading.
_IMPLIED: dict[Scope, frozenset[Scope]] = {
    Scope.admin: frozenset(Scope),
    Scope.edit: frozenset({Scope.edit, Scope.read}),
    Scope.read: frozenset({Scope.read}),
    Scope.images_write: frozenset({Scope.images_write}),
}


def expand(scopes: frozenset[Scope] | set[Scope] | list[Scope]) -> frozenset[Scope]:
    granted: set[Scope] = set()
    for scope in scopes:
        granted |= _IMPLIED[scope]
    return frozenset(granted)


class User(BaseModel):
    id: str = Field(default_factory=new_id)
    username: str
    role: Role
    password_hash: str
    created_at: datetime = Field(default_factory=utcnow)
    password_changed_at: datetime = Field(default_factory=utcnow)
    last_login_at: datetime | None = None


class Session(BaseModel):
    """A signed-in browser. ``id`` is the sha256 of the cookie value: the store never holds the secret."""

    id: str
    user_id: str
    csrf_token: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime
    client: str | None = None


class ApiToken(BaseModel):
    """A personal token for a program. ``digest`` is the sha256 of the secret, which is shown once."""

    id: str = Field(default_factory=new_id)
    user_id: str
    name: str
    scopes: list[Scope]
    digest: str
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


class Throttle(BaseModel):
    """Failed sign-ins for one key (an account name or a client address) within the current window."""

    key: str
    failures: int = 0
    first_failure_at: datetime = Field(default_factory=utcnow)
    locked_until: datetime | None = None


class AuditEntry(BaseModel):
    id: str = Field(default_factory=new_id)
    at: datetime = Field(default_factory=utcnow)
    actor: str  # a username, "admin-key", or a worker for what runs on its own
    action: str  # e.g. "person.rename"
    target_kind: str | None = None
    target_id: str | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    client: str | None = None


class AuditQuery(BaseModel):
    actor: str | None = None
    action: str | None = None
    target_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    after: NewestKey | None = None  # keyset: the page starts after this entry
    limit: int = Field(50, ge=1, le=500)
