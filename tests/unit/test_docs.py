"""The examples in the README and docs run as written."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

ROOT = Path(__file__).resolve().parents[2]


def python_blocks(path: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", path.read_text(encoding="utf-8"), re.S)


async def test_readme_embedded_example_serves_scim_under_the_mount() -> None:
    (code,) = python_blocks(ROOT / "README.md")
    namespace: dict[str, object] = {}
    exec(compile(code, "README.md", "exec"), namespace)
    app = namespace["app"]
    assert isinstance(app, Starlette)

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://host"
    ) as client:
        created = await client.post(
            "/scim/v2/Users",
            json={"userName": "ann.lee@example.com"},
            headers={"Authorization": "Bearer token-of-acme"},
        )
        refused = await client.get(
            "/scim/v2/Users", headers={"Authorization": "Bearer other"}
        )

    assert created.status_code == 201
    assert created.headers["location"].startswith("http://host/scim/v2/Users/")
    assert refused.status_code == 401


@pytest.mark.parametrize("page", sorted((ROOT / "docs").glob("*.md")), ids=str)
def test_doc_links_point_at_existing_pages(page: Path) -> None:
    links = re.findall(r"\]\(([^)#:]+\.md)\)", page.read_text(encoding="utf-8"))

    missing = [link for link in links if not (page.parent / link).exists()]

    assert missing == []


def test_readme_links_point_at_existing_pages() -> None:
    links = re.findall(r"\]\(([^)#:]+\.md)\)", (ROOT / "README.md").read_text())

    assert [link for link in links if not (ROOT / link).exists()] == []
