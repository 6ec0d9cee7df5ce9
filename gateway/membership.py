"""Group membership changes a PATCH asks for, folded for the backend.

Members live beside the group (DESIGN.md), so the PATCH engine never needs the
member list to add, remove or replace members by id: it records what the
request asks for, in request order, and hands the net effect to the caller.
Only filters on other member attributes need the list (`MembersRequired`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scim_gateway.backends.base import Member

__all__ = ["MemberChanges", "MembersRequired"]


class MembersRequired(Exception):
    """The PATCH filters members on more than their ids; pass `members` and retry.

    Not a SCIM error: the caller catches it, reads the group with its members
    and calls `apply_patch` again with them.
    """


@dataclass(frozen=True)
class MemberChanges:
    """What to tell the backend about a group's members, in this order.

    When `replace` is not None it is the whole new member list, and `add`
    and `remove` are empty. Otherwise `remove` then `add` (disjoint lists) give
    the net effect of the request. Without the member list the engine cannot
    tell whether an added id is already a member: the backend's `add_members`
    ignores those, and its `remove_members` ignores ids that are not members.
    """

    replace: list[str] | None = None
    add: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)

    @property
    def is_empty(self) -> bool:
        return self.replace is None and not self.add and not self.remove


class MemberLedger:
    """Folds member operations in request order into `MemberChanges`.

    With the current members known the ledger keeps the exact list and
    answers the exact difference; without them it keeps pending adds and
    removes, or a whole replacement list once one is given.
    """

    def __init__(self, members: Sequence[Member] | None) -> None:
        self.is_known = members is not None
        self.touched = False
        self._original = {m.id: m for m in members or ()}
        self._current: dict[str, Member] = dict(self._original)
        self._replace: dict[str, None] | None = None
        self._add: dict[str, None] = {}
        self._remove: dict[str, None] = {}

    def current(self) -> list[Member]:
        """The members as the request has left them so far; needs `is_known`."""
        if not self.is_known:
            raise MembersRequired
        return list(self._current.values())

    def add(self, ids: Iterable[str]) -> None:
        self.touched = True
        for member_id in ids:
            self._current.setdefault(member_id, Member(member_id))
            if self._replace is not None:
                self._replace[member_id] = None
                continue
            self._remove.pop(member_id, None)
            self._add[member_id] = None

    def remove(self, ids: Iterable[str]) -> None:
        self.touched = True
        for member_id in ids:
            self._current.pop(member_id, None)
            if self._replace is not None:
                self._replace.pop(member_id, None)
                continue
            self._add.pop(member_id, None)
            self._remove[member_id] = None

    def replace(self, ids: Iterable[str]) -> None:
        self.touched = True
        kept = list(ids)
        self._current = {i: self._original.get(i, Member(i)) for i in kept}
        self._replace = dict.fromkeys(kept)
        self._add = {}
        self._remove = {}

    def changes(self) -> MemberChanges | None:
        """The net effect, or None when the request asked for no member change.

        With the members known, a request whose net effect is nothing (adding
        present members, removing absent ones) also answers None.
        """
        if not self.touched:
            return None
        if self.is_known:
            added = [i for i in self._current if i not in self._original]
            removed = [i for i in self._original if i not in self._current]
            changes = MemberChanges(add=added, remove=removed)
            return None if changes.is_empty else changes
        replace = None if self._replace is None else list(self._replace)
        return MemberChanges(replace, list(self._add), list(self._remove))


def member_element(member: Member) -> dict[str, Any]:
    """A member as a `members` element, for evaluating value filters on it."""
    element: dict[str, Any] = {"value": member.id, "type": member.type}
    if member.display is not None:
        element["display"] = member.display
    return element
