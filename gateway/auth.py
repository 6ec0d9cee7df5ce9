"""Bearer-token authentication: a token names a tenant.

Tokens are kept only as SHA-256 digests and compared in constant time against
every known digest, so neither the stored form nor the timing of a check
reveals a token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping

from starlette.requests import Request

from scim_gateway.backends.credentials import CredentialStore
from scim_gateway.errors import Unauthorized

__all__ = [
    "DEFAULT_TENANT",
    "Authenticate",
    "StaticTokens",
    "StoredTokens",
    "generate_token",
    "hash_token",
]

logger = logging.getLogger(__name__)

DEFAULT_TENANT = "default"

Authenticate = Callable[[Request], Awaitable[str]]
"""Maps a request to its tenant id, or raises `Unauthorized` (or any ScimError)."""


def generate_token() -> str:
    """A new secret token: 43 URL-safe characters, 256 bits of randomness."""
    return secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def bearer_token(request: Request) -> str:
    """The token of an `Authorization: Bearer` header.

    Raises:
        Unauthorized: the header is missing or not a bearer token.
    """
    header = request.headers.get("authorization")
    if header is None:
        raise Unauthorized(
            "authentication required: send Authorization: Bearer <token>"
        )
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized(
            "authentication required: send Authorization: Bearer <token>"
        )
    return token


def find_tenant(token: str, digests: Mapping[str, str]) -> str | None:
    """The tenant whose digest matches `token`, comparing against every digest."""
    digest = hash_token(token)
    found: str | None = None
    for candidate, tenant in digests.items():
        if hmac.compare_digest(candidate, digest):
            found = tenant
    return found


class StaticTokens:
    """Authenticates against a fixed set of tokens, each naming a tenant.

    Args:
        digests: SHA-256 hex digest of each token, mapped to its tenant id.
    """

    def __init__(self, digests: Mapping[str, str]) -> None:
        self._digests = dict(digests)

    def __repr__(self) -> str:
        return f"StaticTokens(<{len(self._digests)} tokens>)"

    @classmethod
    def from_tokens(cls, tokens: Mapping[str, str]) -> StaticTokens:
        """From plain tokens mapped to tenants; only their digests are kept."""
        return cls({hash_token(token): tenant for token, tenant in tokens.items()})

    async def __call__(self, request: Request) -> str:
        token = bearer_token(request)
        tenant = find_tenant(token, self._digests)
        if tenant is None:
            client = request.client.host if request.client else "-"
            logger.warning("auth_failed reason=unknown_token source=%s", client)
            raise Unauthorized("the bearer token is not valid")
        return tenant


class StoredTokens:
    """Authenticates against the token digests in a credential store.

    The digests are cached for `ttl` seconds, so a token issued or revoked
    through another process (or the command line) counts within that time;
    an unknown token refreshes the cache at most once a second, so a fresh
    token works at once without letting bad tokens hammer the database.
    """

    def __init__(self, store: CredentialStore, *, ttl: float = 5.0) -> None:
        self._store = store
        self._ttl = ttl
        self._digests: dict[str, str] = {}
        self._loaded_at = float("-inf")

    def __repr__(self) -> str:
        return f"StoredTokens(<{len(self._digests)} tokens>)"

    async def __call__(self, request: Request) -> str:
        token = bearer_token(request)
        if time.monotonic() - self._loaded_at > self._ttl:
            await self._reload()
        tenant = find_tenant(token, self._digests)
        if tenant is None and time.monotonic() - self._loaded_at > 1.0:
            await self._reload()
            tenant = find_tenant(token, self._digests)
        if tenant is None:
            client = request.client.host if request.client else "-"
            logger.warning("auth_failed reason=unknown_token source=%s", client)
            raise Unauthorized("the bearer token is not valid")
        return tenant

    async def _reload(self) -> None:
        records = await self._store.list_tokens()
        self._digests = {record.digest: record.tenant for record in records}
        self._loaded_at = time.monotonic()
