"""What the gateway and the ``facetag users`` command do with accounts: create and change users (never
leaving the service without an admin), sign in with throttling, sessions, and API tokens."""

from __future__ import annotations

import asyncio
import os
import re
from datetime import datetime, timedelta
from pathlib import Path

from services.core.access import secrets
from services.core.access.model import ROLE_SCOPES, ApiToken, Role, Scope, Session, Throttle, User
from services.core.access.store import AccessStore, username_key
from services.core.domain import utcnow
from services.core.errors import Conflict, FacetagError, InvalidInput, NotAllowed, NotFound
from services.core.settings import Settings

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
INITIAL_PASSWORD_FILE = "initial-admin-password"
SLOWDOWN_STEP = 0.3  # seconds added per failure in the window, up to SLOWDOWN_MAX
SLOWDOWN_MAX = 2.0


class SignInRefused(FacetagError):
    """Wrong credentials (``retry_after`` None) or a lock (seconds until it lifts). Says nothing of whether
    the account exists."""

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def check_username(username: str) -> str:
    username = username.strip()
    if not USERNAME.match(username):
        raise InvalidInput("a username is 1 to 64 letters, digits or . _ @ -, starting with a letter or digit")
    return username


def check_password(password: str) -> str:
    if not MIN_PASSWORD <= len(password) <= MAX_PASSWORD:
        raise InvalidInput(f"a password needs at least {MIN_PASSWORD} characters (and at most {MAX_PASSWORD})")
    return password


class Accounts:
    def __init__(self, store: AccessStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    # users

    async def create_user(self, username: str, password: str, role: Role) -> User:
        user = User(username=check_username(username), role=Role(role),
                    password_hash=await _hash(check_password(password)))
        return await self.store.add_user(user)

    async def user_named(self, username: str) -> User:
        user = await self.store.find_user(username)
        if user is None:
            raise NotFound(f"no user named {username!r}")
        return user

    async def user(self, user_id: str) -> User:
        user = await self.store.get_user(user_id)
        if user is None:
            raise NotFound(f"no user with id {user_id}")
        return user

    async def _other_admins(self, user: User) -> int:
        return sum(1 for u in await self.store.list_users() if u.role == Role.admin and u.id != user.id)

    async def set_role(self, user: User, role: Role) -> User:
        if user.role == Role.admin and role != Role.admin and not await self._other_admins(user):
            raise Conflict(f"{user.username} is the last admin; make someone else admin first")
        return await self.store.save_user(user.model_copy(update={"role": Role(role)}))

    async def set_password(self, user: User, password: str, keep_session: str | None = None) -> User:
        """New password; every other session of the user ends (a leaked password stops working everywhere)."""
        changed = user.model_copy(update={"password_hash": await _hash(check_password(password)),
                                          "password_changed_at": utcnow()})
        saved = await self.store.save_user(changed)
        await self.store.delete_sessions_of(user.id, keep=keep_session)
        await self.store.clear_throttle(_account_key(user.username))  # a reset also lifts a lock
        _forget_initial_password(self.settings.data_dir, user.username)
        return saved

    async def remove_user(self, user: User) -> None:
        if user.role == Role.admin and not await self._other_admins(user):
            raise Conflict(f"{user.username} is the last admin and cannot be removed")
        await self.store.delete_user(user.id)

    # sign-in

    def _lockout(self) -> timedelta:
        return timedelta(minutes=self.settings.login_lockout_minutes)

    async def _locked_for(self, keys: list[str], now: datetime) -> int | None:
        for key in keys:
            throttle = await self.store.get_throttle(key)
            if throttle is not None and throttle.locked_until is not None and throttle.locked_until > now:
                return max(1, int((throttle.locked_until - now).total_seconds()))
        return None

    async def _count_failure(self, key: str, limit: int, now: datetime) -> int:
        throttle = await self.store.get_throttle(key)
        if throttle is None or now - throttle.first_failure_at > self._lockout():
            throttle = Throttle(key=key, first_failure_at=now)
        throttle.failures += 1
        if throttle.failures >= limit:
            throttle.locked_until = now + self._lockout()
        await self.store.save_throttle(throttle)
        return throttle.failures

    async def sign_in(self, username: str, password: str, client: str) -> User:
        """The user, or SignInRefused after a delay that grows with recent failures."""
        now = utcnow()
        account_key, client_key = _account_key(username), f"client:{client}"
        locked = await self._locked_for([account_key, client_key], now)
        if locked is not None:
            minutes = -(-locked // 60)
            raise SignInRefused(f"Too many failed sign-ins. Try again in {minutes} minute{'s' * (minutes != 1)}.",
                                retry_after=locked)
        user = await self.store.find_user(username)
        known_hash = user.password_hash if user else None
        if await asyncio.to_thread(secrets.verify_password, known_hash, password):
            assert user is not None
            await self.store.clear_throttle(account_key)
            updates: dict[str, object] = {"last_login_at": now}
            if secrets.needs_rehash(user.password_hash):
                updates["password_hash"] = await _hash(password)
            return await self.store.save_user(user.model_copy(update=updates))
        failures = max(await self._count_failure(account_key, self.settings.login_max_failures, now),
                       await self._count_failure(client_key, self.settings.login_max_failures_per_client, now))
        await asyncio.sleep(min(SLOWDOWN_STEP * failures, SLOWDOWN_MAX))
        raise SignInRefused("Wrong username or password.")

    # sessions

    async def start_session(self, user: User, client: str | None) -> tuple[str, Session]:
        """A new session; returns the cookie value (shown only here) and the stored session. Expired sessions
        and old failure counts are forgotten here, so neither table grows without end."""
        now = utcnow()
        await self.store.purge(now, now - self._lockout())
        cookie = secrets.new_secret()
        session = Session(id=secrets.digest(cookie), user_id=user.id, csrf_token=secrets.new_secret(),
                          expires_at=utcnow() + timedelta(hours=self.settings.session_hours), client=client)
        await self.store.add_session(session)
        return cookie, session

    async def session_of(self, cookie: str) -> tuple[Session, User] | None:
        session = await self.store.get_session(secrets.digest(cookie), utcnow())
        user = None if session is None else await self.store.get_user(session.user_id)
        return None if session is None or user is None else (session, user)

    # tokens

    async def create_token(self, user: User, name: str, scopes: list[Scope], expires_in_days: int | None
                           ) -> tuple[str, ApiToken]:
        """A token for ``user``; its scopes must be ones the user's role has. Returns the secret (shown once)."""
        beyond = sorted(set(scopes) - ROLE_SCOPES[user.role])
        if beyond:
            raise NotAllowed(f"a {user.role.value} cannot give a token the scope(s) {', '.join(beyond)}; "
                               f"allowed: {', '.join(sorted(ROLE_SCOPES[user.role]))}")
        if not scopes:
            raise InvalidInput("a token needs at least one scope")
        secret = secrets.new_token_secret()
        expires = None if expires_in_days is None else utcnow() + timedelta(days=expires_in_days)
        token = ApiToken(user_id=user.id, name=name.strip(), scopes=sorted(set(scopes)), digest=secrets.digest(secret),
                         expires_at=expires)
        return secret, await self.store.add_token(token)

    async def token_of(self, secret: str) -> tuple[ApiToken, User] | None:
        """The live token and its owner; None for an unknown, expired or orphaned one."""
        if not secret.startswith(secrets.TOKEN_PREFIX):
            return None
        token = await self.store.find_token(secrets.digest(secret))
        now = utcnow()
        if token is None or (token.expires_at is not None and token.expires_at <= now):
            return None
        user = await self.store.get_user(token.user_id)
        if user is None:
            return None
        if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
            await self.store.mark_token_used(token.id, now)  # at most once a minute: no write per request
        return token, user

    # first run

    async def ensure_first_admin(self) -> str | None:
        """On a store with no users: create ``admin`` with a random password, write it (mode 0600) to the data
        folder and return it. None when there are users already."""
        if await self.store.list_users():
            return None
        password = secrets.new_password()
        await self.create_user("admin", password, Role.admin)
        path = self.settings.data_dir / INITIAL_PASSWORD_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.fchmod(fd, 0o600)  # also when the file was there before with looser rights
        with os.fdopen(fd, "w") as out:
            out.write(f"username: admin\npassword: {password}\n"
                      "Sign in, then change this password on the Account page; this file goes away when you do.\n")
        return password


def _account_key(username: str) -> str:
    return f"user:{username_key(username)}"


async def _hash(password: str) -> str:
    return await asyncio.to_thread(secrets.hash_password, password)


def _forget_initial_password(data_dir: Path, username: str) -> None:
    path = data_dir / INITIAL_PASSWORD_FILE
    try:
        if path.is_file() and f"username: {username}\n" in path.read_text():
            path.unlink()
    except OSError:
        pass
