"""The access store: users, sessions, tokens, sign-in throttles and audit. SQLite and MongoDB pass one contract."""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime

from services.core.access.model import ApiToken, AuditEntry, AuditQuery, Session, Throttle, User
from services.core.cursors import NewestKey, UserKey
from services.core.domain import Page


def username_key(username: str) -> str:
    """Usernames compare case-insensitively and without surrounding spaces."""
    return username.strip().casefold()


class AccessStore(ABC):
    """Async store of who may sign in and what they did.

    Usernames are unique by ``username_key``: ``add_user`` raises Conflict for a taken one. Lists
    come back in a fixed order: users by username, tokens newest first, audit newest first.
    """

    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    # users
    @abstractmethod
    async def add_user(self, user: User) -> User:
        """Conflict if the username is taken."""

    @abstractmethod
    async def get_user(self, user_id: str) -> User | None: ...

    @abstractmethod
    async def find_user(self, username: str) -> User | None:
        """By username, compared as ``username_key``."""

    @abstractmethod
    async def list_users(self, limit: int | None = None, after: UserKey | None = None) -> list[User]:
        """Users by ``username_key``, then id: at most ``limit`` (None: all) after ``after`` (keyset pages)."""

    @abstractmethod
    async def save_user(self, user: User) -> User:
        """Replace a user's record (role, password, times); NotFound if absent; Conflict for a taken username."""

    @abstractmethod
    async def delete_user(self, user_id: str) -> bool:
        """Delete the user with all their sessions and tokens; False if absent."""

    # sessions
    @abstractmethod
    async def add_session(self, session: Session) -> None: ...

    @abstractmethod
    async def get_session(self, session_id: str, now: datetime) -> Session | None:
        """The session if it exists and has not expired at ``now``."""

    @abstractmethod
    async def delete_session(self, session_id: str) -> bool: ...

    @abstractmethod
    async def delete_sessions_of(self, user_id: str, keep: str | None = None) -> int:
        """End every session of a user except ``keep``; how many ended."""

    # tokens
    @abstractmethod
    async def add_token(self, token: ApiToken) -> ApiToken: ...

    @abstractmethod
    async def get_token(self, token_id: str) -> ApiToken | None: ...

    @abstractmethod
    async def find_token(self, digest: str) -> ApiToken | None:
        """By the sha256 of its secret (expired tokens too: the caller decides)."""

    @abstractmethod
    async def list_tokens(self, user_id: str | None = None, limit: int | None = None,
                          after: NewestKey | None = None) -> list[ApiToken]:
        """A user's tokens, or everyone's when ``user_id`` is None, newest first: at most ``limit`` (None: all)
        after ``after`` (keyset pages)."""

    @abstractmethod
    async def mark_token_used(self, token_id: str, at: datetime) -> None: ...

    @abstractmethod
    async def delete_token(self, token_id: str) -> bool: ...

    # sign-in throttling
    @abstractmethod
    async def get_throttle(self, key: str) -> Throttle | None: ...

    @abstractmethod
    async def save_throttle(self, throttle: Throttle) -> None: ...

    @abstractmethod
    async def clear_throttle(self, key: str) -> None: ...

    @abstractmethod
    async def purge(self, now: datetime, failures_before: datetime) -> int:
        """Forget sessions expired at ``now`` and throttles whose failures began before ``failures_before`` and
        that are not locked at ``now``; how many records went."""

    # audit
    @abstractmethod
    async def add_audit(self, entry: AuditEntry) -> None: ...

    @abstractmethod
    async def list_audit(self, query: AuditQuery) -> Page[AuditEntry]:
        """Entries matching every filter given (``since`` inclusive, ``until`` exclusive), newest first."""

    @abstractmethod
    async def redact_audit(self, target_ids: set[str], reference: str) -> int:
        """Erase what entries say about these targets: their target id becomes ``reference`` and their
        before/after details are dropped. How many entries changed."""
