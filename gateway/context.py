"""What every handler of one gateway shares: settings, backend, registry, auth."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractAsyncContextManager, contextmanager
from typing import Any

import anyio
from starlette.requests import Request

from scim_gateway.auth import Authenticate
from scim_gateway.backends.base import USER, Backend, StoredResource, Transaction
from scim_gateway.backends.columns import new_ordered_id
from scim_gateway.backends.errors import (
    ConflictError,
    MemberNotFoundError,
    NotFoundError,
    Outage,
    UnavailableError,
    VersionMismatchError,
)
from scim_gateway.changes import ChangeCallback, ChangeFeed
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
from scim_gateway.invitations import ACCEPT_PATH, InvitationPolicy, Invitations
from scim_gateway.logs import tenant_id
from scim_gateway.membership import MemberChanges
from scim_gateway.outbox import OutboxWorker, RetryPolicy
from scim_gateway.plugins.base import Deliverer
from scim_gateway.schemas import SchemaRegistry
from scim_gateway.throttle import FailedAuthThrottle, client_address

__all__ = [
    "GatewayContext",
    "accept_url_for",
    "request_root",
    "translate_backend_errors",
]

logger = logging.getLogger(__name__)


class GatewayContext:
    """The state one gateway app carries, as `app.state.gateway`; built by `create_app`.

    An embedder uses `subscribe` for change events, `close` at shutdown (or
    `gateway_lifespan`), and `backend` and `settings` to read what the gateway
    was made with.
    """

    def __init__(
        self,
        *,
        settings: Settings,
        backend: Backend,
        authenticate: Authenticate,
        deliverer: Deliverer,
        registry: SchemaRegistry | None = None,
        on_change: Iterable[ChangeCallback] = (),
    ) -> None:
        self.settings = settings
        self.backend = backend
        self.authenticate = authenticate
        self.registry = registry or SchemaRegistry()
        self.changes = ChangeFeed(on_change)
        self.limits = Limits(
            max_string_length=settings.max_value_length,
            max_members=settings.max_members_per_request,
            max_filter_length=settings.max_filter_length,
            max_filter_depth=settings.max_filter_depth,
        )
        self.throttle = FailedAuthThrottle(
            limit=settings.auth_failure_limit, window=settings.auth_failure_window
        )
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

    @property
    def is_open(self) -> bool:
        """Whether this gateway has opened its backend and not closed it since."""
        return self._opened

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
            Unauthorized: no valid credentials, or a tenant in the path that
                is not the one the credentials name. The answer is the same
                whether or not that tenant exists.
        """
        with self.counting_failures(request):
            await self.ensure_open()
            tenant = await self._tenant_of(request)
        tenant_id.set(tenant)
        return tenant

    @contextmanager
    def counting_failures(self, request: Request) -> Iterator[None]:
        """Refuse a throttled address, and count an `Unauthorized` raised inside.

        Every check of a credential runs inside this, so the SCIM API and the
        admin API share one count per address.

        Raises:
            TooManyRequests: the address failed too often lately.
        """
        address = client_address(request)
        wait = self.throttle.retry_after(address)
        if wait is not None:
            raise TooManyRequests(
                "too many failed authentications from this address; "
                f"retry in {wait} seconds",
                retry_after=wait,
            )
        try:
            yield
        except Unauthorized:
            self.throttle.record_failure(address)
            raise

    def transaction(self, tenant: str) -> AbstractAsyncContextManager[Transaction]:
        """A unit of work whose changes reach the subscribers once it commits."""
        return self.changes.transaction(self.backend, tenant)

    async def create(
        self,
        tenant: str,
        resource_type: str,
        document: dict[str, Any],
        *,
        link_base: str,
    ) -> StoredResource:
        """Store a new resource that names no members as a unit of work of its
        own: a new user with its invitation, unless it is created disabled.

        Its change reaches the subscribers as a transaction's would.
        """
        invited = None
        resource_id = None
        if resource_type == USER:
            # The invitation and its message name the user before it exists.
            resource_id = new_ordered_id()
            invited = self.invitations.new_user_invitation(
                tenant, resource_id, document, link_base
            )
        invitation, message = invited if invited is not None else (None, None)
        stored = await self.changes.create(
            self.backend,
            tenant,
            resource_type,
            document,
            resource_id=resource_id,
            invitation=invitation,
            message=message,
        )
        if invited is not None:
            self.invitations.enqueued()
        return stored

    async def change_members(
        self,
        tenant: str,
        group_id: str,
        changes: MemberChanges,
        *,
        expected_version: int | None,
    ) -> StoredResource:
        """Remove, then add, a group's members as a unit of work of its own.

        Its change reaches the subscribers as a transaction's would.
        """
        return await self.changes.change_members(
            self.backend,
            tenant,
            group_id,
            add=changes.add,
            remove=changes.remove,
            expected_version=expected_version,
        )

    def subscribe(self, callback: ChangeCallback) -> Callable[[], None]:
        """Call `callback` after each committed change; returns an unsubscribe.

        Callbacks run one after another, after the response is sent; one that
        raises is logged at ERROR and the others still run.
        """
        return self.changes.subscribe(callback)

    async def _tenant_of(self, request: Request) -> str:
        with translate_backend_errors():
            tenant = await self.authenticate(request)
        named = request.path_params.get("tenant")
        if named is not None and named != tenant:
            address = client_address(request)
            logger.warning("auth_failed reason=tenant_mismatch source=%s", address)
            raise Unauthorized("the bearer token is not valid for this URL")
        return tenant

    async def close(self) -> None:
        """Close the backend if this gateway opened it (its lifespan or a request)."""
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

        `--public-url` (or `create_app(base_url=...)`) wins; otherwise the
        request's scheme and host with its mount prefix (`root_path`, which a
        host framework's mount or a trusted `X-Forwarded-Prefix` sets) and
        the base path. A tenant named in the path is part of the base.
        """
        tenant = request.path_params.get("tenant")
        suffix = f"/{tenant}" if tenant is not None else ""
        if self.settings.public_url is not None:
            return self.settings.public_url + suffix
        return f"{request_root(request)}{self.settings.base_path}{suffix}"

    def accept_url(self, request: Request | None = None) -> str:
        """The public URL of the accept page, which invitation links point at.

        `--accept-url` wins; then `--public-url` with the SCIM base path
        replaced; then the request's own root (mount prefix included).
        """
        return accept_url_for(self.settings, request)


@functools.lru_cache(maxsize=64)
def _origin(scheme: str, server: tuple[str, int] | None, host: str | None) -> str:
    """`scheme://host:port` of a request, as Starlette's `request.url` gives them.

    Starlette parses the whole URL for it on every call, a tenth of a GET;
    clients send the same few Host headers, so each answer is kept.
    """
    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {
        "type": "http",
        "scheme": scheme,
        "server": server,
        "path": "/",
        "root_path": "",
        "query_string": b"",
        "headers": headers,
    }
    url = Request(scope).url
    return f"{url.scheme}://{url.netloc}"


def request_root(request: Request) -> str:
    """The request's scheme, host and mount prefix (`root_path`), no slash after.

    What Starlette's `request.base_url` gives, without parsing a URL a call.
    """
    scope = request.scope
    origin = _origin(
        scope.get("scheme", "http"),
        scope.get("server"),
        request.headers.get("host"),
    )
    return origin + str(scope.get("root_path", "")).rstrip("/")


def accept_url_for(settings: Settings, request: Request | None) -> str:
    """The accept page's URL under `settings`, or under the request's root."""
    if settings.accept_url is not None:
        return settings.accept_url
    if settings.public_url is not None:
        root = settings.public_url.removesuffix(settings.base_path)
    elif request is not None:
        root = request_root(request)
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
        logger.warning(
            "backend_unavailable outage=%s reason=%s", exc.outage.value, exc.reason
        )
        raise Unavailable(_OUTAGES[exc.outage], retry_after=exc.retry_after) from None


# What a client is told of each outage: the kind, never the driver's words,
# which may name paths, hosts or SQL.
_OUTAGES = {
    Outage.UNREACHABLE: "the database is not reachable right now; retry later",
    Outage.FULL: "the database is out of space; writes fail until space is freed",
    Outage.READ_ONLY: "the database is read-only; writes fail until it is writable",
}
