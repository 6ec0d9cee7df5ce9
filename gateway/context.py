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
    Unavailable,
    Uniqueness,
)
from scim_gateway.invitations import ACCEPT_PATH, InvitationPolicy, Invitations
from scim_gateway.logs import tenant_id
from scim_gateway.outbox import OutboxWorker, RetryPolicy
from scim_gateway.plugins.base import Deliverer
from scim_gateway.schemas import SchemaRegistry

__all__ = ["GatewayContext", "accept_url_for", "translate_backend_errors"]

logger = logging.getLogger(__name__)


class GatewayContext:
    """The state one gateway app carries; built by `create_app`."""

    def __init__(
        self,
        *,
        settings: Settings,
        backend: Backend,
        authenticate: Authenticate,
        deliverer: Deliverer,
        registry: SchemaRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.authenticate = authenticate
        self.registry = registry or SchemaRegistry()
        self.limits = Limits(max_string_length=settings.max_value_length)
        self.outbox = OutboxWorker(
            backend,
            deliverer,
            organization=settings.organization,
            retry=RetryPolicy.from_settings(settings),
            poll=settings.outbox_poll_seconds,
        )
        self.invitations = Invitations(
            backend,
            InvitationPolicy.from_settings(settings),
            on_enqueue=self.outbox.notify,
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
        """Open the backend if needed, then resolve the request's tenant."""
        await self.ensure_open()
        with translate_backend_errors():
            tenant = await self.authenticate(request)
        tenant_id.set(tenant)
        return tenant

    async def close(self) -> None:
        if not self._opened:
            return
        await self.outbox.deliverer.aclose()
        await self.backend.close()
        self._opened = False

    async def run_outbox(self) -> None:
        """Open the backend, then deliver invitations until cancelled.

        The app's lifespan runs this; a host that mounts the gateway (and so
        runs no lifespan of its) starts it in a task of its own lifespan.
        """
        await self.ensure_open()
        await self.outbox.run()

    def base_url(self, request: Request) -> str:
        """The public URL of the SCIM base path, for `meta.location` and Location.

        `--public-url` wins; otherwise the request's own scheme, host and mount
        prefix (root_path) with the base path.
        """
        if self.settings.public_url is not None:
            return self.settings.public_url
        # Starlette's request.base_url is the outermost app's root; a mount
        # prefix is in the scope's root_path.
        url = request.url
        root = request.scope.get("root_path", "").rstrip("/")
        return f"{url.scheme}://{url.netloc}{root}{self.settings.base_path}"

    def accept_url(self, request: Request | None = None) -> str:
        """The public URL of the accept page, which invitation links point at.

        `--accept-url` wins; then `--public-url` with the SCIM base path
        replaced; then the request's own root (mount prefix included).
        """
        return accept_url_for(self.settings, request)


def accept_url_for(settings: Settings, request: Request | None) -> str:
    """The accept page's URL under `settings`, or under the request's root."""
    if settings.accept_url is not None:
        return settings.accept_url
    if settings.public_url is not None:
        root = settings.public_url.removesuffix(settings.base_path)
    elif request is not None:
        root = str(request.base_url).rstrip("/")
    else:
        host = f"[{settings.host}]" if ":" in settings.host else settings.host
        root = f"http://{host}:{settings.port}"
    return root + ACCEPT_PATH


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
