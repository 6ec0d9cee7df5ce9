"""The nginx and Caddy configurations of docs/deployment.md, run for real.

Each proxy listens on loopback with a throwaway certificate (nginx) or its own
local CA (Caddy, which then never asks a public CA); a real `scim-gateway
serve` stands behind it. Skipped where the proxy is not installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.docs import code_blocks
from tests.e2e.server import Server, free_port

TOKEN = "real-proxy-token-0123456789"
USER = {"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": "ann"}


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Server]:
    server = Server(
        [
            "--database",
            "memory",
            "--token",
            TOKEN,
            "--forwarded-allow-ips",
            "127.0.0.1",
        ],
        cwd=tmp_path,
    )
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


class Proxy:
    """A proxy process started from a configuration file; stopped by its pid."""

    def __init__(self, command: list[str], *, cwd: Path, port: int) -> None:
        self.log = (cwd / f"proxy-{port}.log").open("w")
        self.port = port
        self.process = subprocess.Popen(
            command,
            cwd=cwd,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "XDG_DATA_HOME": str(cwd), "XDG_CONFIG_HOME": str(cwd)},
        )

    def wait_listening(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"proxy exited: {Path(self.log.name).read_text()}")
            try:
                httpx.get(f"https://127.0.0.1:{self.port}/", verify=False, timeout=1)
                return
            except httpx.TransportError:
                try:
                    httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1)
                    return
                except httpx.TransportError:
                    time.sleep(0.1)
        raise RuntimeError(f"proxy did not listen: {Path(self.log.name).read_text()}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def needs(program: str) -> str:
    path = shutil.which(program)
    if path is None:
        pytest.skip(f"{program} is not installed")
    return path


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "id.pem", directory / "id.key"
    subprocess.run(
        [
            needs("openssl"),
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=id.example.com",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_config(tmp_path: Path, server_block: str) -> Path:
    temp = tmp_path / "nginx-temp"
    temp.mkdir(exist_ok=True)
    config = tmp_path / "nginx.conf"
    config.write_text(
        f"""
        daemon off;
        master_process off;
        pid {tmp_path}/nginx.pid;
        error_log {tmp_path}/nginx-error.log;
        events {{}}
        http {{
            access_log off;
            client_body_temp_path {temp}/body;
            proxy_temp_path {temp}/proxy;
            fastcgi_temp_path {temp}/fastcgi;
            uwsgi_temp_path {temp}/uwsgi;
            scgi_temp_path {temp}/scgi;
            {server_block}
        }}
        """
    )
    return config


def start_nginx(tmp_path: Path, server_block: str, port: int) -> Proxy:
    config = nginx_config(tmp_path, server_block)
    proxy = Proxy(
        [needs("nginx"), "-p", str(tmp_path), "-c", str(config)],
        cwd=tmp_path,
        port=port,
    )
    proxy.wait_listening()
    return proxy


def post_user(url: str, host: str) -> httpx.Response:
    return httpx.post(
        url,
        json=USER,
        headers={"Host": host, "Authorization": f"Bearer {TOKEN}"},
        verify=False,
        timeout=10,
    )


def test_nginx_terminating_tls_gives_https_urls(
    tmp_path: Path, gateway: Server
) -> None:
    cert, key = self_signed(tmp_path)
    port = free_port()
    block = (
        code_blocks("deployment.md", "nginx")[0]
        .replace("listen 443 ssl;", f"listen 127.0.0.1:{port} ssl;")
        .replace("/etc/ssl/id.example.com.pem", str(cert))
        .replace("/etc/ssl/id.example.com.key", str(key))
        .replace("127.0.0.1:8000", f"127.0.0.1:{gateway.port}")
    )
    proxy = start_nginx(tmp_path, block, port)
    try:
        created = post_user(f"https://127.0.0.1:{port}/scim/v2/Users", "id.example.com")
    finally:
        proxy.stop()

    assert created.status_code == 201, created.text
    assert created.headers["Location"] == (
        f"https://id.example.com/scim/v2/Users/{created.json()['id']}"
    )
    assert re.fullmatch(r"[0-9a-f]{32}", created.headers["X-Request-ID"])


def test_nginx_under_a_prefix_gives_urls_with_the_prefix(
    tmp_path: Path, gateway: Server
) -> None:
    port = free_port()
    location = code_blocks("deployment.md", "nginx")[1].replace(
        "127.0.0.1:8000", f"127.0.0.1:{gateway.port}"
    )
    block = (
        f"server {{ listen 127.0.0.1:{port}; server_name id.example.com; {location} }}"
    )
    proxy = start_nginx(tmp_path, block, port)
    try:
        created = post_user(
            f"http://127.0.0.1:{port}/identity/scim/v2/Users", "id.example.com"
        )
    finally:
        proxy.stop()

    assert created.status_code == 201, created.text
    assert created.json()["meta"]["location"] == (
        f"http://id.example.com/identity/scim/v2/Users/{created.json()['id']}"
    )


@pytest.mark.parametrize("index", [0, 1])
def test_caddy_configurations_give_https_urls(
    tmp_path: Path, gateway: Server, index: int
) -> None:
    port = free_port()
    site = (
        code_blocks("deployment.md", "caddy")[index]
        .replace("127.0.0.1:8000", f"127.0.0.1:{gateway.port}")
        .replace("id.example.com {", f"id.example.com:{port} {{\n    bind 127.0.0.1", 1)
    )
    # A local CA only: Caddy never asks a public one for a certificate.
    config = tmp_path / "Caddyfile"
    config.write_text(
        "{\n    admin off\n    local_certs\n    skip_install_trust\n"
        f"    auto_https disable_redirects\n    http_port {free_port()}\n"
        f"    storage file_system {tmp_path}/caddy\n}}\n{site}"
    )
    proxy = Proxy(
        [needs("caddy"), "run", "--config", str(config), "--adapter", "caddyfile"],
        cwd=tmp_path,
        port=port,
    )
    try:
        proxy.wait_listening()
        prefix = "/identity" if index else ""
        # To loopback, naming the site in SNI and Host: no name is looked up.
        with httpx.Client(verify=False, timeout=10) as client:
            _wait_for_certificate(client, port, prefix)
            created = client.post(
                f"https://127.0.0.1:{port}{prefix}/scim/v2/Users",
                json=USER,
                headers={
                    "Host": f"id.example.com:{port}",
                    "Authorization": f"Bearer {TOKEN}",
                },
                extensions={"sni_hostname": "id.example.com"},
            )
    finally:
        proxy.stop()

    assert created.status_code == 201, created.text
    assert created.headers["Location"] == (
        f"https://id.example.com:{port}{prefix}/scim/v2/Users/{created.json()['id']}"
    )


def _wait_for_certificate(client: httpx.Client, port: int, prefix: str) -> None:
    """Caddy listens before its local certificate is issued; until then TLS fails."""
    deadline = time.monotonic() + 20
    while True:
        try:
            client.get(
                f"https://127.0.0.1:{port}{prefix}/scim/v2/ServiceProviderConfig",
                headers={
                    "Host": f"id.example.com:{port}",
                    "Authorization": f"Bearer {TOKEN}",
                },
                extensions={"sni_hostname": "id.example.com"},
            )
            return
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
