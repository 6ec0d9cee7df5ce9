"""A scim-gateway invitation deliverer that appends each event to a JSON Lines file.

A mail-merge job, or any system that reads files, picks the lines up. Choose
it with `SCIM_GATEWAY_INVITATION_DELIVERER=jsonl` and name the file with
`SCIM_GATEWAY_JSONL_PATH`.
"""

from __future__ import annotations

import json
from pathlib import Path

import anyio

from scim_gateway.plugins import (
    Deliverer,
    DelivererConfig,
    Invitation,
    PermanentDeliveryError,
)


class JsonlDeliverer(Deliverer):
    name = "jsonl"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = anyio.Lock()

    @classmethod
    def from_config(cls, config: DelivererConfig) -> JsonlDeliverer:
        path = config.options.get("path")
        if not path:
            raise ValueError("the jsonl deliverer needs SCIM_GATEWAY_JSONL_PATH")
        return cls(Path(path))

    async def invite(self, invitation: Invitation) -> None:
        if not invitation.email:
            # Retrying cannot help: give up at once.
            raise PermanentDeliveryError("the user has no e-mail address")
        await self._append(invitation)

    async def accepted(self, invitation: Invitation) -> None:
        await self._append(invitation)

    async def confirmed(self, invitation: Invitation) -> None:
        await self._append(invitation)

    async def revoked(self, invitation: Invitation) -> None:
        await self._append(invitation)

    async def _append(self, invitation: Invitation) -> None:
        line = json.dumps(
            {
                "event": invitation.event.value,
                # The same key on every attempt: a reader drops repeats by it.
                "key": invitation.idempotency_key,
                "tenant": invitation.tenant,
                "user_id": invitation.user_id,
                "name": invitation.name,
                "email": invitation.email,
                "accept_url": invitation.accept_url,
            }
        )
        # Deliverers run concurrently for different users; one writer at a time.
        async with self._lock:
            await anyio.to_thread.run_sync(self._write, line)

    def _write(self, line: str) -> None:
        with self.path.open("a", encoding="utf-8") as file:
            file.write(line + "\n")
