"""`scim-gateway invitations list|confirm|resend|revoke`: the admin API's actions
on the database directly, for an operator at the gateway's host.

A message these commands enqueue (resend, the events of confirm and revoke)
is delivered by a running gateway's worker, which looks at the outbox every
`SCIM_GATEWAY_OUTBOX_POLL_SECONDS`.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

from scim_gateway.auth import DEFAULT_TENANT
from scim_gateway.backends import backend_from_url
from scim_gateway.backends.base import USER, Backend
from scim_gateway.backends.errors import NotFoundError
from scim_gateway.backends.invitations import InvitationRecord, InvitationState
from scim_gateway.config import Settings
from scim_gateway.context import accept_url_for
from scim_gateway.errors import ScimError
from scim_gateway.invitations import InvitationPolicy, Invitations

__all__ = ["add_invitation_commands"]

T = TypeVar("T")

_STATES = [state.value for state in InvitationState]


def add_invitation_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    add_database: Callable[[argparse.ArgumentParser], None],
) -> None:
    """Add `invitations` and its actions to the command line."""
    parser = commands.add_parser("invitations", help="list and manage invitations")
    actions = parser.add_subparsers(title="invitation commands", metavar="ACTION")

    listing = actions.add_parser(
        "list",
        help="list invitations (pending ones by default)",
        description="List invitations: user id, state, delivery, invited at, "
        "userName. Pending (invited or accepted) ones unless --state says.",
    )
    _common(listing, add_database)
    listing.add_argument(
        "--state",
        action="append",
        choices=[*_STATES, "all"],
        help="show this state (repeatable), or all",
    )
    listing.set_defaults(run=_list)

    for name, run, text in (
        ("confirm", _confirm, "confirm a user who accepted"),
        ("resend", _resend, "send a new invitation; the old link stops working"),
        ("revoke", _revoke, "revoke an invitation that is not confirmed"),
    ):
        action = actions.add_parser(name, help=text, description=text.capitalize())
        _common(action, add_database)
        action.add_argument("user_id", help="the user's SCIM id")
        action.set_defaults(run=run)


def _common(
    parser: argparse.ArgumentParser,
    add_database: Callable[[argparse.ArgumentParser], None],
) -> None:
    add_database(parser)
    parser.add_argument(
        "--tenant", default=DEFAULT_TENANT, help="tenant id (default: default)"
    )


def _list(args: argparse.Namespace, settings: Settings) -> int:
    chosen = args.state or ["invited", "accepted"]
    states = None if "all" in chosen else {InvitationState(s) for s in chosen}

    async def listing(backend: Backend, invitations: Invitations) -> None:
        for record in await backend.list_invitations(args.tenant, states=states):
            print(await _line(backend, record))

    return _run(settings, listing)


def _confirm(args: argparse.Namespace, settings: Settings) -> int:
    return _act(settings, lambda i: i.confirm(args.tenant, args.user_id))


def _revoke(args: argparse.Namespace, settings: Settings) -> int:
    return _act(settings, lambda i: i.revoke(args.tenant, args.user_id))


def _resend(args: argparse.Namespace, settings: Settings) -> int:
    link_base = accept_url_for(settings, None)
    return _act(settings, lambda i: i.resend(args.tenant, args.user_id, link_base))


def _act(
    settings: Settings,
    action: Callable[[Invitations], Awaitable[InvitationRecord]],
) -> int:
    async def act(backend: Backend, invitations: Invitations) -> None:
        record = await action(invitations)
        print(f"{record.state.value} {record.user_id}")

    return _run(settings, act)


def _run(
    settings: Settings, action: Callable[[Backend, Invitations], Awaitable[None]]
) -> int:
    backend = backend_from_url(settings.database)
    invitations = Invitations(backend, InvitationPolicy.from_settings(settings))

    async def run() -> None:
        await backend.open()
        try:
            await action(backend, invitations)
        finally:
            await backend.close()

    try:
        asyncio.run(run())
    except ScimError as exc:
        print(f"scim-gateway: {exc.detail}", file=sys.stderr)
        return 1
    except NotFoundError as exc:
        print(f"scim-gateway: {exc}", file=sys.stderr)
        return 1
    return 0


async def _line(backend: Backend, record: InvitationRecord) -> str:
    try:
        user = await backend.get(record.tenant, USER, record.user_id)
        user_name = str(user.document.get("userName", ""))
    except NotFoundError:
        user_name = "(deleted)"
    invited = (
        record.invited_at.isoformat(timespec="seconds") if record.invited_at else "-"
    )
    delivery = record.delivery.value if record.delivery else "-"
    return "\t".join((record.user_id, record.state.value, delivery, invited, user_name))
