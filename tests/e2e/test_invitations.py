"""Invitations with a real `scim-gateway serve`: the log link, the CLI, a SIGKILL."""

from __future__ import annotations

import json
import re
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.backends import postgres_database
from tests.e2e.server import Server, run_cli
from tests.unit.plugins.webhook_server import webhook_server

TOKEN = "e2e-scim-token-0123456789"
ADMIN_TOKEN = "e2e-admin-token-0123456789"
INVITATION = "urn:scim-gateway:schemas:extension:invitation:1.0:User"


@pytest.fixture
def database(tmp_path: Path) -> str:
    return str(tmp_path / "gateway.sqlite3")


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def start(
    servers: list[Server], tmp_path: Path, database: str, env: dict[str, str]
) -> Server:
    server = Server(
        ["--database", database, "--token", TOKEN],
        cwd=tmp_path,
        env={"SCIM_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN, **env},
    )
    servers.append(server)
    server.wait_ready()
    return server


def wait_until(condition: Callable[[], bool], *, within: float = 30.0) -> None:
    """Poll until `condition` holds (a guard against hanging, not a measurement)."""
    deadline = time.monotonic() + within
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def create_user(
    server: Server, user_name: str, *, http: httpx.Client | None = None
) -> str:
    post = http.post if http is not None else httpx.post
    response = post(
        f"{server.base}/scim/v2/Users",
        json={
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
            "userName": user_name,
            "emails": [{"value": user_name, "primary": True}],
        },
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert response.status_code == 201, response.text
    user_id: str = response.json()["id"]
    return user_id


def invitation(server: Server, user_id: str) -> dict[str, str]:
    response = httpx.get(
        f"{server.base}/scim/v2/Users/{user_id}",
        params={"attributes": INVITATION},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    state: dict[str, str] = response.json()[INVITATION]
    return state


def logged_link(server: Server, user_id: str) -> str | None:
    pattern = rf"invitation\.link tenant=default user_id={user_id} accept_url=(\S+)"
    match = re.search(pattern, server.output())
    return match[1] if match else None


def test_log_deliverer_shows_the_link_and_the_cli_confirms(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, database, {"SCIM_GATEWAY_LOG_LINKS": "true"})
    user_id = create_user(server, "ann@example.com")
    wait_until(lambda: logged_link(server, user_id) is not None)
    link = logged_link(server, user_id) or ""
    token = link.split("token=")[1]

    page = httpx.get(link)
    accepted = httpx.post(link.split("?")[0], data={"token": token})
    listed = run_cli("invitations", "list", "--database", database)
    confirmed = run_cli("invitations", "confirm", "--database", database, user_id)

    assert link.startswith(f"{server.base}/invitations/accept?token=")
    assert page.status_code == 200 and "Accept the invitation" in page.text
    assert accepted.status_code == 200
    assert listed.returncode == 0, listed.stderr
    assert re.match(
        rf"{user_id}\taccepted\tdelivered\t\S+\tann@example.com$", listed.stdout
    )
    assert (confirmed.returncode, confirmed.stdout) == (0, f"confirmed {user_id}\n")
    assert invitation(server, user_id)["state"] == "confirmed"
    wait_until(
        lambda: (
            f"invitation.confirmed tenant=default user_id={user_id}" in server.output()
        )
    )


def test_cli_resend_and_revoke_and_their_errors(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    server = start(servers, tmp_path, database, {})
    user_id = create_user(server, "bo@example.com")

    early = run_cli("invitations", "confirm", "--database", database, user_id)
    resent = run_cli("invitations", "resend", "--database", database, user_id)
    revoked = run_cli("invitations", "revoke", "--database", database, user_id)
    missing = run_cli("invitations", "revoke", "--database", database, "nobody")
    listed = run_cli(
        "invitations", "list", "--state", "revoked", "--database", database
    )

    assert early.returncode == 1
    assert "cannot confirm" in early.stderr
    assert (resent.returncode, resent.stdout) == (0, f"invited {user_id}\n")
    assert (revoked.returncode, revoked.stdout) == (0, f"revoked {user_id}\n")
    assert missing.returncode == 1 and "no invitation" in missing.stderr
    assert listed.stdout.startswith(f"{user_id}\trevoked\t")
    assert "accept_url=withheld" in server.output()
    assert "token=" not in server.output()


def test_gateway_killed_mid_delivery_delivers_after_restart(
    tmp_path: Path, database: str, servers: list[Server]
) -> None:
    hold = threading.Event()
    with webhook_server(hold=hold) as (receiver, url):
        env = {
            "SCIM_GATEWAY_INVITATION_DELIVERER": "webhook",
            "SCIM_GATEWAY_WEBHOOK_URL": url,
            "SCIM_GATEWAY_WEBHOOK_SECRET": "shared-secret",
            "SCIM_GATEWAY_DELIVERY_TIMEOUT_SECONDS": "1",
            "SCIM_GATEWAY_OUTBOX_POLL_SECONDS": "0.1",
        }
        first = start(servers, tmp_path, database, env)
        user_id = create_user(first, "cy@example.com")
        wait_until(lambda: len(receiver.requests) == 1)
        first.stop(signal.SIGKILL)
        hold.set()

        second = start(servers, tmp_path, database, env)
        wait_until(lambda: invitation(second, user_id)["deliveryStatus"] == "delivered")

    keys = {r.headers["Idempotency-Key"] for r in receiver.requests}
    bodies = [json.loads(r.body) for r in receiver.requests]
    assert len(receiver.requests) == 2
    assert len(keys) == 1
    assert [b["userId"] for b in bodies] == [user_id, user_id]
    assert [b["attempt"] for b in bodies] == [1, 2]


@pytest.mark.postgres
def test_two_gateways_on_one_postgres_deliver_each_invitation_once(
    tmp_path: Path, servers: list[Server]
) -> None:
    with postgres_database() as url, webhook_server() as (receiver, hook):
        env = {
            "SCIM_GATEWAY_INVITATION_DELIVERER": "webhook",
            "SCIM_GATEWAY_WEBHOOK_URL": hook,
            "SCIM_GATEWAY_WEBHOOK_SECRET": "shared-secret",
            "SCIM_GATEWAY_OUTBOX_POLL_SECONDS": "0.05",
        }
        gateways = [start(servers, tmp_path, url, env) for _ in range(2)]
        with httpx.Client() as http:
            user_ids = [
                create_user(gateways[n % 2], f"user{n:03}@example.com", http=http)
                for n in range(200)
            ]
        wait_until(lambda: len(receiver.requests) >= 200)
        for gateway in gateways:
            gateway.stop()

    keys = [r.headers["Idempotency-Key"] for r in receiver.requests]
    invited = [json.loads(r.body)["userId"] for r in receiver.requests]
    assert len(keys) == len(set(keys)) == 200
    assert sorted(invited) == sorted(user_ids)
    delivered_by = {
        n: sum(map(int, re.findall(r"outbox\.delivered count=(\d+)", gateway.output())))
        for n, gateway in enumerate(gateways)
    }
    assert sum(delivered_by.values()) == 200
