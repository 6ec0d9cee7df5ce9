"""The command line: `scim-gateway serve`, `token …` and `tenants …`."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TextIO, TypeVar

from scim_gateway import __version__
from scim_gateway.auth import DEFAULT_TENANT, generate_token, hash_token
from scim_gateway.backends import backend_from_url
from scim_gateway.backends.base import Backend
from scim_gateway.backends.credentials import CredentialStore
from scim_gateway.backends.errors import BackendError
from scim_gateway.config import ENV_PREFIX, Settings

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
    try:
        return command(args, settings)
    except BackendError as exc:
        print(f"scim-gateway: the database failed: {exc}", file=sys.stderr)
        return 1


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
    serve.add_argument("--port", type=int, help="port to listen on (default 8000)")
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
        "--trusted-proxies",
        help="comma-separated addresses of reverse proxies whose X-Forwarded-For "
        "names the client (default: none; the connecting address is the client)",
    )
    serve.add_argument("--log-level", help="DEBUG, INFO (default), WARNING or ERROR")
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="manage bearer tokens")
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
    revoke.set_defaults(run=_token_revoke)
    return parser


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
        "trusted_proxies",
        "log_level",
    )
    return {name: getattr(args, name, None) for name in names}


def _serve(args: argparse.Namespace, settings: Settings) -> int:
    import uvicorn

    from scim_gateway.app import create_app
    from scim_gateway.logs import configure_logging

    configure_logging(settings.log_level)
    backend = backend_from_url(settings.database)
    if settings.token is None and settings.database != "memory":
        _print_first_token(backend, sys.stdout)
    elif settings.token is None:
        settings = replace(settings, token=generate_token())
        print(f"Secret token (memory backend, valid until exit): {settings.token}")

    print(f"scim-gateway {__version__}")
    print(f"Backend:       {backend.name} ({_describe(settings)})")
    print(f"SCIM base URL: {_public_base(settings)}", flush=True)
    app = create_app(settings=settings, backend=backend_from_url(settings.database))
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        access_log=False,
        # Failed logins are throttled per client address, so the forwarding
        # headers that name it are believed only from proxies the operator lists.
        proxy_headers=settings.trusted_proxies is not None,
        forwarded_allow_ips=settings.trusted_proxies,
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


def _print_first_token(backend: Backend, out: TextIO) -> None:
    async def ensure_token(store: CredentialStore) -> str | None:
        if await store.list_tokens(DEFAULT_TENANT):
            return None
        token = generate_token()
        await store.add_token(DEFAULT_TENANT, hash_token(token), label="first start")
        return token

    token = _with_store(backend, ensure_token)
    if token is not None:
        print(
            "A secret token was made for this gateway; it is shown only this once:",
            file=out,
        )
        print(f"Secret token:  {token}", file=out)


def _with_store(
    backend: Backend, action: Callable[[CredentialStore], Awaitable[T]]
) -> T:
    if not isinstance(backend, CredentialStore):
        raise SystemExit(f"scim-gateway: the {backend.name} backend stores no tokens")
    store = backend

    async def run() -> T:
        await backend.open()
        try:
            return await action(store)
        finally:
            await backend.close()

    return asyncio.run(run())


def _token_issue(args: argparse.Namespace, settings: Settings) -> int:
    token = generate_token()

    async def issue(store: CredentialStore) -> None:
        await store.add_token(args.tenant, hash_token(token), label="issued")

    _with_store(backend_from_url(settings.database), issue)
    print(token)
    return 0


def _token_rotate(args: argparse.Namespace, settings: Settings) -> int:
    token = generate_token()

    async def rotate(store: CredentialStore) -> None:
        old = await store.list_tokens(args.tenant)
        await store.add_token(args.tenant, hash_token(token), label="rotated")
        for record in old:
            await store.revoke_token(record.id)

    _with_store(backend_from_url(settings.database), rotate)
    print(token)
    return 0


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    async def listing(store: CredentialStore) -> None:
        for record in await store.list_tokens(args.tenant):
            created = record.created.isoformat(timespec="seconds")
            print(f"{record.id}\t{record.tenant}\t{created}\t{record.label}")

    _with_store(backend_from_url(settings.database), listing)
    return 0


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    async def revoke(store: CredentialStore) -> bool:
        return await store.revoke_token(args.token_id)

    if not _with_store(backend_from_url(settings.database), revoke):
        print(f"scim-gateway: no active token with id {args.token_id}", file=sys.stderr)
        return 1
    print(f"revoked {args.token_id}")
    return 0
