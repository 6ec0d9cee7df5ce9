"""Failed authentication is throttled per client address; success never is."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable

import httpx
import pytest
from starlette.applications import Starlette

from scim_gateway.app import create_app
from scim_gateway.config import Settings
from scim_gateway.throttle import FailedAuthThrottle
from tests.conftest import TOKEN
from tests.security.answers import check_answer

ATTACKER = "198.51.100.66"
NEIGHBOUR = "198.51.100.7"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


ADMIN_TOKEN = "admin-token-for-throttle-tests"


@pytest.fixture
def throttled_app(clock: Clock) -> Starlette:
    app = create_app(
        settings=Settings(
            database="memory", auth_failure_limit=3, admin_token=ADMIN_TOKEN
        ),
        tokens=TOKEN,
    )
    app.state.gateway.throttle = FailedAuthThrottle(limit=3, window=60, clock=clock)
    return app


Connect = Callable[[str, str | None], httpx.AsyncClient]


@pytest.fixture
async def connect(throttled_app: Starlette) -> AsyncIterator[Connect]:
    """Clients from a given address, with a given token (None: no header)."""
    opened: list[httpx.AsyncClient] = []

    def from_address(address: str, token: str | None) -> httpx.AsyncClient:
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=throttled_app, client=(address, 40000)),
            base_url="http://testserver/scim/v2",
            headers=headers,
        )
        opened.append(http)
        return http

    yield from_address
    for http in opened:
        await http.aclose()


async def fail(connect: Connect, address: str, times: int) -> list[int]:
    bad = connect(address, "not-the-token")
    return [(await bad.get("/Users")).status_code for _ in range(times)]


async def test_failures_past_the_limit_get_429_with_retry_after(
    connect: Connect,
) -> None:
    statuses = await fail(connect, ATTACKER, 3)

    response = await connect(ATTACKER, "not-the-token").get("/Users")

    document = check_answer(response)
    assert statuses == [401, 401, 401]
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "60"
    assert document is not None
    assert document["detail"] == (
        "too many failed authentications from this address; retry in 60 seconds"
    )


async def test_a_throttled_address_is_refused_even_with_a_good_token(
    connect: Connect,
) -> None:
    """The token is not even checked, so guessing gains nothing while blocked."""
    await fail(connect, ATTACKER, 3)

    response = await connect(ATTACKER, TOKEN).get("/Users")

    assert response.status_code == 429


async def test_other_addresses_are_not_affected(connect: Connect) -> None:
    await fail(connect, ATTACKER, 10)

    good = await connect(NEIGHBOUR, TOKEN).get("/Users")
    bad = await connect(NEIGHBOUR, "not-the-token").get("/Users")

    assert good.status_code == 200
    assert bad.status_code == 401


async def test_a_missing_token_counts_as_a_failure(connect: Connect) -> None:
    anonymous = connect(ATTACKER, None)

    statuses = [(await anonymous.get("/Users")).status_code for _ in range(4)]

    assert statuses == [401, 401, 401, 429]


async def test_admin_and_scim_failures_share_one_count(
    connect: Connect, throttled_app: Starlette
) -> None:
    admin = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=throttled_app, client=(ATTACKER, 40000)),
        base_url="http://testserver/admin/tenants/default/invitations",
    )
    async with admin:
        wrong = {"Authorization": "Bearer not-the-admin-token"}
        statuses = [(await admin.get("", headers=wrong)).status_code for _ in range(2)]
        await fail(connect, ATTACKER, 1)

        refused = await admin.get(
            "", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )

    assert statuses == [401, 401]
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"


async def test_the_address_may_try_again_when_the_window_ends(
    connect: Connect, clock: Clock
) -> None:
    await fail(connect, ATTACKER, 4)
    clock.now += 45
    waiting = await connect(ATTACKER, TOKEN).get("/Users")
    clock.now += 15

    response = await connect(ATTACKER, TOKEN).get("/Users")

    assert waiting.headers["Retry-After"] == "15"
    assert response.status_code == 200


async def test_successes_are_neither_counted_nor_refused(
    connect: Connect, throttled_app: Starlette
) -> None:
    """Entra's steady traffic with a valid token never meets the throttle."""
    entra = connect(ATTACKER, TOKEN)

    statuses = {(await entra.get("/Users")).status_code for _ in range(200)}
    after = await fail(connect, ATTACKER, 3)

    assert statuses == {200}
    assert after == [401, 401, 401]


async def test_no_counting_happens_for_successful_requests(
    connect: Connect, throttled_app: Starlette
) -> None:
    entra = connect(ATTACKER, TOKEN)

    for _ in range(50):
        await entra.post("/Users", json={"userName": f"u{_}"})

    assert len(throttled_app.state.gateway.throttle) == 0


async def test_reaching_the_limit_is_logged_once_with_the_address_only(
    connect: Connect, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)

    await fail(connect, ATTACKER, 6)

    throttled = [r.getMessage() for r in caplog.records if "auth_throttled" in r.msg]
    assert throttled == [f"auth_throttled source={ATTACKER} failures=3 window_s=60"]
    assert all("not-the-token" not in r.getMessage() for r in caplog.records)


async def test_the_limit_comes_from_the_settings() -> None:
    app = create_app(
        settings=Settings(
            database="memory", auth_failure_limit=7, auth_failure_window=30
        ),
        tokens=TOKEN,
    )

    throttle = app.state.gateway.throttle

    assert (throttle.limit, throttle.window) == (7, 30)


async def test_a_limit_of_zero_turns_the_throttle_off() -> None:
    app = create_app(
        settings=Settings(database="memory", auth_failure_limit=0), tokens=TOKEN
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver/scim/v2"
    ) as anonymous:
        statuses = {(await anonymous.get("/Users")).status_code for _ in range(30)}

    assert statuses == {401}
