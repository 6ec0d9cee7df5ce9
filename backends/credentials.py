"""The credential store interface: tenants and the digests of their bearer tokens.

Kept apart from `Backend` because it serves authentication and the command
line, not the SCIM resources; every shipped backend implements both.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime

__all__ = ["CredentialStore", "TokenRecord"]


@dataclass(frozen=True)
class TokenRecord:
    """A bearer token as stored: its SHA-256 digest, never the token itself."""

    id: str
    tenant: str
    digest: str
    created: datetime
    label: str = ""

    def __repr__(self) -> str:
        return f"TokenRecord(id={self.id!r}, tenant={self.tenant!r}, digest=<hidden>)"


class CredentialStore(ABC):
    """Where tenants and their active tokens live.

    A tenant exists once it has been created or given a token; several tokens
    may be active at once so that a rotation needs no downtime.
    """

    @abstractmethod
    async def list_tokens(self, tenant: str | None = None) -> list[TokenRecord]:
        """Active tokens, of one tenant or of all."""

    @abstractmethod
    async def add_token(
        self, tenant: str, digest: str, *, label: str = ""
    ) -> TokenRecord:
        """Store a new token digest for `tenant`, creating the tenant if needed."""

    @abstractmethod
    async def revoke_token(self, token_id: str) -> bool:
        """Revoke one token; False when no active token has that id."""

    @abstractmethod
    async def list_tenants(self) -> list[str]:
        """The ids of all tenants, sorted."""

    @abstractmethod
    async def create_tenant(self, tenant: str) -> bool:
        """Create a tenant; False when it exists already."""

    @abstractmethod
    async def delete_tenant(self, tenant: str) -> bool:
        """Delete a tenant with its tokens, resources and memberships."""
