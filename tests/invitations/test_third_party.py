"""A third-party deliverer, pip-installed from docs/examples, found by entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from scim_gateway.app import create_app
from scim_gateway.backends.memory import MemoryBackend
from scim_gateway.config import Settings
from scim_gateway.plugins.registry import available_deliverers
from tests.conftest import TOKEN
from tests.invitations.conftest import create_user

EXAMPLE = Path(__file__).resolve().parents[2] / "docs/examples/scim-gateway-jsonl"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example package installed into a folder of its own, as pip does."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(target),
            str(EXAMPLE),
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture
def on_path(installed: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(installed))
    yield
    sys.modules.pop("scim_gateway_jsonl", None)


@pytest.mark.usefixtures("on_path")
def test_installed_deliverer_is_listed_by_its_entry_point_name() -> None:
    assert "jsonl" in available_deliverers()


@pytest.mark.usefixtures("on_path")
async def test_gateway_delivers_through_the_installed_deliverer(
    tmp_path: Path,
) -> None:
    out = tmp_path / "invitations.jsonl"
    settings = Settings(
        database="memory",
        invitation_deliverer="jsonl",
        deliverer_options={"path": str(out)},
    )
    app = create_app(settings=settings, backend=MemoryBackend(), tokens=TOKEN)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        user_id = await create_user(client, "ann@example.com")
        await app.state.gateway.outbox.drain()

    (line,) = out.read_text().splitlines()
    record = json.loads(line)
    assert (record["event"], record["user_id"]) == ("invited", user_id)
    assert record["accept_url"].startswith("http://testserver/invitations/accept?")
