"""The ASGI application: routes, middleware, and the factory that builds it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from scim_gateway.accept import AcceptPage
from scim_gateway.admin import AdminEndpoints
from scim_gateway.auth import DEFAULT_TENANT, Authenticate, StaticTokens, StoredTokens
from scim_gateway.backends import backend_from_url
from scim_gateway.backends.base import Backend
from scim_gateway.backends.credentials import CredentialStore
from scim_gateway.backends.errors import BackendError
from scim_gateway.changes import ChangeCallback, ChangeDispatchMiddleware
from scim_gateway.config import Settings
from scim_gateway.context import GatewayContext
from scim_gateway.discovery import DiscoveryEndpoints
from scim_gateway.endpoints import ResourceEndpoints
from scim_gateway.errors import (
    InternalError,
    InvalidSyntax,
    MethodNotAllowed,
    NotFound,
    NotImplementedFeature,
    ScimError,
)
from scim_gateway.http import check_accept, error_response
from scim_gateway.invitations import ACCEPT_PATH
from scim_gateway.logs import RequestLogMiddleware, note, request_id
from scim_gateway.plugins.base import Deliverer, DelivererConfig
from scim_gateway.plugins.registry import load_deliverer
from scim_gateway.plugins.templates import InvitationTemplates
from scim_gateway.proxy import ProxyHeadersMiddleware, TrustedProxies

__all__ = ["create_app", "gateway_lifespan", "load_configured_deliverer"]

logger = logging.getLogger(__name__)

Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    *,
    settings: Settings | None = None,
    backend: Backend | None = None,
    tokens: Mapping[str, str] | str | None = None,
    authenticate: Authenticate | None = None,
    base_url: str | None = None,
    on_change: Iterable[ChangeCallback] = (),
    invitations: Deliverer | None = None,
) -> Starlette:
    """Build a gateway as an ASGI application.

    Serve it on its own or mount it under any prefix of a host application.
    A mounted app gets no lifespan of its own: it opens its backend on the
    first request, and the host closes it with `gateway_lifespan` (or
    `await app.state.gateway.close()`) at shutdown. The lifespan also runs
    the worker that delivers invitations (docs/invitations.md).

    Args:
        settings: behaviour and limits; defaults read `SCIM_GATEWAY_*` variables.
        backend: storage; by default the one `settings.database` names.
        tokens: a bearer token for the single tenant `default`, or tokens
            mapped to tenant ids. Only their SHA-256 digests are kept.
        authenticate: instead of tokens, an async callable that maps a request
            to a tenant id or raises a `ScimError` (such as `Unauthorized`).
        base_url: the SCIM base URL as clients see it, for `meta.location`
            and `Location` (it overrides `settings.public_url`). Without it,
            the URL comes from the request, mount prefix included.
        on_change: async callbacks that receive a `ChangeEvent` for every
            change, after it is committed (more with `app.state.gateway.subscribe`).
        invitations: the deliverer of invitations; by default the one
            `settings.invitation_deliverer` names, loaded by name.

    Without `tokens`, `authenticate` or `settings.token`, tokens are those
    stored in the backend (`scim-gateway token issue|rotate`).

    Raises:
        ValueError: no way to authenticate is given and the backend stores none;
            the admin token is weak or equal to a SCIM token; the deliverer's
            options or templates are wrong.
        LookupError: no deliverer has the configured name.
    """
    settings = settings or Settings.from_env()
    if base_url is not None:
        settings = replace(settings, public_url=base_url)
    backend = backend or backend_from_url(
        settings.database, pool_size=settings.pool_size
    )
    _check_admin_token(settings, tokens)
    context = GatewayContext(
        settings=settings,
        backend=backend,
        authenticate=authenticate or _token_authenticator(tokens, settings, backend),
        on_change=on_change,
        deliverer=invitations or load_configured_deliverer(settings),
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await context.ensure_open()
        try:
            async with anyio.create_task_group() as group:
                group.start_soon(context.run_outbox)
                yield
                group.cancel_scope.cancel()
        finally:
            await context.close()

    app = Starlette(
        routes=_routes(context),
        middleware=_middleware(context),
        exception_handlers={
            ScimError: _scim_error_handler,
            HTTPException: _http_error_handler,
        },
        lifespan=lifespan,
    )
    app.state.gateway = context
    return app


def load_configured_deliverer(settings: Settings) -> Deliverer:
    """The deliverer `settings.invitation_deliverer` names, with its templates."""
    folder = settings.invitation_templates
    templates = (
        InvitationTemplates.from_directory(folder) if folder else InvitationTemplates()
    )
    config = DelivererConfig(templates=templates, options=settings.deliverer_options)
    return load_deliverer(settings.invitation_deliverer, config)


def _check_admin_token(
    settings: Settings, tokens: Mapping[str, str] | str | None
) -> None:
    admin = settings.admin_token
    if admin is None:
        return
    if len(admin) < 16:
        raise ValueError("the admin token must be at least 16 characters long")
    scim_tokens = {tokens} if isinstance(tokens, str) else set(tokens or {})
    if admin == settings.token or admin in scim_tokens:
        raise ValueError("the admin token must differ from every SCIM token")


@asynccontextmanager
async def gateway_lifespan(app: Starlette) -> AsyncIterator[GatewayContext]:
    """Run a gateway's start-up and shutdown inside a host's lifespan.

    A host framework runs only its own lifespan, not those of mounted apps;
    enter this in the host's lifespan so the backend opens at start-up and
    closes at shutdown. It yields the gateway's `GatewayContext`.

    Raises:
        TypeError: `app` was not made by `create_app`.
    """
    context = getattr(app.state, "gateway", None)
    if not isinstance(context, GatewayContext):
        raise TypeError("gateway_lifespan takes an app made by create_app")
    async with app.router.lifespan_context(app):
        yield context


def _middleware(context: GatewayContext) -> list[Middleware]:
    middleware = [
        Middleware(RequestLogMiddleware),
        Middleware(ChangeDispatchMiddleware, feed=context.changes),
        Middleware(CatchAllMiddleware),
    ]
    trusted = context.settings.forwarded_allow_ips
    if trusted:
        proxies = TrustedProxies(trusted)
        middleware.insert(0, Middleware(ProxyHeadersMiddleware, trusted=proxies))
    return middleware


def _token_authenticator(
    tokens: Mapping[str, str] | str | None, settings: Settings, backend: Backend
) -> Authenticate:
    if isinstance(tokens, str):
        return StaticTokens.from_tokens({tokens: DEFAULT_TENANT})
    if tokens is not None:
        return StaticTokens.from_tokens(tokens)
    if settings.token:
        return StaticTokens.from_tokens({settings.token: DEFAULT_TENANT})
    if isinstance(backend, CredentialStore):
        return StoredTokens(backend)
    raise ValueError("a gateway needs tokens=, authenticate= or a credential store")


def _routes(context: GatewayContext) -> list[Route]:
    # Starlette tries routes in order, and a SCIM client calls little but the
    # resource endpoints: they come first (a route tried costs a regex match).
    base = context.settings.base_path
    accept = AcceptPage(context)
    routes = [
        *_scim_routes(context, base),
        Route("/healthz", _healthz, methods=["GET"]),
        Route("/readyz", _readyz(context), methods=["GET"]),
        Route(ACCEPT_PATH, accept.show, methods=["GET"]),
        Route(ACCEPT_PATH, accept.accept, methods=["POST"]),
        *AdminEndpoints(context).routes(),
    ]
    if context.settings.tenant_in_path:
        # After the plain routes, so /Users/{id} never reads as a tenant's path;
        # tenant ids that name an endpoint are refused (scim_gateway.tenants).
        routes += _scim_routes(context, base + "/{tenant}")
    return routes


def _scim_routes(context: GatewayContext, base: str) -> list[Route]:
    resources = ResourceEndpoints(context)
    discovery = DiscoveryEndpoints(context)
    routes = []
    for resource_type in context.registry.resource_types.values():
        name, path = resource_type.name, base + resource_type.endpoint
        routes += [
            Route(f"{path}/.search", _bind(resources.search, name), methods=["POST"]),
            _route(
                f"{path}/{{id}}",
                name,
                GET=resources.get,
                PUT=resources.replace,
                PATCH=resources.patch,
                DELETE=resources.delete,
            ),
            _route(path, name, GET=resources.list_resources, POST=resources.create),
        ]
    return [
        *routes,
        Route(f"{base}/ServiceProviderConfig", discovery.service_provider_config),
        Route(f"{base}/ResourceTypes", discovery.resource_types),
        Route(f"{base}/ResourceTypes/{{name}}", discovery.resource_type),
        Route(f"{base}/Schemas", discovery.schemas),
        Route(f"{base}/Schemas/{{id:path}}", discovery.schema),
        Route(f"{base}/.search", resources.root_search, methods=["POST"]),
        Route(
            f"{base}/Bulk",
            _not_implemented(context, "bulk operations"),
            methods=["POST"],
        ),
        Route(
            f"{base}/Me",
            _not_implemented(context, "/Me requests"),
            methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        ),
    ]


def _route(path: str, resource_type: str, **handlers: Handler) -> Route:
    """One route for a resource path, its handler chosen by the method.

    One route per path rather than per method halves the routes a request
    is matched against; Starlette still answers 405 for a method not listed.
    """
    bound = {
        method: _bind(handler, resource_type) for method, handler in handlers.items()
    }

    async def endpoint(request: Request) -> Response:
        method = request.method
        return await bound["GET" if method == "HEAD" else method](request)

    endpoint.__name__ = f"{resource_type.lower()}_{path.rsplit('/', 1)[-1]}"
    return Route(path, endpoint, methods=list(handlers))


def _bind(handler: Handler, resource_type: str) -> Handler:
    async def endpoint(request: Request) -> Response:
        request.scope["scim_resource"] = resource_type
        check_accept(request)
        return await handler(request)

    endpoint.__name__ = f"{handler.__name__}_{resource_type.lower()}"
    return endpoint


def _not_implemented(context: GatewayContext, feature: str) -> Handler:
    # RFC 7644 §3.7 and §3.11: an unsupported endpoint answers 501, to
    # authenticated clients like every other endpoint.
    async def endpoint(request: Request) -> Response:
        await context.authenticate_request(request)
        raise NotImplementedFeature(f"{feature} are not supported by this gateway")

    return endpoint


async def _healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


def _readyz(context: GatewayContext) -> Handler:
    async def readyz(request: Request) -> Response:
        try:
            await context.ensure_open()
            await context.backend.ping()
        except (BackendError, ScimError):
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ready"})

    return readyz


async def _scim_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ScimError)
    if exc.scim_type:
        note(scim_type=exc.scim_type)
    return error_response(exc)


async def _http_error_handler(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        error: ScimError = MethodNotAllowed(
            f"{request.method} is not allowed on this path"
        )
    elif exc.status_code == 404:
        error = NotFound(f"no SCIM endpoint at {request.url.path}")
    else:
        error = InvalidSyntax(str(exc.detail))
    return error_response(error)


class CatchAllMiddleware:
    """Turns anything unexpected into a SCIM 500 that names the request id.

    It also drops a trailing slash from the path, so `/Users/` is `/Users`
    rather than a redirect that PATCH and POST clients would not follow, and
    answers 404 for a path holding U+0000 (`/Users/%00`): no id or tenant
    holds one, and PostgreSQL refuses it, so it must reach no backend.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if len(path) > 1 and path.endswith("/"):
            scope = {**scope, "path": path.rstrip("/") or "/"}
        if "\x00" in path:
            refused = NotFound("the path holds U+0000, which names nothing here")
            await error_response(refused)(scope, receive, send)
            return

        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except ClientDisconnect:
            # Nobody is left to answer; this is the client's doing, not a bug.
            logger.info("client_disconnected")
            note(status="499")
            return
        except Exception:
            rid = request_id.get()
            logger.exception("internal_error")
            if started:
                raise
            response = error_response(InternalError(rid))
            await response(scope, receive, send)
