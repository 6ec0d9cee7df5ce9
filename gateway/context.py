"""What every handler of one gateway shares: settings, backend, registry, auth."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

import anyio
from starlette.requests import Request

from scim_gateway.auth import Authenticate
from scim_gateway.backends.base import Backend
from scim_gateway.backends.errors import (
    ConflictError,
    MemberNotFoundError,
    NotFoundError,
    UnavailableError,
    VersionMismatchError,
)
from scim_gateway.coercion import Limits
from scim_gateway.config import Settings
from scim_gateway.errors import (
    InvalidValue,
    NotFound,
    PreconditionFailed,
    TooManyRequests,
    Unauthorized,
    Unavailable,
    Uniqueness,
)
from scim_gateway.logs import tenant_id
from scim_gateway.schemas import SchemaRegistry
from scim_gateway.throttle import FailedAuthThrottle, client_address

__all__ = ["GatewayContext", "translate_backend_errors"]

logger = logging.getLogger(__name__)


class GatewayContext:
    """The state one gateway app carries; built by `create_app`."""

    def __init__(
        self,
        *,
        settings: Settings,
        backend: Backend,
        authenticate: Authenticate,
        registry: SchemaRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.authenticate = authenticate
        self.registry = registry or SchemaRegistry()
        self.limits = Limits(
            max_string_length=settings.max_value_length,
            max_members=settings.max_members_per_request,
            max_filter_length=settings.max_filter_length,
            max_filter_depth=settings.max_filter_depth,
        )
        self.throttle = FailedAuthThrottle(
            limit=settings.auth_failure_limit, window=settings.auth_failure_window
        )
        self._opened = False
        self._open_lock = anyio.Lock()

    async def ensure_open(self) -> None:
        """Open the backend on first use.

        A gateway mounted in a host app gets no lifespan events of its own
        (Starlette runs only the outermost lifespan), so the first request
        opens the backend; `close` or the host's shutdown closes it.
        """
        if self._opened:
            return
        async with self._open_lock:
            if self._opened:
                return
            with translate_backend_errors():
                await self.backend.open()
            self._opened = True

    async def authenticate_request(self, request: Request) -> str:
        """Open the backend if needed, then resolve the request's tenant.

        Raises:
            TooManyRequests: the client's address failed too often lately;
                its token is not looked at.
            Unauthorized: no valid token; the failure counts against the
                client's address.
        """
        address = client_address(request)
        wait = self.throttle.retry_after(address)
        if wait is not None:
            raise TooManyRequests(
                "too many failed authentications from this address; "
                f"retry in {wait} seconds",
                retry_after=wait,
            )
        await self.ensure_open()
        try:
            with translate_backend_errors():
                tenant = await self.authenticate(request)
        except Unauthorized:
            self.throttle.record_failure(address)
            raise
        tenant_id.set(tenant)
        return tenant

    async def close(self) -> None:
        if not self._opened:
            return
        await self.backend.close()
        self._opened = False

    def base_url(self, request: Request) -> str:
        """The public URL of the SCIM base path, for `meta.location` and Location.

        `--public-url` wins; otherwise the request's own scheme, host and mount
        prefix (root_path) with the base path.
        """
        if self.settings.public_url is not None:
            return self.settings.public_url
        root = str(request.base_url).rstrip("/")
        return root + self.settings.base_path


@contextmanager
def translate_backend_errors() -> Iterator[None]:
    """Turn the backend's errors into the SCIM errors a client should see."""
    try:
        yield
    except NotFoundError as exc:
        raise NotFound(f"{exc.resource_type} {exc.resource_id} not found") from None
    except ConflictError as exc:
        raise Uniqueness(
            f"{exc.attribute} is already taken by another resource"
        ) from None
    except VersionMismatchError as exc:
        raise PreconditionFailed(
            f"If-Match names version {exc.expected}, but the resource is at version "
            f"{exc.actual}"
        ) from None
    except MemberNotFoundError as exc:
        shown = ", ".join(exc.member_ids[:5])
        raise InvalidValue(f"members: no user or group with id {shown}") from None
    except UnavailableError as exc:
        logger.warning("backend_unavailable reason=%s", exc.reason)
        raise Unavailable(
            "the database is not reachable right now; retry later",
            retry_after=exc.retry_after,
        ) from None
