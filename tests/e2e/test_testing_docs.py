"""The examples of docs/testing.md, run by pytester as the project they describe."""

from __future__ import annotations

import shlex

import pytest

from tests.backends import POSTGRES_URL, require_postgres
from tests.docs import code_blocks

# A test of this suite's own that checks the documented scim_settings override.
SETTINGS_CHECK = """
async def test_the_documented_override_caps_pages(scim_client, scim_seed):
    await scim_seed.users(3)

    page = await scim_client.get("Users", params={"count": 10})

    assert page.json()["itemsPerPage"] == 2
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    (configuration,) = code_blocks("testing.md", "toml")
    examples, pinned, settings, library, tenants = code_blocks("testing.md")
    pytester.makepyprojecttoml(configuration)
    pytester.makeconftest(settings)
    pytester.makepyfile(
        test_examples=examples,
        test_pinned=pinned,
        test_library=library,
        test_tenants=tenants,
        test_settings_check=SETTINGS_CHECK,
    )
    return pytester


def documented_runs() -> list[list[str]]:
    (commands,) = [b for b in code_blocks("testing.md", "sh") if "pytest " in b]
    return [
        shlex.split(line, comments=True)[1:]
        for line in commands.splitlines()
        if line.startswith("pytest ")
    ]


def test_the_page_documents_two_runs() -> None:
    assert documented_runs() == [
        ["--scim-backend", "all"],
        ["--scim-backend", "memory,sqlite"],
    ]


def test_examples_pass_on_memory_and_sqlite(project: pytest.Pytester) -> None:
    result = project.runpytest("-W", "error", "--scim-backend", "memory,sqlite")

    # Five tests run on both backends, one is pinned to SQLite.
    result.assert_outcomes(passed=11)


def test_examples_pass_on_all_backends(project: pytest.Pytester) -> None:
    args = ["-W", "error", "-rs", "--scim-postgres-url", POSTGRES_URL]

    result = project.runpytest(*args, *documented_runs()[0])

    outcomes = result.parseoutcomes()
    if outcomes.get("skipped") and not require_postgres():
        assert outcomes.get("passed") == 11
        pytest.skip("PostgreSQL is not reachable; its runs were skipped")
    result.assert_outcomes(passed=16)
