"""A full or read-only SQLite database is a 503 that says so, and corrupts nothing.

The disk is filled for real: a tmpfs of a few hundred kilobytes mounted in
the test's own folder (as root; skipped where mounting is not permitted),
and, everywhere, SQLite's own `max_page_count`, which raises the same
SQLITE_FULL. A read-only database is a read-only bind mount, and a `mode=ro`
URI, whose writes SQLite refuses with SQLITE_READONLY.
"""

from __future__ import annotations

import sqlite3
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from scim_gateway.app import create_app
from scim_gateway.backends.sqlite import SqliteBackend
from scim_gateway.config import Settings
from scim_gateway.errors import ERROR_SCHEMA
from tests.conftest import TOKEN

FULL = "the database is out of space; writes fail until space is freed"
READ_ONLY = "the database is read-only; writes fail until it is writable"


def mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here: {done.stderr.strip()}")


def unmount(target: Path) -> None:
    # Lazily: a test that failed may still hold a file open there.
    subprocess.run(["umount", "--lazy", str(target)], check=True)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 1 MiB filesystem of the test's own, unmounted afterwards."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mount("-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk))
    yield disk
    unmount(disk)


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A folder and a read-only bind mount of it."""
    writable, view = tmp_path / "rw", tmp_path / "ro"
    writable.mkdir()
    view.mkdir()
    mount("--bind", str(writable), str(view))
    try:
        mount("-o", "remount,ro,bind", str(view))
        yield writable, view
    finally:
        unmount(view)


@asynccontextmanager
async def client_for(database: str | Path) -> AsyncIterator[httpx.AsyncClient]:
    backend = SqliteBackend(database)
    app = create_app(
        settings=Settings(database="memory"), backend=backend, tokens=TOKEN
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as http:
        try:
            yield http
        finally:
            await app.state.gateway.close()


def unavailable(response: httpx.Response) -> str:
    """The detail of a SCIM 503 answer with a retry hint."""
    assert response.status_code == 503, response.text
    assert response.headers["Retry-After"].isdigit()
    document = response.json()
    assert document["schemas"] == [ERROR_SCHEMA]
    assert document["status"] == "503"
    detail: str = document["detail"]
    return detail


def fill(folder: Path) -> Path:
    """Write a file into `folder` until its filesystem has no space left."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as out:
        try:
            while out.write(b"\0" * 4096):
                pass
        except OSError:
            pass
    return filler


def check_integrity(database: Path) -> None:
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        assert connection.execute("PRAGMA foreign_key_check").fetchall() == []
    finally:
        connection.close()


async def write_until_refused(
    client: httpx.AsyncClient, *, attempts: int = 2000
) -> tuple[list[str], httpx.Response]:
    """POST users until one is refused; the names stored and the refusal."""
    stored: list[str] = []
    for number in range(attempts):
        name = f"user{number}@example.com"
        response = await client.post(
            "/Users", json={"userName": name, "title": "t" * 200}
        )
        if response.status_code != 201:
            return stored, response
        stored.append(name)
    raise AssertionError(f"{attempts} writes and none refused")


async def assert_all_readable(client: httpx.AsyncClient, names: list[str]) -> None:
    listed = await client.get("/Users", params={"count": 10_000})
    assert sorted(r["userName"] for r in listed.json()["Resources"]) == sorted(names)


async def test_a_full_disk_is_503_and_every_acknowledged_write_survives(
    small_disk: Path,
) -> None:
    database = small_disk / "scim.sqlite3"
    async with client_for(database) as client:
        first = [f"before{n}" for n in range(5)]
        for name in first:
            await client.post("/Users", json={"userName": name})
        filler = fill(small_disk)

        stored, refused = await write_until_refused(client)
        reads_while_full = await client.get("/Users", params={"count": 1})
        filler.unlink()
        after = await client.post("/Users", json={"userName": "after@example.com"})

        assert unavailable(refused) == FULL
        assert reads_while_full.status_code == 200
        assert after.status_code == 201
        await assert_all_readable(client, [*first, *stored, "after@example.com"])
    check_integrity(database)


async def test_sqlite_page_limit_is_503_and_nothing_half_written(
    tmp_path: Path,
) -> None:
    database = tmp_path / "scim.sqlite3"
    backend = SqliteBackend(database)
    app = create_app(
        settings=Settings(database="memory"), backend=backend, tokens=TOKEN
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://testserver/scim/v2",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as client:
        await client.get("/Users")
        # The one reach inside: SQLite's page limit is set per connection.
        writer = backend._writer
        assert writer is not None
        pages = await writer.run(lambda c: c.execute("PRAGMA page_count").fetchone())
        await writer.run(lambda c: c.execute(f"PRAGMA max_page_count = {pages[0] + 4}"))

        stored, refused = await write_until_refused(client)

        assert unavailable(refused) == FULL
        await assert_all_readable(client, stored)
    await app.state.gateway.close()
    check_integrity(database)


async def test_a_database_on_a_read_only_filesystem_is_503_read_only(
    read_only_view: tuple[Path, Path],
) -> None:
    writable, view = read_only_view
    async with client_for(writable / "scim.sqlite3") as client:
        await client.post("/Users", json={"userName": "ann"})

    async with client_for(view / "scim.sqlite3") as client:
        write = await client.post("/Users", json={"userName": "bo"})
        read = await client.get("/Users")

    for response in (write, read):
        assert unavailable(response) == READ_ONLY
        assert str(view) not in response.text
    check_integrity(writable / "scim.sqlite3")


async def test_a_database_opened_read_only_refuses_writes_with_503(
    tmp_path: Path,
) -> None:
    database = tmp_path / "scim.sqlite3"
    async with client_for(database) as client:
        await client.post("/Users", json={"userName": "ann"})

    async with client_for(f"file:{database}?mode=ro") as client:
        write = await client.post("/Users", json={"userName": "bo"})
        read = await client.get("/Users")

    assert unavailable(write) == READ_ONLY
    assert read.status_code == 200
    assert [r["userName"] for r in read.json()["Resources"]] == ["ann"]
    check_integrity(database)
