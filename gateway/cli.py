"""The command line: `scim-gateway serve`, `token …` and `invitations …`."""

from __future__ import annotations

import argparse
import asyncio
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from scim_gateway import __version__
from scim_gateway.auth import DEFAULT_TENANT, generate_token, hash_token
from scim_gateway.backends import backend_from_url
from scim_gateway.backends.base import Backend
from scim_gateway.backends.credentials import CredentialStore
from scim_gateway.backends.errors import BackendError
from scim_gateway.cli_invitations import add_invitation_commands
from scim_gateway.config import ENV_PREFIX, Settings
from scim_gateway.tenants import check_tenant_id

__all__ = ["main"]

T = TypeVar("T")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        settings = Settings.from_env(overrides=_overrides(args))
    except (TypeError, ValueError) as exc:
        print(f"scim-gateway: {exc}", file=sys.stderr)
        return 2
    command: Callable[[argparse.Namespace, Settings], int] = args.run
    path = settings.database_path
    if path is not None:
        # The default database lives in ./var/, which a fresh clone lacks.
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return command(args, settings)
    except CommandError as exc:
        print(f"scim-gateway: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:
        print(f"scim-gateway: {exc}", file=sys.stderr)
        return 2


class CommandError(Exception):
    """A failure the operator can fix; printed as one line, no traceback."""


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port from 1 to 65535")
    return int(text)


def _pool_size(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number from 1")
    return int(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scim-gateway",
        description="A SCIM 2.0 service provider for Entra ID, Okta and friends.",
        epilog=f"Every option can also be set as an environment variable {ENV_PREFIX}*",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    commands = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = commands.add_parser(
        "serve",
        help="serve the SCIM API",
        description="Serve the SCIM API until interrupted. Without a token, the first "
        "start makes one, stores its hash and prints it once.",
    )
    _add_database(serve)
    serve.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=_port, help="port to listen on (default 8000)")
    serve.add_argument(
        "--token",
        help="a fixed bearer token instead of the stored ones (env SCIM_GATEWAY_TOKEN)",
    )
    serve.add_argument("--base-path", help="path of the SCIM API (default /scim/v2)")
    serve.add_argument(
        "--public-url",
        help="the SCIM base URL as clients see it behind a proxy, for meta.location",
    )
    serve.add_argument(
        "--forwarded-allow-ips",
        help="comma-separated proxy addresses or networks (or *) whose Forwarded "
        "and X-Forwarded-* headers count",
    )
    serve.add_argument(
        "--tenant-in-path",
        action="store_const",
        const=True,
        help="also serve each tenant at <base path>/<tenant>/ (its token still needed)",
    )
    serve.add_argument(
        "--pool-size",
        type=_pool_size,
        help="most connections to a PostgreSQL database per process (default 10)",
    )
    serve.add_argument(
        "--log-level",
        type=str.upper,
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        help="how much to log (default INFO)",
    )
    serve.add_argument(
        "--log-format", choices=["text", "json"], help="text (default) or json lines"
    )
    serve.add_argument(
        "--invitation-deliverer",
        help="how invitations are sent: log (default), smtp, webhook or a plugin",
    )
    serve.add_argument(
        "--organization", help="the organization's name, as invitations show it"
    )
    serve.add_argument(
        "--accept-url",
        help="the public URL of the accept page that invitation links open",
    )
    serve.set_defaults(run=_serve)
    _add_tenant_commands(commands)

    token = commands.add_parser("token", help="manage bearer tokens")
    token.set_defaults(run=_help_of(token))
    token_commands = token.add_subparsers(title="token commands", metavar="ACTION")
    for name, run, text in (
        ("issue", _token_issue, "print a new token; existing tokens stay valid"),
        ("rotate", _token_rotate, "print a new token and revoke the tenant's others"),
        ("list", _token_list, "list active tokens by id (never the tokens)"),
    ):
        action = token_commands.add_parser(
            name, help=text, description=text.capitalize()
        )
        _add_database(action)
        action.add_argument(
            "--tenant", default=DEFAULT_TENANT, help="tenant id (default: default)"
        )
        action.set_defaults(run=run)
    revoke = token_commands.add_parser(
        "revoke", help="revoke one token by its id", description="Revoke one token."
    )
    _add_database(revoke)
    revoke.add_argument("token_id", help="the id shown by `token list`")
    revoke.add_argument(
        "--tenant", help="revoke only if the token is this tenant's (a safety check)"
    )
    revoke.set_defaults(run=_token_revoke)

    add_invitation_commands(commands, _add_database)
    return parser


def _help_of(
    parser: argparse.ArgumentParser,
) -> Callable[[argparse.Namespace, Settings], int]:
    def show(args: argparse.Namespace, settings: Settings) -> int:
        parser.print_help()
        return 2

    return show


def _add_database(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database",
        help="SQLite path or sqlite:/// URL, postgresql:// URL, or memory "
        "(default var/scim-gateway.sqlite3)",
    )


def _overrides(args: argparse.Namespace) -> dict[str, object]:
    names = (
        "host",
        "port",
        "database",
        "token",
        "base_path",
        "public_url",
        "forwarded_allow_ips",
        "tenant_in_path",
        "pool_size",
        "log_level",
        "log_format",
        "invitation_deliverer",
        "organization",
        "accept_url",
    )
    return {name: getattr(args, name, None) for name in names}


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from scim_gateway.app import create_app
    from scim_gateway.logs import configure_logging

    configure_logging(settings.log_level, as_json=settings.log_format == "json")
    backend = _backend(settings)
    _check_port_free(settings.host, settings.port)
    if settings.database != "memory":
        # Open once before serving: migrations run, and a database that cannot
        # be reached is one clear line here rather than a failed start-up.
        token = _with_store(
            backend, _first_token if settings.token is None else _nothing
        )
        if token is not None:
            print(
                "A secret token was made for this gateway; it is shown only this once:"
            )
            print(f"Secret token:  {token}")
    elif settings.token is None:
        settings = replace(settings, token=generate_token())
        print(f"Secret token (memory backend, valid until exit): {settings.token}")

    print(f"scim-gateway {__version__}")
    print(f"Backend:       {backend.name} ({_describe(settings)})")
    print(f"SCIM base URL: {_public_base(settings)}")
    if settings.tenant_in_path:
        print(f"Tenant URLs:   {_public_base(settings)}/<tenant>")
    print(f"Invitations:   {settings.invitation_deliverer}", flush=True)
    try:
        app = create_app(settings=settings, backend=_backend(settings))
    except (ValueError, LookupError) as exc:
        print(f"scim-gateway: {exc}", file=sys.stderr)
        return 2
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
    )
    return 0


def _describe(settings: Settings) -> str:
    path = settings.database_path
    if path is not None:
        return str(path)
    if settings.database == "memory":
        return "nothing is kept after exit"
    return settings.database.split("@")[-1]


def _public_base(settings: Settings) -> str:
    if settings.public_url:
        return settings.public_url
    host = f"[{settings.host}]" if ":" in settings.host else settings.host
    return f"http://{host}:{settings.port}{settings.base_path}"


async def _first_token(store: CredentialStore) -> str | None:
    """A new token for the default tenant on the very first start, else None.

    Only a store with no tenant yet gets one: a tenant whose tokens were all
    revoked stays locked out until a token is issued on purpose.
    """
    if await store.list_tenants():
        return None
    token = generate_token()
    await store.add_token(DEFAULT_TENANT, hash_token(token), label="first start")
    return token


async def _nothing(store: CredentialStore) -> None:
    return None


def _backend(settings: Settings) -> Backend:
    try:
        return backend_from_url(settings.database, pool_size=settings.pool_size)
    except ValueError as exc:
        raise CommandError(str(exc)) from None


def _token_store(settings: Settings, *, create: bool) -> Backend:
    """The database token commands work on; it must be one that keeps them."""
    if settings.database == "memory":
        raise CommandError("the memory backend keeps no tokens; name a --database")
    path = settings.database_path
    if not create and path is not None and not path.exists():
        raise CommandError(f"no database at {path}")
    return _backend(settings)


def _check_port_free(host: str, port: int) -> None:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port}: {exc.strerror}"
            ) from None


def _with_store(
    backend: Backend, action: Callable[[CredentialStore], Awaitable[T]]
) -> T:
    if not isinstance(backend, CredentialStore):
        raise CommandError(f"the {backend.name} backend stores no tokens")
    store = backend

    async def run() -> T:
        await backend.open()
        try:
            return await action(store)
        finally:
            await backend.close()

    try:
        return asyncio.run(run())
    except BackendError as exc:
        raise CommandError(f"the database failed: {exc}") from None
    except (OSError, ValueError) as exc:
        raise CommandError(f"cannot open the database: {exc}") from None
    except Exception as exc:
        # A driver's own error (such as a database that does not exist):
        # the operator needs its message, not its traceback.
        raise CommandError(f"cannot open the database: {exc}") from None


def _token_issue(args: argparse.Namespace, settings: Settings) -> int:
    check_tenant_id(args.tenant)
    token = generate_token()

    async def issue(store: CredentialStore) -> None:
        await store.add_token(args.tenant, hash_token(token), label="issued")

    _with_store(_token_store(settings, create=True), issue)
    print(token)
    return 0


def _token_rotate(args: argparse.Namespace, settings: Settings) -> int:
    check_tenant_id(args.tenant)
    token = generate_token()

    async def rotate(store: CredentialStore) -> None:
        old = await store.list_tokens(args.tenant)
        await store.add_token(args.tenant, hash_token(token), label="rotated")
        for record in old:
            await store.revoke_token(record.id)

    _with_store(_token_store(settings, create=True), rotate)
    print(token)
    return 0


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    async def listing(store: CredentialStore) -> None:
        for record in await store.list_tokens(args.tenant):
            created = record.created.isoformat(timespec="seconds")
            print(f"{record.id}\t{record.tenant}\t{created}\t{record.label}")

    _with_store(_token_store(settings, create=False), listing)
    return 0


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def revoke(store: CredentialStore) -> bool:
        if args.tenant is not None:
            owned = {record.id for record in await store.list_tokens(args.tenant)}
            if args.token_id not in owned:
                return False
        return await store.revoke_token(args.token_id)

    if not _with_store(_token_store(settings, create=False), revoke):
        owner = f" of tenant {args.tenant}" if args.tenant is not None else ""
        print(
            f"scim-gateway: no active token{owner} with id {args.token_id}",
            file=sys.stderr,
        )
        return 1
    print(f"revoked {args.token_id}")
    return 0


def _add_tenant_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    tenants = commands.add_parser("tenants", help="manage tenants")
    actions = tenants.add_subparsers(title="tenants commands", metavar="ACTION")
    create = actions.add_parser(
        "create", help="create a tenant", description="Create a tenant."
    )
    create.add_argument("tenant", help="the new tenant's id, such as acme")
    create.set_defaults(run=_tenants_create)
    listing = actions.add_parser(
        "list", help="list tenants and their active tokens", description="List tenants."
    )
    listing.set_defaults(run=_tenants_list)
    delete = actions.add_parser(
        "delete",
        help="delete a tenant with its users, groups and tokens",
        description="Delete a tenant with its users, groups and tokens.",
    )
    delete.add_argument("tenant", help="the tenant's id")
    delete.add_argument(
        "--yes", action="store_true", help="confirm that its data goes for good"
    )
    delete.set_defaults(run=_tenants_delete)
    for action in (create, listing, delete):
        _add_database(action)


def _tenants_create(args: argparse.Namespace, settings: Settings) -> int:
    tenant = check_tenant_id(args.tenant)

    async def create(store: CredentialStore) -> bool:
        return await store.create_tenant(tenant)

    if not _with_store(backend_from_url(settings.database), create):
        print(f"scim-gateway: tenant {tenant} exists already", file=sys.stderr)
        return 1
    print(f"created tenant {tenant}")
    print(f"issue its token with: scim-gateway token issue --tenant {tenant}")
    return 0


def _tenants_list(args: argparse.Namespace, settings: Settings) -> int:
    async def listing(store: CredentialStore) -> None:
        tokens = await store.list_tokens()
        for tenant in await store.list_tenants():
            count = sum(1 for record in tokens if record.tenant == tenant)
            print(f"{tenant}\t{count} active token{'' if count == 1 else 's'}")

    _with_store(backend_from_url(settings.database), listing)
    return 0


def _tenants_delete(args: argparse.Namespace, settings: Settings) -> int:
    if not args.yes:
        print(
            f"scim-gateway: deleting tenant {args.tenant} removes its users, groups "
            "and tokens for good; add --yes to do it",
            file=sys.stderr,
        )
        return 2

    async def delete(store: CredentialStore) -> bool:
        return await store.delete_tenant(args.tenant)

    if not _with_store(backend_from_url(settings.database), delete):
        print(f"scim-gateway: no tenant {args.tenant}", file=sys.stderr)
        return 1
    print(f"deleted tenant {args.tenant}")
    return 0
