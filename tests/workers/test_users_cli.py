"""``facetag users`` as an operator runs it: a subprocess on the embedded stores of a FACETAG_DATA_DIR.
(The stores themselves are checked on every implementation in tests/contract.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from services.core.access import accounts as accounts_module
from services.core.access.accounts import Accounts, SignInRefused
from services.core.access.model import AuditQuery, Role
from services.core.access.store import AccessStore
from services.core.catalog import open_access
from services.core.settings import Settings

OPERATOR = "facetag-test-operator"
ACTOR = f"cli:{OPERATOR}"

Run = Callable[..., subprocess.CompletedProcess[str]]


@dataclass
class Setup:
    settings: Settings  # what the command sees
    users: Run  # runs ``facetag users ARGS...`` with optional stdin


@pytest.fixture
def setup(tmp_path: Path) -> Setup:
    data_dir = tmp_path / "data"
    env = {key: value for key, value in os.environ.items() if not key.startswith("FACETAG_")}
    env.update({"FACETAG_DATA_DIR": str(data_dir), "USER": OPERATOR})
    settings = Settings(data_dir=data_dir)  # the catalog (and access store) is SQLite in the data folder

    def users(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "services.commands.cli", "users", *args], input=stdin,
                              capture_output=True, text=True, env=env, timeout=120)

    return Setup(settings, users)


@pytest.fixture
async def store(setup: Setup) -> AsyncIterator[AccessStore]:
    access = open_access(setup.settings.catalog_url)
    await access.connect()
    try:
        yield access
    finally:
        await access.close()


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"
    return result.stdout


def _listed(setup: Setup) -> dict[str, str]:
    """username -> role, as ``facetag users list`` prints them."""
    return {line.split()[0]: line.split()[1] for line in _ok(setup.users("list")).splitlines()}


async def test_add_list_set_role_reset_password_and_remove(setup: Setup, store: AccessStore,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts_module, "SLOWDOWN_STEP", 0)
    accounts = Accounts(store, setup.settings)
    assert "no users yet" in _ok(setup.users("list"))

    assert "added alice (editor)" in _ok(setup.users("add", "alice", "--role", "editor",
                                                     stdin="alice's first password\n"))
    assert _listed(setup) == {"alice": "editor"}
    alice = await accounts.sign_in("alice", "alice's first password", "10.0.0.1")  # the stdin line, no newline
    assert alice.role == Role.editor
    cookie, _ = await accounts.start_session(alice, "10.0.0.1")

    assert "alice is now viewer" in _ok(setup.users("set-role", "ALICE", "viewer"))
    assert _listed(setup) == {"alice": "viewer"}
    assert (await accounts.user(alice.id)).role == Role.viewer

    out = _ok(setup.users("reset-password", "alice", "--generate"))
    match = re.search(r"new password for alice: (\S+) \(their sessions were ended\)", out)
    assert match, out
    new_password = match.group(1)
    assert len(new_password) >= 10
    assert (await accounts.sign_in("alice", new_password, "10.0.0.1")).id == alice.id
    with pytest.raises(SignInRefused):
        await accounts.sign_in("alice", "alice's first password", "10.0.0.1")
    assert await accounts.session_of(cookie) is None

    assert "removed alice" in _ok(setup.users("remove", "alice"))
    assert await store.get_user(alice.id) is None
    assert "no users yet" in _ok(setup.users("list"))

    audit = await store.list_audit(AuditQuery(actor=ACTOR))
    assert [(e.action, e.target_kind, e.target_id) for e in audit.items] == [
        ("user.delete", "user", alice.id),
        ("user.update", "user", alice.id),  # the password
        ("user.update", "user", alice.id),  # the role
        ("user.create", "user", alice.id),
    ]
    assert audit.items[2].after == {"role": "viewer"}
    assert audit.items[3].after == {"username": "alice", "role": "editor"}
    assert all(new_password not in str(e.after) for e in audit.items)  # the password is never audited


async def test_the_last_admin_cannot_be_removed_or_demoted(setup: Setup, store: AccessStore) -> None:
    _ok(setup.users("add", "root", "--role", "admin", stdin="root password 123\n"))
    removed = setup.users("remove", "root")
    assert removed.returncode != 0
    assert "last admin" in removed.stderr and removed.stdout == ""
    demoted = setup.users("set-role", "root", "editor")
    assert demoted.returncode != 0 and "last admin" in demoted.stderr
    assert _listed(setup) == {"root": "admin"}

    _ok(setup.users("add", "boss", "--role", "admin", stdin="boss password 123\n"))
    assert "removed root" in _ok(setup.users("remove", "root"))
    assert _listed(setup) == {"boss": "admin"}
    actions = [e.action for e in (await store.list_audit(AuditQuery(actor=ACTOR))).items]
    assert actions == ["user.delete", "user.create", "user.create"]  # nothing for the refusals


async def test_a_short_password_or_bad_name_is_refused_with_the_rule(setup: Setup, store: AccessStore) -> None:
    short = setup.users("add", "bob", "--role", "viewer", stdin="short\n")
    assert short.returncode != 0
    assert "at least 10 characters" in short.stderr
    bad_name = setup.users("add", "bob smith", "--role", "viewer", stdin="long enough password\n")
    assert bad_name.returncode != 0 and "a username is 1 to 64" in bad_name.stderr
    assert await store.list_users() == []

    _ok(setup.users("add", "bob", "--role", "viewer", stdin="long enough password\n"))
    reset = setup.users("reset-password", "bob", stdin="short\n")
    assert reset.returncode != 0 and "at least 10 characters" in reset.stderr
    unknown = setup.users("remove", "nobody")
    assert unknown.returncode != 0 and "nobody" in unknown.stderr
    assert [e.action for e in (await store.list_audit(AuditQuery())).items] == ["user.create"]
