"""Settings of a gateway: every flag and environment variable in one place."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path

from scim_gateway.backends import sqlite_path
from scim_gateway.proxy import TrustedProxies

__all__ = ["DEFAULT_DATABASE", "ENV_PREFIX", "Settings", "deliverer_options"]

ENV_PREFIX = "SCIM_GATEWAY_"
DEFAULT_DATABASE = "var/scim-gateway.sqlite3"
LOG_FORMATS = ("text", "json")


@dataclass(frozen=True)
class Settings:
    """How a gateway behaves; `scim-gateway serve` builds one from flags and env.

    Each field can be set by the environment variable `SCIM_GATEWAY_<FIELD>`
    (upper case), and the command line flag `--<field>` with dashes wins over
    it. docs/configuration.md lists them all.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    database: str = DEFAULT_DATABASE
    pool_size: int = 10
    token: str | None = field(default=None, repr=False)
    base_path: str = "/scim/v2"
    public_url: str | None = None
    forwarded_allow_ips: str | None = None
    tenant_in_path: bool = False
    default_page_size: int = 100
    max_page_size: int = 1000
    max_body_bytes: int = 1_048_576
    max_json_depth: int = 32
    max_operations: int = 1000
    max_filter_length: int = 4096
    max_filter_depth: int = 50
    max_members_per_request: int = 10_000
    max_value_length: int = 65_536
    auth_failure_limit: int = 10
    auth_failure_window: int = 60
    group_patch_returns_resource: bool = False
    log_level: str = "INFO"
    log_format: str = "text"
    log_bodies: bool = False
    # Invitations (docs/invitations.md).
    invitation_deliverer: str = "log"
    deliverer_options: Mapping[str, str] = field(default_factory=dict, repr=False)
    organization: str = "your organization"
    accept_url: str | None = None
    admin_token: str | None = field(default=None, repr=False)
    invitation_ttl_seconds: int = 604_800
    invitation_templates: str | None = None
    reinvite_on_enable: bool = True
    confirm_without_accept: bool = False
    delivery_max_attempts: int = 8
    delivery_backoff_seconds: float = 2.0
    delivery_backoff_max_seconds: float = 600.0
    delivery_timeout_seconds: float = 30.0
    outbox_poll_seconds: float = 1.0

    def __post_init__(self) -> None:
        if self.token == "":
            # `--token "$TOKEN"` with TOKEN unset means no fixed token.
            object.__setattr__(self, "token", None)
        if self.pool_size < 1:
            raise ValueError(f"{ENV_PREFIX}POOL_SIZE must be at least 1")
        base = "/" + self.base_path.strip("/") if self.base_path.strip("/") else ""
        object.__setattr__(self, "base_path", base)
        if self.public_url is not None:
            object.__setattr__(self, "public_url", self.public_url.rstrip("/"))
        if self.forwarded_allow_ips:
            TrustedProxies(self.forwarded_allow_ips)  # refuse a malformed list now
        if self.log_format not in LOG_FORMATS:
            raise ValueError(f"log_format must be one of {', '.join(LOG_FORMATS)}")
        if self.delivery_max_attempts < 1:
            raise ValueError(f"{ENV_PREFIX}DELIVERY_MAX_ATTEMPTS must be at least 1")
        if self.delivery_timeout_seconds <= 0 or self.outbox_poll_seconds <= 0:
            raise ValueError("delivery timeout and outbox poll must be positive")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        overrides: Mapping[str, object] | None = None,
    ) -> Settings:
        """Settings from `SCIM_GATEWAY_*` variables, then `overrides` (not None)."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for spec in fields(cls):
            raw = environ.get(ENV_PREFIX + spec.name.upper())
            if spec.default is not MISSING and raw is not None and raw != "":
                values[spec.name] = _convert(spec.name, raw, spec.default)
        values.update({k: v for k, v in (overrides or {}).items() if v is not None})
        deliverer = str(values.get("invitation_deliverer", cls.invitation_deliverer))
        values.setdefault("deliverer_options", deliverer_options(deliverer, environ))
        return cls(**values)  # type: ignore[arg-type]  # keys come from fields()

    @property
    def database_path(self) -> Path | None:
        """The SQLite file this configuration names, or None for another backend."""
        return sqlite_path(self.database)


def deliverer_options(name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """A deliverer's own options: `SCIM_GATEWAY_<NAME>_<OPTION>`, by lower-case option.

    `SCIM_GATEWAY_SMTP_HOST` is the option `host` of the deliverer `smtp`.
    """
    prefix = f"{ENV_PREFIX}{name.upper().replace('-', '_')}_"
    return {
        key.removeprefix(prefix).lower(): value
        for key, value in environ.items()
        if key.startswith(prefix) and value != ""
    }


def _convert(name: str, raw: str, default: object) -> object:
    if isinstance(default, bool):
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off"}:
            return False
        raise ValueError(f"{ENV_PREFIX}{name.upper()} must be true or false")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise ValueError(
                f"{ENV_PREFIX}{name.upper()} must be a whole number"
            ) from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise ValueError(f"{ENV_PREFIX}{name.upper()} must be a number") from None
    return raw
