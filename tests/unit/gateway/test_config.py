"""Settings from the environment and from overrides."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from starlette.requests import Request

from scim_gateway.config import Settings
from scim_gateway.context import accept_url_for, request_root


def test_environment_variables_set_fields() -> None:
    settings = Settings.from_env(
        {
            "SCIM_GATEWAY_PORT": "9001",
            "SCIM_GATEWAY_BASE_PATH": "scim/",
            "SCIM_GATEWAY_PUBLIC_URL": "https://id.example.com/scim/v2/",
            "SCIM_GATEWAY_GROUP_PATCH_RETURNS_RESOURCE": "true",
        }
    )

    assert settings.port == 9001
    assert settings.base_path == "/scim"
    assert settings.public_url == "https://id.example.com/scim/v2"
    assert settings.group_patch_returns_resource is True


def test_overrides_win_over_environment_and_none_is_ignored() -> None:
    settings = Settings.from_env(
        {"SCIM_GATEWAY_PORT": "9001"}, overrides={"port": 9002, "host": None}
    )

    assert settings.port == 9002
    assert settings.host == "127.0.0.1"


def test_malformed_number_names_the_variable() -> None:
    with pytest.raises(ValueError, match="SCIM_GATEWAY_PORT"):
        Settings.from_env({"SCIM_GATEWAY_PORT": "eighty"})


@pytest.mark.parametrize(
    ("database", "path"),
    [
        ("var/x.sqlite3", Path("var/x.sqlite3")),
        ("sqlite:///var/x.db", Path("var/x.db")),
        ("sqlite:////tmp/x.db", Path("/tmp/x.db")),
        ("memory", None),
        ("postgresql://postgres@127.0.0.1/test", None),
    ],
)
def test_database_path_names_only_sqlite_files(
    database: str, path: Path | None
) -> None:
    assert Settings(database=database).database_path == path


def test_token_is_not_in_repr() -> None:
    assert "s3cret" not in repr(Settings(token="s3cret"))


def test_pool_size_comes_from_the_environment() -> None:
    settings = Settings.from_env({"SCIM_GATEWAY_POOL_SIZE": "25"})

    assert settings.pool_size == 25


def test_pool_size_below_one_names_the_variable() -> None:
    with pytest.raises(ValueError, match="SCIM_GATEWAY_POOL_SIZE"):
        Settings.from_env({"SCIM_GATEWAY_POOL_SIZE": "0"})


def test_invitation_settings_come_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "SCIM_GATEWAY_INVITATION_DELIVERER": "smtp",
            "SCIM_GATEWAY_SMTP_HOST": "mail.example.com",
            "SCIM_GATEWAY_SMTP_FROM": "no-reply@example.com",
            "SCIM_GATEWAY_WEBHOOK_URL": "https://ignored.example.com",
            "SCIM_GATEWAY_DELIVERY_BACKOFF_SECONDS": "0.5",
            "SCIM_GATEWAY_CONFIRM_WITHOUT_ACCEPT": "yes",
        }
    )

    assert settings.invitation_deliverer == "smtp"
    assert dict(settings.deliverer_options) == {
        "host": "mail.example.com",
        "from": "no-reply@example.com",
    }
    assert settings.delivery_backoff_seconds == 0.5
    assert settings.confirm_without_accept is True


def test_deliverer_options_follow_a_deliverer_chosen_by_flag() -> None:
    settings = Settings.from_env(
        {"SCIM_GATEWAY_WEBHOOK_URL": "https://hooks.example.com/x"},
        overrides={"invitation_deliverer": "webhook"},
    )

    assert dict(settings.deliverer_options) == {"url": "https://hooks.example.com/x"}


def test_malformed_float_names_the_variable() -> None:
    with pytest.raises(ValueError, match="SCIM_GATEWAY_OUTBOX_POLL_SECONDS"):
        Settings.from_env({"SCIM_GATEWAY_OUTBOX_POLL_SECONDS": "soon"})


def test_admin_token_and_deliverer_options_stay_out_of_repr() -> None:
    settings = Settings(
        admin_token="admin-secret-0123456789", deliverer_options={"password": "pw"}
    )

    assert "admin-secret" not in repr(settings)
    assert "pw" not in repr(settings)


@pytest.mark.parametrize(
    ("changes", "url"),
    [
        (
            {"accept_url": "https://app.example.com/join"},
            "https://app.example.com/join",
        ),
        (
            {"public_url": "https://id.example.com/scim/v2"},
            "https://id.example.com/invitations/accept",
        ),
        ({"host": "0.0.0.0", "port": 9000}, "http://0.0.0.0:9000/invitations/accept"),
    ],
)
def test_accept_url_without_a_request(changes: dict[str, object], url: str) -> None:
    assert accept_url_for(Settings(**changes), None) == url  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "scope",
    [
        {"scheme": "http", "server": ("127.0.0.1", 8000), "root_path": ""},
        {"scheme": "https", "server": ("10.0.0.5", 443), "root_path": "/scim"},
        {"scheme": "http", "server": ("h", 80), "root_path": "/a/b/", "host": "x:81"},
        {"scheme": "https", "server": None, "root_path": "", "host": "idp.test"},
        {"scheme": "http", "server": ("::1", 8000), "root_path": "/mounted"},
    ],
)
def test_request_root_is_what_starlette_gives_as_base_url(
    scope: dict[str, Any],
) -> None:
    host = scope.pop("host", None)
    full = {
        "type": "http",
        "method": "GET",
        "path": scope["root_path"].rstrip("/") + "/scim/v2/Users",
        "query_string": b"",
        "headers": [] if host is None else [(b"host", host.encode())],
        **scope,
    }
    request = Request(full)
    assert request_root(request) == str(request.base_url).rstrip("/")
