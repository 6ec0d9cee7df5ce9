"""The invitation surfaces under hostile input: the accept page and the admin API.

The accept page answers people, in HTML; the admin API answers SCIM error
documents. Neither may answer a 500 or show a trace, whatever arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import quote

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.applications import Starlette

from scim_gateway.app import create_app
from scim_gateway.backends.base import Backend
from scim_gateway.config import Settings
from tests.conftest import TOKEN
from tests.security import strategies as s
from tests.security.answers import LEAK_MARKERS, check_answer

ADMIN_TOKEN = "admin-token-for-fuzzing-0123"
ADMIN = "/admin/tenants/default/invitations"


@pytest.fixture
def invitations_app(backend: Backend) -> Starlette:
    settings = Settings(database="memory", admin_token=ADMIN_TOKEN)
    return create_app(settings=settings, backend=backend, tokens=TOKEN)


@pytest.fixture
async def web(invitations_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=invitations_app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
    ) as http:
        yield http


def check_page(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    for marker in LEAK_MARKERS:
        assert marker not in response.text


@given(token=s.TEXT, raw=s.raw_bodies, content_type=s.content_types)
async def test_the_accept_page_answers_any_link_and_any_form(
    web: httpx.AsyncClient, token: str, raw: bytes, content_type: str
) -> None:
    shown = await web.get("/invitations/accept", params={"token": token})
    posted = await web.post(
        "/invitations/accept", content=raw, headers={"Content-Type": content_type}
    )

    check_page(shown)
    check_page(posted)
    assert shown.headers["content-type"].startswith("text/html")


@given(
    user_id=s.TEXT.filter(bool),
    action=st.sampled_from(["", "/confirm", "/resend", "/revoke"]),
    states=st.lists(st.one_of(s.TEXT, st.sampled_from(["invited", "all"])), max_size=3),
)
async def test_the_admin_api_answers_any_id_and_state_with_a_scim_answer(
    web: httpx.AsyncClient, user_id: str, action: str, states: list[str]
) -> None:
    listed = await web.get(ADMIN, params=[("state", state) for state in states])
    method = "GET" if action == "" else "POST"
    one = await web.request(method, f"{ADMIN}/{quote(user_id, safe='')}{action}")

    check_answer(listed, success_type="application/json")
    check_answer(one, success_type="application/json")
