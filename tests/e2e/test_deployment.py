"""Behind a reverse proxy, as docs/deployment.md configures one.

The nginx and Caddy configurations of the page are read, and the requests they
would pass on (path, headers) are sent to the gateway from the proxy's
address; tests/e2e/test_real_proxies.py runs the same through the real ones.
"""

from __future__ import annotations

import json
import logging
import re
import shlex
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from starlette.applications import Starlette

from scim_gateway import MemoryBackend, PostgresBackend, Settings, create_app
from scim_gateway.cli import _parser
from scim_gateway.logs import ContextFilter, JsonFormatter
from tests.docs import code_blocks

TOKEN = "deploy-token-0123456789"
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann"}
PROXY = ("127.0.0.1", 50000)
CLIENT = "203.0.113.9"

# What nginx puts in its variables for a request from CLIENT to id.example.com.
NGINX_VARIABLES = {
    "$scheme": "https",
    "$host": "id.example.com",
    "$proxy_add_x_forwarded_for": CLIENT,
    "$request_id": "f1e2d3c4b5a6",
}


def gateway(
    *, forwarded_allow_ips: str | None = None, public_url: str | None = None
) -> Starlette:
    settings = Settings(
        database="memory",
        forwarded_allow_ips=forwarded_allow_ips,
        public_url=public_url,
    )
    return create_app(
        settings=settings,
        backend=MemoryBackend(),
        tokens=TOKEN,
    )


@asynccontextmanager
async def client_from(
    app: Starlette, peer: tuple[str, int] = PROXY
) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app, client=peer),
        base_url="http://127.0.0.1:8000",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        yield client


def nginx_location(block: str) -> tuple[str, str, dict[str, str]]:
    """A `location` block's prefix, proxy_pass URI and the headers it sets."""
    prefix = re.search(r"location (\S+) \{", block)
    upstream = re.search(r"proxy_pass http://[^/;]+(/?[^;]*);", block)
    assert prefix is not None and upstream is not None
    headers = {}
    for name, value in re.findall(r"proxy_set_header (\S+) (\S+);", block):
        headers[name] = NGINX_VARIABLES.get(value, value)
    return prefix[1], upstream[1], headers


def nginx_path(location: str, uri: str, path: str) -> str:
    # nginx: a proxy_pass with a URI replaces the matched location prefix.
    return uri + path.removeprefix(location) if uri else path


class TestDocumentedProxies:
    async def test_nginx_at_the_root_gives_https_urls_of_the_public_host(self) -> None:
        location, uri, headers = nginx_location(
            code_blocks("deployment.md", "nginx")[0]
        )
        path = nginx_path(location, uri, "/scim/v2/Users")

        async with client_from(gateway(forwarded_allow_ips="127.0.0.1")) as http:
            created = await http.post(path, json=USER, headers=headers)

        assert created.headers["Location"] == (
            f"https://id.example.com/scim/v2/Users/{created.json()['id']}"
        )
        assert created.headers["X-Request-ID"] == "f1e2d3c4b5a6"

    async def test_nginx_under_a_prefix_gives_urls_with_the_prefix(self) -> None:
        location, uri, headers = nginx_location(
            code_blocks("deployment.md", "nginx")[1]
        )
        path = nginx_path(location, uri, "/identity/scim/v2/Users")

        async with client_from(gateway(forwarded_allow_ips="127.0.0.1")) as http:
            created = await http.post(path, json=USER, headers=headers)

        assert path == "/scim/v2/Users"
        assert created.json()["meta"]["location"] == (
            f"https://id.example.com/identity/scim/v2/Users/{created.json()['id']}"
        )

    async def test_caddy_under_a_prefix_gives_urls_with_the_prefix(self) -> None:
        block = code_blocks("deployment.md", "caddy")[1]
        prefix = re.search(r"handle_path (\S+)/\*", block)
        header_up = dict(re.findall(r"header_up (\S+) (\S+)", block))
        assert prefix is not None
        # Caddy's reverse_proxy sends these on its own.
        headers = {
            "X-Forwarded-For": CLIENT,
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "id.example.com",
            **header_up,
        }

        async with client_from(gateway(forwarded_allow_ips="127.0.0.1")) as http:
            created = await http.post("/scim/v2/Users", json=USER, headers=headers)

        assert created.headers["Location"] == (
            f"https://id.example.com{prefix[1]}/scim/v2/Users/{created.json()['id']}"
        )

    def test_every_documented_command_line_parses(self) -> None:
        lines = [
            line
            for block in code_blocks("deployment.md", "sh")
            for line in block.replace("\\\n", " ").splitlines()
            if line.startswith("scim-gateway ")
        ]

        for line in lines:
            _parser().parse_args(shlex.split(line, comments=True)[1:])
        assert len(lines) >= 8

    def test_documented_json_line_has_the_members_the_formatter_writes(self) -> None:
        (documented,) = code_blocks("deployment.md", "json")
        record = logging.LogRecord(
            "scim_gateway.access",
            logging.INFO,
            __file__,
            1,
            "request method=%s status=%s",
            ("POST", 201),
            None,
        )
        ContextFilter().filter(record)

        written = json.loads(JsonFormatter().format(record))

        assert set(written) <= set(json.loads(documented))
        assert written["method"] == "POST" and written["status"] == "201"


class TestTrust:
    @pytest.mark.parametrize("allowed", [None, "10.0.0.0/8"])
    async def test_headers_from_an_untrusted_peer_change_nothing(
        self, allowed: str | None
    ) -> None:
        spoofed = {
            "X-Forwarded-Proto": "https",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Prefix": "/phish",
            "Forwarded": "proto=https;host=evil.example",
        }

        async with client_from(gateway(forwarded_allow_ips=allowed)) as http:
            created = await http.post("/scim/v2/Users", json=USER, headers=spoofed)

        assert created.headers["Location"] == (
            f"http://127.0.0.1:8000/scim/v2/Users/{created.json()['id']}"
        )

    async def test_rfc_7239_forwarded_from_a_trusted_peer_counts(self) -> None:
        forwarded = f'for={CLIENT};proto=https;host="id.example.com:8443"'

        async with client_from(gateway(forwarded_allow_ips="127.0.0.0/8")) as http:
            config = await http.get(
                "/scim/v2/ServiceProviderConfig", headers={"Forwarded": forwarded}
            )

        assert config.json()["meta"]["location"] == (
            "https://id.example.com:8443/scim/v2/ServiceProviderConfig"
        )

    async def test_public_url_wins_over_the_proxy_headers(self) -> None:
        app = gateway(forwarded_allow_ips="*", public_url="https://scim.example.org/v2")

        async with client_from(app) as http:
            created = await http.post(
                "/scim/v2/Users", json=USER, headers={"X-Forwarded-Host": "other"}
            )

        assert created.headers["Location"].startswith(
            "https://scim.example.org/v2/Users/"
        )

    async def test_failed_logins_name_the_client_the_proxy_reports(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        caplog.set_level(logging.WARNING, logger="scim_gateway")

        async with client_from(gateway(forwarded_allow_ips="127.0.0.1")) as http:
            await http.get(
                "/scim/v2/Users",
                headers={"Authorization": "Bearer wrong", "X-Forwarded-For": CLIENT},
            )

        assert [r.getMessage() for r in caplog.records] == [
            f"auth_failed reason=unknown_token source={CLIENT}"
        ]

    def test_a_malformed_allow_list_is_refused_at_once(self) -> None:
        with pytest.raises(ValueError, match="'proxy' is no IP address"):
            Settings(forwarded_allow_ips="127.0.0.1, proxy")


class TestHealth:
    async def test_health_and_readiness_need_no_token_and_sit_outside_the_base(
        self,
    ) -> None:
        async with client_from(gateway()) as http:
            health = await http.get("/healthz", headers={"Authorization": ""})
            ready = await http.get("/readyz", headers={"Authorization": ""})

        assert (health.status_code, health.json()) == (200, {"status": "ok"})
        assert (ready.status_code, ready.json()) == (200, {"status": "ready"})

    async def test_readiness_fails_while_the_database_is_unreachable(self) -> None:
        backend = PostgresBackend(
            "postgresql://postgres@127.0.0.1:1/nothing", connect_timeout=1
        )
        app = create_app(settings=Settings(), backend=backend, tokens=TOKEN)

        async with client_from(app) as http:
            health = await http.get("/healthz")
            ready = await http.get("/readyz")

        assert health.status_code == 200
        assert (ready.status_code, ready.json()) == (503, {"status": "unavailable"})
