"""The invitation hook: what a deliverer is given and the interface it implements.

A deliverer is told about one event of one user's invitation at a time, as
a plain `Invitation` value; it never sees a backend, a request or the
gateway's settings. The gateway calls it after the change that caused the
event has been committed, and retries it with backoff when it raises, so a
deliverer does one attempt and raises on failure.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from scim_gateway.plugins.templates import InvitationTemplates

__all__ = [
    "Deliverer",
    "DelivererConfig",
    "DeliveryError",
    "Invitation",
    "InvitationEvent",
    "PermanentDeliveryError",
    "dispatch",
    "flag_option",
    "number_option",
]


class InvitationEvent(enum.Enum):
    INVITED = "invited"
    ACCEPTED = "accepted"
    CONFIRMED = "confirmed"
    REVOKED = "revoked"


@dataclass(frozen=True)
class Invitation:
    """One event of a user's invitation, as a deliverer sees it.

    `accept_url` is set for `INVITED` only; it holds the secret accept token,
    so it is left out of `repr` and must never be logged at INFO or above.
    `idempotency_key` is the same for every attempt at one message: pass it
    on, so that a receiver can drop a repeat after an attempt whose outcome
    was unknown (a timeout after the receiver got it).
    """

    event: InvitationEvent
    tenant: str
    user_id: str
    user_name: str
    display_name: str | None
    email: str | None
    organization: str
    idempotency_key: str
    accept_url: str | None = field(default=None, repr=False)
    expires_at: datetime | None = None
    attempt: int = 1

    @property
    def name(self) -> str:
        """How to address the person: the display name, else the user name."""
        return self.display_name or self.user_name


@dataclass(frozen=True)
class DelivererConfig:
    """What the gateway hands a deliverer factory when it loads one by name.

    `options` are the deliverer's own settings: for a deliverer called `smtp`,
    the environment variables `SCIM_GATEWAY_SMTP_<OPTION>`, keyed by the
    lower-case option (`host`, `port`, ...). They may hold passwords, so
    they are left out of `repr`.
    """

    templates: InvitationTemplates
    options: Mapping[str, str] = field(default_factory=dict, repr=False)


class DeliveryError(Exception):
    """This attempt failed; the gateway tries again later, up to its limit."""


class PermanentDeliveryError(DeliveryError):
    """No attempt can succeed (no e-mail address); the gateway gives up at once."""


class Deliverer(ABC):
    """Delivers invitations, and optionally the events that follow them.

    Subclass it and implement `invite`; override `accepted`, `confirmed` and
    `revoked` to hear about those events too (they do nothing by default).
    Each method makes one attempt and returns when the receiver has the
    message; raising any exception makes the gateway retry with backoff.
    Methods may run concurrently for different users, never for one user:
    a user's events arrive in the order they happened.
    """

    name: str = "deliverer"

    @abstractmethod
    async def invite(self, invitation: Invitation) -> None:
        """Send the invitation with its accept link to the person."""

    # The hooks below are optional, so they are not abstract: a deliverer
    # overrides only the events it cares about.

    async def accepted(self, invitation: Invitation) -> None:  # noqa: B027
        """The person accepted; an administrator may now confirm them."""

    async def confirmed(self, invitation: Invitation) -> None:  # noqa: B027
        """An administrator confirmed the person."""

    async def revoked(self, invitation: Invitation) -> None:  # noqa: B027
        """The invitation was revoked (the user deleted, disabled or revoked)."""

    async def aclose(self) -> None:  # noqa: B027
        """Release what the deliverer holds; called once at shutdown."""


async def dispatch(deliverer: Deliverer, invitation: Invitation) -> None:
    """Call the method of `deliverer` that handles `invitation.event`."""
    handler: Callable[[Invitation], Awaitable[None]]
    handler = getattr(deliverer, _HANDLERS[invitation.event])
    await handler(invitation)


_HANDLERS = {
    InvitationEvent.INVITED: "invite",
    InvitationEvent.ACCEPTED: "accepted",
    InvitationEvent.CONFIRMED: "confirmed",
    InvitationEvent.REVOKED: "revoked",
}


def flag_option(options: Mapping[str, str], key: str, *, default: bool) -> bool:
    """A yes/no option: `true`/`false`, `1`/`0`, `yes`/`no` or `on`/`off`.

    Raises:
        ValueError: the option holds something else.
    """
    raw = options.get(key, "").strip().lower()
    if raw == "":
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ValueError(f"option {key!r} must be true or false, not {raw!r}")


def number_option(options: Mapping[str, str], key: str, *, default: float) -> float:
    """A numeric option.

    Raises:
        ValueError: the option is not a number.
    """
    raw = options.get(key, "").strip()
    if raw == "":
        return default
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"option {key!r} must be a number, not {raw!r}") from None
