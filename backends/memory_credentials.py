"""Tenants and token digests kept in dictionaries, for the memory backend."""

from __future__ import annotations

from scim_gateway.backends.columns import new_id, utc_now
from scim_gateway.backends.credentials import CredentialStore, TokenRecord

__all__ = ["MemoryCredentials"]


class MemoryCredentials(CredentialStore):
    """The credential store half of `MemoryBackend`."""

    def __init__(self) -> None:
        self._tenants: set[str] = set()
        self._tokens: dict[str, TokenRecord] = {}

    async def list_tokens(self, tenant: str | None = None) -> list[TokenRecord]:
        records = sorted(self._tokens.values(), key=lambda r: (r.created, r.id))
        return [r for r in records if tenant is None or r.tenant == tenant]

    async def add_token(
        self, tenant: str, digest: str, *, label: str = ""
    ) -> TokenRecord:
        self._tenants.add(tenant)
        record = TokenRecord(new_id(), tenant, digest, utc_now(), label)
        self._tokens[record.id] = record
        return record

    async def revoke_token(self, token_id: str) -> bool:
        return self._tokens.pop(token_id, None) is not None

    async def list_tenants(self) -> list[str]:
        return sorted(self._tenants)

    async def create_tenant(self, tenant: str) -> bool:
        if tenant in self._tenants:
            return False
        self._tenants.add(tenant)
        return True

    async def delete_tenant(self, tenant: str) -> bool:
        if tenant not in self._tenants:
            return False
        self._tenants.discard(tenant)
        for record in [r for r in self._tokens.values() if r.tenant == tenant]:
            del self._tokens[record.id]
        await self._forget_resources(tenant)
        return True

    async def _forget_resources(self, tenant: str) -> None:
        """Drop the tenant's resources; the backend half says how."""
