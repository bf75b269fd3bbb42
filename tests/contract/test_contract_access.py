"""Access store contract: users, sessions, tokens, sign-in throttles and audit. Every implementation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from services.core.access.model import ApiToken, AuditEntry, AuditQuery, Role, Scope, Session, Throttle, User
from services.core.access.store import AccessStore, username_key
from services.core.cursors import NewestKey, UserKey, decode
from services.core.errors import Conflict, NotFound

# Whole milliseconds: both stores keep times to the millisecond, so records round-trip unchanged.
T0 = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def user(name: str, role: Role = Role.viewer) -> User:
    return User(username=name, role=role, password_hash=f"hash-of-{name}")


def session(session_id: str, user_id: str, expires_at: datetime) -> Session:
    return Session(id=session_id, user_id=user_id, csrf_token=f"csrf-{session_id}", created_at=T0,
                   expires_at=expires_at, client="10.0.0.1")


def token(user_id: str, name: str, created_at: datetime, digest: str | None = None) -> ApiToken:
    return ApiToken(user_id=user_id, name=name, scopes=[Scope.read], digest=digest or f"digest-{name}",
                    created_at=created_at)


# users


async def test_add_get_and_find_a_user_by_username_in_any_case(access: AccessStore) -> None:
    alice = await access.add_user(user("Alice", Role.editor))
    assert await access.get_user(alice.id) == alice
    for spelling in ("Alice", "alice", "ALICE", "  aLiCe "):
        assert await access.find_user(spelling) == alice
    assert await access.find_user("Ali") is None
    assert await access.find_user("alice2") is None
    assert await access.get_user("no-such-user") is None


async def test_a_username_taken_in_another_case_is_a_conflict(access: AccessStore) -> None:
    alice = await access.add_user(user("Alice"))
    for taken in ("alice", "ALICE", " Alice "):
        with pytest.raises(Conflict):
            await access.add_user(user(taken, Role.admin))
    assert await access.list_users() == [alice]


async def test_users_are_listed_by_username_ignoring_case(access: AccessStore) -> None:
    for name in ("bob", "Alice", "carol", "Bea", "alan"):
        await access.add_user(user(name))
    assert [u.username for u in await access.list_users()] == ["alan", "Alice", "Bea", "bob", "carol"]


async def test_users_page_by_username_after_the_last_one_shown(access: AccessStore) -> None:
    for name in ("bob", "Alice", "carol", "Bea", "alan"):
        await access.add_user(user(name))
    seen: list[str] = []
    after = None
    while page := await access.list_users(2, after):
        assert len(page) <= 2
        seen += [u.username for u in page]
        after = UserKey(name_key=username_key(page[-1].username), id=page[-1].id)
    assert seen == ["alan", "Alice", "Bea", "bob", "carol"]


async def test_save_user_replaces_the_record_and_can_rename(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    changed = alice.model_copy(update={"username": "Alicia", "role": Role.admin, "password_hash": "new-hash",
                                       "password_changed_at": at(60), "last_login_at": at(61)})
    assert await access.save_user(changed) == changed
    assert await access.get_user(alice.id) == changed
    assert await access.find_user("alicia") == changed
    assert await access.find_user("alice") is None  # the old name is free again
    newcomer = await access.add_user(user("alice"))
    assert await access.find_user("ALICE") == newcomer
    # Her own name in another case is not taken by someone else.
    recased = changed.model_copy(update={"username": "ALICIA"})
    assert await access.save_user(recased) == recased
    assert await access.find_user("alicia") == recased


async def test_save_user_refuses_a_taken_username_and_an_absent_user(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    bob = await access.add_user(user("bob"))
    with pytest.raises(Conflict):
        await access.save_user(alice.model_copy(update={"username": " BOB ", "role": Role.admin}))
    assert await access.get_user(alice.id) == alice  # unchanged
    assert await access.find_user("bob") == bob
    with pytest.raises(NotFound):
        await access.save_user(user("nobody"))
    assert await access.find_user("nobody") is None
    assert [u.username for u in await access.list_users()] == ["alice", "bob"]


async def test_delete_user_removes_their_sessions_and_tokens_only(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    bob = await access.add_user(user("bob"))
    await access.add_session(session("s-alice", alice.id, at(3600)))
    await access.add_session(session("s-bob", bob.id, at(3600)))
    alice_token = await access.add_token(token(alice.id, "alice-ci", at(1)))
    bob_token = await access.add_token(token(bob.id, "bob-ci", at(2)))

    assert await access.delete_user(alice.id) is True
    assert await access.get_user(alice.id) is None
    assert await access.find_user("alice") is None
    assert await access.get_session("s-alice", T0) is None
    assert await access.get_token(alice_token.id) is None
    assert await access.find_token(alice_token.digest) is None
    assert await access.list_tokens(alice.id) == []
    # Bob keeps everything.
    assert await access.get_user(bob.id) == bob
    assert await access.get_session("s-bob", T0) is not None
    assert await access.list_tokens() == [bob_token]
    assert await access.delete_user(alice.id) is False


async def test_times_come_back_as_aware_utc_to_the_millisecond(access: AccessStore) -> None:
    """What the catalog does on both stores (``rules.as_utc``: naive means UTC, kept to the millisecond), and
    what MongoDB does by nature; records must not read back differently depending on the store."""
    precise = datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 5, 1, 12, 0, 1, 654321)
    alice = await access.add_user(user("alice").model_copy(update={"created_at": precise, "last_login_at": naive}))
    stored = await access.add_token(token(alice.id, "ci", T0))
    await access.mark_token_used(stored.id, naive)

    found = await access.get_user(alice.id)
    used = await access.get_token(stored.id)
    assert found is not None and used is not None and found.last_login_at is not None
    assert used.last_used_at is not None
    read_back = {"User.created_at": found.created_at, "User.last_login_at": found.last_login_at,
                 "ApiToken.last_used_at": used.last_used_at}
    expected = {"User.created_at": datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
                "User.last_login_at": datetime(2024, 5, 1, 12, 0, 1, 654000, tzinfo=UTC),
                "ApiToken.last_used_at": datetime(2024, 5, 1, 12, 0, 1, 654000, tzinfo=UTC)}
    differing = {field: value.isoformat() for field, value in read_back.items()
                 if value.utcoffset() != timedelta(0) or value != expected[field]
                 or value.microsecond != expected[field].microsecond}
    assert not differing, f"times not read back as aware UTC whole milliseconds: {differing}"


# sessions


async def test_a_session_is_returned_until_it_expires(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    stored = session("s1", alice.id, expires_at=at(60))
    await access.add_session(stored)
    assert await access.get_session("s1", T0) == stored
    assert await access.get_session("s1", at(59.999)) == stored
    assert await access.get_session("s1", at(60)) is None  # expired at its expiry time
    assert await access.get_session("s1", at(3600)) is None
    assert await access.get_session("no-such-session", T0) is None


async def test_delete_session(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    await access.add_session(session("s1", alice.id, at(60)))
    await access.add_session(session("s2", alice.id, at(60)))
    assert await access.delete_session("s1") is True
    assert await access.get_session("s1", T0) is None
    assert await access.get_session("s2", T0) is not None
    assert await access.delete_session("s1") is False


async def test_delete_sessions_of_a_user_keeps_the_one_named(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    bob = await access.add_user(user("bob"))
    for name in ("a1", "a2", "a3"):
        await access.add_session(session(name, alice.id, at(60)))
    await access.add_session(session("b1", bob.id, at(60)))

    assert await access.delete_sessions_of(alice.id, keep="a2") == 2
    assert await access.get_session("a1", T0) is None
    assert await access.get_session("a2", T0) is not None
    assert await access.get_session("a3", T0) is None
    assert await access.get_session("b1", T0) is not None  # not hers

    assert await access.delete_sessions_of(alice.id) == 1
    assert await access.get_session("a2", T0) is None
    assert await access.get_session("b1", T0) is not None
    assert await access.delete_sessions_of(alice.id) == 0


# tokens


async def test_tokens_are_found_by_id_and_by_digest(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    stored = await access.add_token(
        ApiToken(user_id=alice.id, name="backup", scopes=[Scope.read, Scope.images_write], digest="d" * 64,
                 created_at=T0, expires_at=at(86400)))
    assert await access.get_token(stored.id) == stored
    assert await access.find_token("d" * 64) == stored
    assert await access.find_token("e" * 64) is None
    assert await access.get_token("no-such-token") is None


async def test_find_token_returns_expired_tokens_too(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    expired = await access.add_token(token(alice.id, "old", at(-7200)).model_copy(update={"expires_at": at(-3600)}))
    assert await access.find_token(expired.digest) == expired


async def test_tokens_are_listed_per_user_or_all_newest_first(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    bob = await access.add_user(user("bob"))
    a_old = await access.add_token(token(alice.id, "a-old", at(1)))
    b_mid = await access.add_token(token(bob.id, "b-mid", at(2)))
    a_new = await access.add_token(token(alice.id, "a-new", at(3)))
    a_mid = await access.add_token(token(alice.id, "a-mid", at(2.5)))  # added last, but not the newest
    assert await access.list_tokens(alice.id) == [a_new, a_mid, a_old]
    assert await access.list_tokens(bob.id) == [b_mid]
    assert await access.list_tokens() == [a_new, a_mid, b_mid, a_old]
    assert await access.list_tokens("nobody") == []


async def test_tokens_page_newest_first_after_the_last_one_shown_ties_by_id(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    bob = await access.add_user(user("bob"))
    made = [await access.add_token(token(alice.id if n % 2 else bob.id, f"t{n}", at(n // 2))) for n in range(7)]
    newest_first = sorted(made, key=lambda t: (t.created_at, t.id), reverse=True)  # pairs share their time
    for owner, expected in ((None, newest_first), (alice.id, [t for t in newest_first if t.user_id == alice.id])):
        seen: list[ApiToken] = []
        after = None
        while page := await access.list_tokens(owner, 3, after):
            assert len(page) <= 3
            seen += page
            after = NewestKey(at=page[-1].created_at, id=page[-1].id)
        assert seen == expected


async def test_mark_token_used_records_the_time_only(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    stored = await access.add_token(token(alice.id, "ci", at(1)))
    other = await access.add_token(token(alice.id, "other", at(2)))
    await access.mark_token_used(stored.id, at(100))
    used = await access.get_token(stored.id)
    assert used == stored.model_copy(update={"last_used_at": at(100)})
    await access.mark_token_used(stored.id, at(200))
    assert (await access.find_token(stored.digest)) == stored.model_copy(update={"last_used_at": at(200)})
    assert await access.get_token(other.id) == other
    await access.mark_token_used("no-such-token", at(300))  # nothing to mark, no error
    assert await access.list_tokens() == [other, stored.model_copy(update={"last_used_at": at(200)})]


async def test_delete_token(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    gone = await access.add_token(token(alice.id, "gone", at(1)))
    kept = await access.add_token(token(alice.id, "kept", at(2)))
    assert await access.delete_token(gone.id) is True
    assert await access.get_token(gone.id) is None
    assert await access.find_token(gone.digest) is None
    assert await access.list_tokens(alice.id) == [kept]
    assert await access.delete_token(gone.id) is False


# sign-in throttles


async def test_purge_forgets_expired_sessions_and_stale_unlocked_throttles(access: AccessStore) -> None:
    alice = await access.add_user(user("alice"))
    await access.add_session(session("old", alice.id, expires_at=at(10)))
    await access.add_session(session("live", alice.id, expires_at=at(3600)))
    await access.save_throttle(Throttle(key="user:stale", failures=2, first_failure_at=at(-7200)))
    await access.save_throttle(Throttle(key="user:locked", failures=5, first_failure_at=at(-7200),
                                        locked_until=at(600)))
    await access.save_throttle(Throttle(key="user:recent", failures=1, first_failure_at=at(-60)))
    assert await access.purge(at(20), failures_before=at(-900)) == 2
    assert await access.get_session("live", at(20)) is not None
    assert await access.get_throttle("user:stale") is None
    assert await access.get_throttle("user:locked") is not None and await access.get_throttle("user:recent")


async def test_throttles_are_saved_replaced_and_cleared_by_key(access: AccessStore) -> None:
    assert await access.get_throttle("user:alice") is None
    first = Throttle(key="user:alice", failures=1, first_failure_at=T0)
    await access.save_throttle(first)
    assert await access.get_throttle("user:alice") == first

    locked = Throttle(key="user:alice", failures=5, first_failure_at=T0, locked_until=at(900))
    await access.save_throttle(locked)
    assert await access.get_throttle("user:alice") == locked

    client = Throttle(key="client:10.0.0.1", failures=2, first_failure_at=at(5))
    await access.save_throttle(client)
    assert await access.get_throttle("client:10.0.0.1") == client

    await access.clear_throttle("user:alice")
    assert await access.get_throttle("user:alice") is None
    assert await access.get_throttle("client:10.0.0.1") == client  # other keys untouched
    await access.clear_throttle("user:alice")  # already gone: no error
    await access.clear_throttle("never-saved")


# audit


def entry(seconds: float, actor: str, action: str, target_id: str | None = None, **more: object) -> AuditEntry:
    return AuditEntry.model_validate({"at": at(seconds), "actor": actor, "action": action, "target_id": target_id,
                                      "target_kind": None if target_id is None else "person", **more})


@pytest.fixture
async def history(access: AccessStore) -> list[AuditEntry]:
    """Six entries one second apart, added out of order; returned newest first."""
    entries = [
        entry(0, "alice", "person.rename", "p1", before={"name": "Ann"}, after={"name": "Anne"}, client="10.0.0.1"),
        entry(1, "bob", "person.delete", "p2", before={"name": "Bo"}),
        entry(2, "alice", "image.delete", "i1"),
        entry(3, "admin-key", "user.create", "u1", after={"username": "carol"}),
        entry(4, "alice", "person.rename", "p1", before={"name": "Anne"}, after={"name": "Ann Lee"}),
        entry(5, "bob", "sign_in"),
    ]
    for index in (3, 0, 5, 1, 4, 2):
        await access.add_audit(entries[index])
    return entries[::-1]


async def test_audit_is_listed_newest_first_with_every_field(access: AccessStore, history: list[AuditEntry]) -> None:
    page = await access.list_audit(AuditQuery())
    assert page.items == history
    assert page.next_cursor is None


async def test_audit_filters_by_actor_action_and_target(access: AccessStore, history: list[AuditEntry]) -> None:
    by_alice = await access.list_audit(AuditQuery(actor="alice"))
    assert [e.at for e in by_alice.items] == [at(4), at(2), at(0)] and len(by_alice.items) == 3
    renames = await access.list_audit(AuditQuery(action="person.rename"))
    assert [e.at for e in renames.items] == [at(4), at(0)] and len(renames.items) == 2
    about_p2 = await access.list_audit(AuditQuery(target_id="p2"))
    assert about_p2.items == [history[4]] and len(about_p2.items) == 1
    both = await access.list_audit(AuditQuery(actor="bob", action="person.rename"))
    assert both.items == [] and len(both.items) == 0
    assert len((await access.list_audit(AuditQuery(actor="Alice"))).items) == 0  # actors compare exactly
    assert (await access.list_audit(AuditQuery(target_id="nothing"))).items == []


async def test_audit_since_is_inclusive_and_until_exclusive(access: AccessStore, history: list[AuditEntry]) -> None:
    window = await access.list_audit(AuditQuery(since=at(1), until=at(4)))
    assert [e.at for e in window.items] == [at(3), at(2), at(1)] and len(window.items) == 3
    assert [e.at for e in (await access.list_audit(AuditQuery(since=at(4)))).items] == [at(5), at(4)]
    assert [e.at for e in (await access.list_audit(AuditQuery(until=at(1)))).items] == [at(0)]
    assert len((await access.list_audit(AuditQuery(since=at(2), until=at(2)))).items) == 0
    # A filter on top of the time window.
    mixed = await access.list_audit(AuditQuery(actor="alice", since=at(0), until=at(4)))
    assert [e.at for e in mixed.items] == [at(2), at(0)] and len(mixed.items) == 2


async def test_audit_pages_follow_the_cursor(access: AccessStore, history: list[AuditEntry]) -> None:
    first = await access.list_audit(AuditQuery(limit=2))
    second = await access.list_audit(AuditQuery(after=decode(NewestKey, first.next_cursor), limit=2))
    last = await access.list_audit(AuditQuery(after=decode(NewestKey, second.next_cursor), limit=2))
    assert first.items + second.items + last.items == history
    assert last.next_cursor is None
    filtered = await access.list_audit(AuditQuery(actor="alice", limit=1))
    then = await access.list_audit(AuditQuery(actor="alice", after=decode(NewestKey, filtered.next_cursor), limit=1))
    assert [e.at for e in filtered.items + then.items] == [at(4), at(2)]


async def test_redact_audit_replaces_only_the_given_targets(access: AccessStore, history: list[AuditEntry]) -> None:
    assert await access.redact_audit(set(), "erased:x") == 0
    assert await access.redact_audit({"p1", "u1", "not-in-audit"}, "erased:1") == 3

    after = {e.id: e for e in (await access.list_audit(AuditQuery())).items}
    assert len(after) == 6
    for original in history:
        now = after[original.id]
        if original.target_id in ("p1", "u1"):
            assert now == original.model_copy(update={"target_id": "erased:1", "before": None, "after": None})
        else:
            assert now == original  # untouched, details and all
    assert len((await access.list_audit(AuditQuery(target_id="p1"))).items) == 0
    assert len((await access.list_audit(AuditQuery(target_id="u1"))).items) == 0
    redacted = await access.list_audit(AuditQuery(target_id="erased:1"))
    assert [e.at for e in redacted.items] == [at(4), at(3), at(0)]
    assert (await access.list_audit(AuditQuery(target_id="p2"))).items[0].before == {"name": "Bo"}
