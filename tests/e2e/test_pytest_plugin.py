"""The pytest plugin, run by pytester in a project of its own as a user's would be."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import pytest

from tests.backends import POSTGRES_URL, skip_without_postgres

INI = """
[pytest]
asyncio_mode = {mode}
asyncio_default_fixture_loop_scope = function
filterwarnings = error
"""

SEEDED = """
async def test_seeded_group_lists_its_members(scim_client, scim_seed):
    ann = await scim_seed.user("ann@example.com", active=True)
    sales = await scim_seed.group("Sales", members=[ann])

    answer = await scim_client.get(f"Groups/{sales['id']}")

    assert answer.status_code == 200
    assert [m["value"] for m in answer.json()["members"]] == [ann["id"]]
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A project in auto mode; tests add their files."""
    pytester.makeini(INI.format(mode="auto"))
    return pytester


def test_one_test_runs_on_memory_by_default(project: pytest.Pytester) -> None:
    project.makepyfile(SEEDED)

    result = project.runpytest("-v")

    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(
        ["*test_seeded_group_lists_its_members?memory? PASSED*"]
    )


def test_the_option_runs_each_test_on_every_backend_named(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(SEEDED)

    result = project.runpytest("-v", "--scim-backend", "memory,sqlite")

    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*?memory? PASSED*", "*?sqlite? PASSED*"])


def test_all_includes_postgres(project: pytest.Pytester) -> None:
    asyncio.run(skip_without_postgres())
    project.makepyfile(SEEDED)

    result = project.runpytest(
        "-v", "--scim-backend", "all", "--scim-postgres-url", POSTGRES_URL
    )

    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*?postgres? PASSED*"])


def test_a_parametrize_marker_picks_the_backend_whatever_the_option(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("scim_backend_kind", ["sqlite"])
        async def test_on_sqlite(scim_backend, scim_backend_kind):
            assert scim_backend.name == "sqlite"
        """
    )

    result = project.runpytest("-v", "--scim-backend", "memory,sqlite")

    result.assert_outcomes(passed=1)


def test_every_test_gets_a_tenant_of_its_own(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        import pytest

        seen = []

        @pytest.mark.parametrize("round", [1, 2])
        async def test_same_user_name(scim_seed, scim_tenant, scim_client, round):
            await scim_seed.user("ann@example.com")
            seen.append(scim_tenant.id)

            listed = await scim_client.get("Users")

            assert listed.json()["totalResults"] == 1
            assert len(set(seen)) == round
        """
    )

    result = project.runpytest("--scim-backend", "sqlite")

    result.assert_outcomes(passed=2)


def test_strict_mode_projects_mark_their_tests(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI.format(mode="strict"))
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_users_start_empty(scim_client):
            answer = await scim_client.get("Users")
            assert answer.json()["totalResults"] == 0
        """
    )

    result = pytester.runpytest()

    result.assert_outcomes(passed=1)


def test_overriding_scim_settings_changes_the_gateway(
    project: pytest.Pytester,
) -> None:
    project.makeconftest(
        """
        import pytest
        from scim_gateway import Settings

        @pytest.fixture
        def scim_settings():
            return Settings(base_path="/api/scim", max_page_size=2)
        """
    )
    project.makepyfile(
        """
        async def test_pages_are_capped(scim_client, scim_seed):
            await scim_seed.users(3)

            page = await scim_client.get("Users", params={"count": 10})

            assert str(scim_client.base_url) == "http://testserver/api/scim/"
            assert (page.json()["totalResults"], page.json()["itemsPerPage"]) == (3, 2)
        """
    )

    result = project.runpytest()

    result.assert_outcomes(passed=1)


def test_a_refused_seed_says_what_the_gateway_answered(
    project: pytest.Pytester,
) -> None:
    project.makepyfile(
        """
        import pytest

        async def test_duplicate(scim_seed):
            await scim_seed.user("ann")
            with pytest.raises(RuntimeError, match="409.*uniqueness"):
                await scim_seed.user("ANN")
        """
    )

    result = project.runpytest()

    result.assert_outcomes(passed=1)


def test_an_unknown_backend_kind_stops_the_run(project: pytest.Pytester) -> None:
    project.makepyfile(SEEDED)

    result = project.runpytest("--scim-backend", "mysql")

    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*--scim-backend 'mysql': use memory, sqlite, postgres or all*"]
    )


def test_scim2_client_runs_against_the_fixture(project: pytest.Pytester) -> None:
    project.makepyfile(
        """
        from scim2_client.engines.asgi import ASGISCIMClient
        from scim2_models import Group, ListResponse, ScimProvider, User


        async def test_a_scim_client_library_provisions(scim_app, scim_tenant):
            scim = ASGISCIMClient(
                scim_app,
                base_url="http://testserver/scim/v2",
                headers={"Authorization": f"Bearer {scim_tenant.token}"},
                provider=ScimProvider(models=[User, Group]),
            )
            await scim.discover()

            ann = await scim.create(User(user_name="ann@example.com"))
            sales = await scim.create(
                Group(display_name="Sales", members=[Group.Members(value=ann.id)])
            )
            found = await scim.query(User)
            read = await scim.query(Group, sales.id)
            await scim.delete(User, ann.id)
            after = await scim.query(Group, sales.id)

            assert isinstance(found, ListResponse)
            assert [user.user_name for user in found.resources] == ["ann@example.com"]
            assert [member.value for member in read.members] == [ann.id]
            assert not after.members
        """
    )

    result = project.runpytest("--scim-backend", "memory,sqlite")

    result.assert_outcomes(passed=2)


def test_without_pytest_asyncio_the_plugin_loads_and_says_what_is_missing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makeini("[pytest]\n")
    pytester.makepyfile(
        """
        def test_unrelated():
            assert True

        def test_wants_a_client(scim_client):
            pass
        """
    )
    # As in a project without pytest-asyncio: importing it fails, and pytest
    # does not load it as a plugin. Plain asserts keep pytest's import hook,
    # which would find the module anyway, out of the way.
    script = textwrap.dedent(
        """
        import sys

        class Missing:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] == "pytest_asyncio":
                    raise ImportError(f"No module named {name!r}")

        sys.meta_path.insert(0, Missing())
        import pytest
        raise SystemExit(pytest.main(["-p", "no:asyncio", "--assert=plain"]))
        """
    )

    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=pytester.path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 1, result.stdout + result.stderr
    assert "1 passed, 1 error" in result.stdout
    assert "scim_client needs pytest-asyncio" in result.stdout


class TestUnreachablePostgres:
    URL = "postgresql://postgres@127.0.0.1:1/nothing"

    def test_is_skipped_when_all_backends_were_asked_for(
        self, project: pytest.Pytester
    ) -> None:
        project.makepyfile(SEEDED)

        result = project.runpytest(
            "-rs", "--scim-backend", "all", "--scim-postgres-url", self.URL
        )

        result.assert_outcomes(passed=2, skipped=1)
        result.stdout.fnmatch_lines(
            ["*PostgreSQL at 127.0.0.1:1/nothing is not reachable*"]
        )

    def test_fails_when_postgres_was_asked_for_by_name(
        self, project: pytest.Pytester
    ) -> None:
        project.makepyfile(SEEDED)

        result = project.runpytest(
            "--scim-backend", "postgres", "--scim-postgres-url", self.URL
        )

        result.assert_outcomes(errors=1)
