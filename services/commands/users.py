"""``facetag users``: manage accounts straight in the stores (for the first admin on a cluster, or a
forgotten password), with the same rules as the API and an audit entry for each change."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys

from services.core.access.accounts import Accounts
from services.core.access.model import AuditEntry, Role
from services.core.access.secrets import new_password
from services.core.catalog import open_access
from services.core.errors import FacetagError
from services.core.settings import Settings


def _read_password(args: argparse.Namespace) -> tuple[str, bool]:
    """The new password and whether it was generated (then it is printed once)."""
    if args.generate:
        return new_password(), True
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n"), False
    first = getpass.getpass("New password (at least 10 characters): ")
    if first != getpass.getpass("Again: "):
        raise FacetagError("the two passwords differ; nothing changed")
    return first, False


async def _run(args: argparse.Namespace, settings: Settings) -> str:
    store = open_access(settings.catalog_url)
    await store.connect()
    accounts = Accounts(store, settings)
    actor = f"cli:{os.environ.get('USER', 'unknown')}"

    async def audit(action: str, user_id: str, after: dict[str, object]) -> None:
        await store.add_audit(AuditEntry(actor=actor, action=action, target_kind="user", target_id=user_id,
                                         after=after))

    try:
        if args.action == "list":
            users = await store.list_users()
            lines = [f"{u.username:24} {u.role.value:7} last sign-in {u.last_login_at or 'never'}" for u in users]
            return "\n".join(lines) or "no users yet (add one with: facetag users add NAME --role admin)"
        if args.action == "add":
            password, generated = _read_password(args)
            user = await accounts.create_user(args.username, password, Role(args.role))
            await audit("user.create", user.id, {"username": user.username, "role": user.role})
            shown = f" with the password {password}" if generated else ""
            return f"added {user.username} ({user.role.value}){shown}"
        user = await accounts.user_named(args.username)
        if args.action == "set-role":
            await accounts.set_role(user, Role(args.role))
            await audit("user.update", user.id, {"role": args.role})
            return f"{user.username} is now {args.role}"
        if args.action == "reset-password":
            password, generated = _read_password(args)
            await accounts.set_password(user, password)
            await audit("user.update", user.id, {"password_reset": True})
            shown = f": {password}" if generated else ""
            return f"new password for {user.username}{shown} (their sessions were ended)"
        await accounts.remove_user(user)
        await audit("user.delete", user.id, {"username": user.username})
        return f"removed {user.username} with their sessions and tokens"
    finally:
        await store.close()


def run_users(args: argparse.Namespace, settings: Settings) -> int:
    try:
        print(asyncio.run(_run(args, settings)))
    except FacetagError as exc:
        print(f"facetag users {args.action}: {exc}", file=sys.stderr)
        return 1
    return 0


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    users = sub.add_parser("users", help="manage accounts (in the stores named by FACETAG_* settings)")
    actions = users.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every account with its role")
    roles = [role.value for role in Role]
    add = actions.add_parser("add", help="add an account; the password is asked for (or read from stdin)")
    add.add_argument("username")
    add.add_argument("--role", choices=roles, required=True)
    set_role = actions.add_parser("set-role", help="change an account's role")
    set_role.add_argument("username")
    set_role.add_argument("role", choices=roles)
    reset = actions.add_parser("reset-password", help="set a new password; the account's sessions end")
    reset.add_argument("username")
    for parser in (add, reset):
        parser.add_argument("--generate", action="store_true", help="make a random password and print it once")
    remove = actions.add_parser("remove", help="remove an account with its sessions and tokens")
    remove.add_argument("username")
    return users
