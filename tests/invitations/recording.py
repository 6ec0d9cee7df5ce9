"""A deliverer for tests that keeps what it is given, and can be told to fail."""

from __future__ import annotations

import anyio

from scim_gateway.plugins.base import Deliverer, Invitation, InvitationEvent


class RecordingDeliverer(Deliverer):
    """Records every event it delivers; fails the first `failures` attempts."""

    name = "recording"

    def __init__(self, *, failures: int = 0, error: Exception | None = None) -> None:
        self.delivered: list[Invitation] = []
        self.attempts: list[Invitation] = []
        self.failures = failures
        self.error = error or ConnectionError("receiver down")
        self._changed = anyio.Event()

    async def invite(self, invitation: Invitation) -> None:
        await self._record(invitation)

    async def accepted(self, invitation: Invitation) -> None:
        await self._record(invitation)

    async def confirmed(self, invitation: Invitation) -> None:
        await self._record(invitation)

    async def revoked(self, invitation: Invitation) -> None:
        await self._record(invitation)

    async def _record(self, invitation: Invitation) -> None:
        self.attempts.append(invitation)
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        self.delivered.append(invitation)
        self._changed.set()
        self._changed = anyio.Event()

    def events(self, user_id: str) -> list[InvitationEvent]:
        return [i.event for i in self.delivered if i.user_id == user_id]

    def last_invite(self, user_id: str) -> Invitation:
        invites = [
            i
            for i in self.delivered
            if i.user_id == user_id and i.event is InvitationEvent.INVITED
        ]
        return invites[-1]

    async def wait_for(self, count: int, *, within: float = 10.0) -> None:
        """Wait until `count` events were delivered (a guard, not a measurement)."""
        with anyio.fail_after(within):
            while len(self.delivered) < count:
                await self._changed.wait()
