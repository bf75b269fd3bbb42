"""The account rules a user notices (``Accounts``), on every access store implementation."""

from __future__ import annotations

import hashlib
import stat
from datetime import timedelta
from pathlib import Path

import pymongo
import pytest
from argon2 import PasswordHasher

from services.core.access import accounts as accounts_module
from services.core.access import secrets
from services.core.access.accounts import INITIAL_PASSWORD_FILE, Accounts, SignInRefused
from services.core.access.model import Role, Scope, User
from services.core.access.store import AccessStore
from services.core.catalog import sqlite_path
from services.core.domain import utcnow
from services.core.errors import Conflict, InvalidInput, NotAllowed
from services.core.settings import Settings

PASSWORD = "correct horse battery"
WRONG = "wrong horse battery"
MAX_FAILURES = 3
MAX_FAILURES_PER_CLIENT = 5
LOCKOUT_MINUTES = 15


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", login_max_failures=MAX_FAILURES,
                    login_max_failures_per_client=MAX_FAILURES_PER_CLIENT, login_lockout_minutes=LOCKOUT_MINUTES)


@pytest.fixture
def accounts(access: AccessStore, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Accounts:
    monkeypatch.setattr(accounts_module, "SLOWDOWN_STEP", 0)  # failed sign-ins do not sleep in tests
    # Still Argon2id, but with the smallest cost: these tests are about the rules, and the real cost is
    # half a second a hash on a busy test machine.
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(secrets, "_hasher", cheap)
    monkeypatch.setattr(secrets, "_DUMMY_HASH", cheap.hash("not a password"))
    return Accounts(access, settings)


async def _refused(accounts: Accounts, username: str, password: str, client: str = "10.0.0.1") -> SignInRefused:
    with pytest.raises(SignInRefused) as refused:
        await accounts.sign_in(username, password, client)
    return refused.value


def _assert_locked(refused: SignInRefused) -> None:
    assert "Too many failed sign-ins" in str(refused), str(refused)
    assert refused.retry_after is not None
    assert 0 < refused.retry_after <= LOCKOUT_MINUTES * 60


# creating users


async def test_a_short_password_is_refused_with_the_rule(accounts: Accounts) -> None:
    for short in ("", "123456789"):
        with pytest.raises(InvalidInput, match="at least 10 characters"):
            await accounts.create_user("alice", short, Role.editor)
    assert await accounts.store.find_user("alice") is None
    alice = await accounts.create_user("alice", "1234567890", Role.editor)  # exactly the minimum
    with pytest.raises(InvalidInput, match="at least 10 characters"):
        await accounts.set_password(alice, "too short")
    assert (await accounts.sign_in("alice", "1234567890", "10.0.0.1")).id == alice.id  # unchanged


async def test_a_bad_username_is_refused_with_the_rule(accounts: Accounts) -> None:
    for bad in ("", "   ", "al ice", "-alice", ".alice", "alice!", "ali/ce", "a" * 65, "{\"$ne\": 1}"):
        with pytest.raises(InvalidInput, match="a username is 1 to 64 letters, digits or"):
            await accounts.create_user(bad, PASSWORD, Role.viewer)
    assert await accounts.store.list_users() == []
    ok = await accounts.create_user("  a.b_c@d-e ", PASSWORD, Role.viewer)
    assert ok.username == "a.b_c@d-e"
    assert (await accounts.create_user("a" * 64, PASSWORD, Role.viewer)).username == "a" * 64


async def test_a_username_taken_in_another_case_is_refused(accounts: Accounts) -> None:
    await accounts.create_user("Alice", PASSWORD, Role.viewer)
    with pytest.raises(Conflict):
        await accounts.create_user("alice", PASSWORD, Role.admin)


# the last admin


async def test_the_last_admin_cannot_be_demoted_or_removed(accounts: Accounts) -> None:
    root = await accounts.create_user("root", PASSWORD, Role.admin)
    await accounts.create_user("ed", PASSWORD, Role.editor)  # other users do not count
    for role in (Role.editor, Role.viewer):
        with pytest.raises(Conflict, match="last admin"):
            await accounts.set_role(root, role)
    with pytest.raises(Conflict, match="last admin"):
        await accounts.remove_user(root)
    assert (await accounts.user(root.id)).role == Role.admin
    assert (await accounts.set_role(root, Role.admin)).role == Role.admin  # staying admin is fine


async def test_the_last_admin_can_step_down_once_there_is_another(accounts: Accounts) -> None:
    root = await accounts.create_user("root", PASSWORD, Role.admin)
    boss = await accounts.create_user("boss", PASSWORD, Role.admin)
    assert (await accounts.set_role(root, Role.viewer)).role == Role.viewer
    assert (await accounts.user(root.id)).role == Role.viewer
    # Now boss is the last one.
    with pytest.raises(Conflict, match="last admin"):
        await accounts.set_role(boss, Role.editor)
    with pytest.raises(Conflict, match="last admin"):
        await accounts.remove_user(boss)
    await accounts.remove_user(await accounts.user(root.id))  # a viewer goes freely
    assert [u.username for u in await accounts.store.list_users()] == ["boss"]
    ann = await accounts.create_user("ann", PASSWORD, Role.admin)
    await accounts.remove_user(boss)
    assert [u.username for u in await accounts.store.list_users()] == [ann.username]


# passwords and sessions


async def test_a_password_change_ends_the_other_sessions_but_keeps_the_given_one(accounts: Accounts) -> None:
    alice = await accounts.create_user("alice", PASSWORD, Role.editor)
    bob = await accounts.create_user("bob", PASSWORD, Role.editor)
    phone, _ = await accounts.start_session(alice, "10.0.0.2")
    laptop, laptop_session = await accounts.start_session(alice, "10.0.0.3")
    tablet, _ = await accounts.start_session(alice, None)
    bobs, _ = await accounts.start_session(bob, "10.0.0.4")
    for cookie in (phone, laptop, tablet, bobs):
        assert await accounts.session_of(cookie) is not None

    await accounts.set_password(alice, "a brand new password", keep_session=laptop_session.id)
    assert await accounts.session_of(phone) is None
    assert await accounts.session_of(tablet) is None
    kept = await accounts.session_of(laptop)
    assert kept is not None and kept[1].id == alice.id
    assert await accounts.session_of(bobs) is not None  # someone else's session

    await accounts.sign_in("alice", "a brand new password", "10.0.0.1")
    assert (await _refused(accounts, "alice", PASSWORD)).retry_after is None

    await accounts.set_password(await accounts.user(alice.id), "yet another password")  # nothing kept
    assert await accounts.session_of(laptop) is None


async def test_sessions_are_found_by_their_cookie_only(accounts: Accounts) -> None:
    alice = await accounts.create_user("alice", PASSWORD, Role.editor)
    cookie, stored = await accounts.start_session(alice, "10.0.0.2")
    assert cookie != stored.id and cookie not in stored.model_dump_json()
    found = await accounts.session_of(cookie)
    assert found is not None and found[0].id == stored.id and found[1].username == "alice"
    assert await accounts.session_of(stored.id) is None  # the stored id is not a cookie
    assert await accounts.session_of(cookie + "x") is None


# sign-in


async def test_wrong_password_and_unknown_user_get_the_same_answer(accounts: Accounts) -> None:
    await accounts.create_user("alice", PASSWORD, Role.editor)
    wrong_password = await _refused(accounts, "alice", WRONG)
    unknown_user = await _refused(accounts, "nobody", WRONG)
    assert str(wrong_password) == str(unknown_user) == "Wrong username or password."
    assert wrong_password.retry_after is None and unknown_user.retry_after is None
    signed_in = await accounts.sign_in(" ALICE ", PASSWORD, "10.0.0.1")
    assert signed_in.username == "alice" and signed_in.last_login_at is not None
    assert (await accounts.user(signed_in.id)).last_login_at == signed_in.last_login_at


async def test_an_account_locks_after_too_many_failures_even_for_the_right_password(accounts: Accounts) -> None:
    await accounts.create_user("alice", PASSWORD, Role.editor)
    for _ in range(MAX_FAILURES):
        assert (await _refused(accounts, "alice", WRONG)).retry_after is None
    _assert_locked(await _refused(accounts, "alice", PASSWORD))
    _assert_locked(await _refused(accounts, "Alice", PASSWORD, client="10.9.9.9"))  # from anywhere, any case
    await accounts.create_user("bob", PASSWORD, Role.editor)
    assert (await accounts.sign_in("bob", PASSWORD, "10.0.0.1")).username == "bob"  # others are not locked
    # An admin who resets the password also lifts the lock (guessers can lock out the only admin).
    await accounts.set_password(await accounts.user_named("alice"), "a brand new password")
    assert (await accounts.sign_in("alice", "a brand new password", "10.0.0.2")).username == "alice"


async def test_an_unknown_username_locks_the_same_way(accounts: Accounts) -> None:
    await accounts.create_user("alice", PASSWORD, Role.editor)
    for _ in range(MAX_FAILURES):
        await _refused(accounts, "alice", WRONG, client="10.0.0.1")
        await _refused(accounts, "nobody", WRONG, client="10.0.0.2")
    known = await _refused(accounts, "alice", WRONG, client="10.0.0.1")
    unknown = await _refused(accounts, "nobody", WRONG, client="10.0.0.2")
    _assert_locked(known)
    _assert_locked(unknown)
    assert str(known) == str(unknown)


async def test_a_client_locks_after_failures_across_usernames(accounts: Accounts) -> None:
    await accounts.create_user("alice", PASSWORD, Role.editor)
    for index in range(MAX_FAILURES_PER_CLIENT):  # one failure per name: no account reaches its limit
        assert (await _refused(accounts, f"guess{index}", WRONG, client="10.6.6.6")).retry_after is None
    _assert_locked(await _refused(accounts, "alice", PASSWORD, client="10.6.6.6"))
    # The lock is on that client, not on alice.
    assert (await accounts.sign_in("alice", PASSWORD, "10.0.0.1")).username == "alice"


async def test_a_success_clears_the_account_failures(accounts: Accounts) -> None:
    await accounts.create_user("alice", PASSWORD, Role.editor)
    for round_ in range(3):  # 2 failures a round, 6 in all (a client per round stays under its own limit)
        client = f"10.0.0.{round_}"
        for _ in range(MAX_FAILURES - 1):
            assert (await _refused(accounts, "alice", WRONG, client=client)).retry_after is None
        assert (await accounts.sign_in("alice", PASSWORD, client)).username == "alice"


# tokens


async def test_a_token_gets_only_scopes_of_the_users_role(accounts: Accounts) -> None:
    viewer = await accounts.create_user("vic", PASSWORD, Role.viewer)
    editor = await accounts.create_user("ed", PASSWORD, Role.editor)
    admin = await accounts.create_user("ada", PASSWORD, Role.admin)
    with pytest.raises(NotAllowed) as refused:
        await accounts.create_token(viewer, "ci", [Scope.read, Scope.edit], None)
    assert "edit" in str(refused.value) and "allowed: read" in str(refused.value)
    with pytest.raises(NotAllowed, match="allowed: edit, images:write, read"):
        await accounts.create_token(editor, "ci", [Scope.admin], None)
    with pytest.raises(InvalidInput):
        await accounts.create_token(admin, "ci", [], None)
    assert await accounts.store.list_tokens() == []

    _, read_only = await accounts.create_token(viewer, " ci ", [Scope.read], 30)
    assert read_only.name == "ci" and read_only.scopes == [Scope.read]
    assert read_only.expires_at is not None and read_only.expires_at > utcnow() + timedelta(days=29)
    _, everything = await accounts.create_token(admin, "all", list(Scope), None)
    assert set(everything.scopes) == set(Scope) and everything.expires_at is None


async def test_token_of_accepts_only_a_live_token_with_its_secret(accounts: Accounts) -> None:
    alice = await accounts.create_user("alice", PASSWORD, Role.editor)
    secret, stored = await accounts.create_token(alice, "ci", [Scope.read], None)
    live = await accounts.token_of(secret)
    assert live is not None and live[0].id == stored.id and live[1].id == alice.id
    marked = await accounts.store.get_token(stored.id)
    assert marked is not None and marked.last_used_at is not None  # the use is recorded

    assert await accounts.token_of(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None  # wrong secret
    assert await accounts.token_of(secret.removeprefix("ftk_")) is None
    assert await accounts.token_of(stored.digest) is None  # the digest is not a secret
    assert await accounts.token_of("") is None

    expiring_secret, expiring = await accounts.create_token(alice, "soon", [Scope.read], 1)
    assert await accounts.token_of(expiring_secret) is not None
    await accounts.store.delete_token(expiring.id)
    await accounts.store.add_token(expiring.model_copy(update={"expires_at": utcnow() - timedelta(seconds=1)}))
    assert await accounts.token_of(expiring_secret) is None  # expired

    assert await accounts.store.delete_token(stored.id)
    assert await accounts.token_of(secret) is None  # revoked


def _everything_stored(catalog_url: str) -> str:
    """All the access store holds, as text: the SQLite file (and its write-ahead log) or every collection."""
    if catalog_url.startswith("sqlite://"):
        path = Path(sqlite_path(catalog_url))
        raw = b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal")) if p.exists())
        return raw.decode("latin-1")
    client: pymongo.MongoClient[dict[str, object]] = pymongo.MongoClient(catalog_url, serverSelectionTimeoutMS=5000)
    try:
        db = client.get_default_database()
        return repr([list(db[name].find()) for name in db.list_collection_names()])
    finally:
        client.close()


async def test_only_the_digest_of_a_token_is_stored(accounts: Accounts, catalog_url: str) -> None:
    alice = await accounts.create_user("alice", PASSWORD, Role.editor)
    secret, returned = await accounts.create_token(alice, "ci", [Scope.read, Scope.images_write], None)
    assert secret.startswith("ftk_") and len(secret) > 40
    stored = await accounts.store.get_token(returned.id)
    assert stored is not None
    assert stored.digest == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in stored.model_dump_json() and secret not in returned.model_dump_json()
    everything = _everything_stored(catalog_url)
    assert stored.digest in everything  # the dump does show what is stored
    assert secret not in everything
    assert secret.removeprefix("ftk_") not in everything
    assert PASSWORD not in everything  # passwords are hashed too


# the first admin


async def test_ensure_first_admin_creates_admin_once_with_a_private_file(accounts: Accounts,
                                                                         settings: Settings) -> None:
    password = await accounts.ensure_first_admin()
    assert password is not None and len(password) >= 10
    admin = await accounts.user_named("admin")
    assert admin.role == Role.admin
    path = settings.data_dir / INITIAL_PASSWORD_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    content = path.read_text()
    assert password in content and "admin" in content
    assert (await accounts.sign_in("admin", password, "10.0.0.1")).id == admin.id

    assert await accounts.ensure_first_admin() is None
    assert [u.username for u in await accounts.store.list_users()] == ["admin"]
    assert path.read_text() == content  # not rewritten

    other = await accounts.create_user("ed", PASSWORD, Role.editor)
    await accounts.set_password(other, "another long password")  # someone else's change keeps it
    assert path.exists()
    await accounts.set_password(admin, "my own admin password")
    assert not path.exists()
    assert await accounts.ensure_first_admin() is None
    assert not path.exists()


async def test_ensure_first_admin_does_nothing_when_there_are_users(accounts: Accounts, settings: Settings) -> None:
    existing: User = await accounts.create_user("ed", PASSWORD, Role.editor)
    assert await accounts.ensure_first_admin() is None
    assert await accounts.store.list_users() == [existing]
    assert not (settings.data_dir / INITIAL_PASSWORD_FILE).exists()
