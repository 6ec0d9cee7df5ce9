"""Errors that backends raise; the gateway maps each to a SCIM error."""

from __future__ import annotations

import enum
from collections.abc import Sequence

__all__ = [
    "BackendError",
    "ConflictError",
    "MemberNotFoundError",
    "NotFoundError",
    "Outage",
    "UnavailableError",
    "VersionMismatchError",
]


class BackendError(Exception):
    """Base of every error a backend raises on purpose."""


class NotFoundError(BackendError):
    def __init__(self, resource_type: str, resource_id: str) -> None:
        super().__init__(f"{resource_type} {resource_id!r} not found")
        self.resource_type = resource_type
        self.resource_id = resource_id


class ConflictError(BackendError):
    """A unique attribute (`userName`, group `displayName`) is already taken."""

    def __init__(self, attribute: str) -> None:
        super().__init__(f"{attribute} is already taken")
        self.attribute = attribute


class VersionMismatchError(BackendError):
    """The stored version is not the one the caller expected (If-Match)."""

    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"expected version {expected}, stored version {actual}")
        self.expected = expected
        self.actual = actual


class MemberNotFoundError(BackendError):
    """Member ids that are no user or group of the tenant."""

    def __init__(self, member_ids: Sequence[str]) -> None:
        super().__init__(f"no such member: {', '.join(member_ids)}")
        self.member_ids = list(member_ids)


class Outage(enum.Enum):
    """Why a store is unavailable, as far as the client may be told."""

    UNREACHABLE = "unreachable"
    FULL = "full"
    READ_ONLY = "read_only"


class UnavailableError(BackendError):
    """The store cannot be reached or is not writable now; retrying may succeed.

    Args:
        reason: for the log; may name paths and driver messages, so it never
            reaches a client.
        outage: the kind of trouble, which the client is told in plain words.
    """

    def __init__(
        self,
        reason: str,
        *,
        retry_after: int = 5,
        outage: Outage = Outage.UNREACHABLE,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.outage = outage
