"""Configuration from `ZYNTRO_*` environment variables (and the same-named CLI options)."""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from zyntro.proxies import parse_networks

PLACEHOLDER_SECRET = "change-me"
# Either turns traces on (the standard variables of OpenTelemetry's OTLP exporter).
_OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")


class Settings(BaseSettings):
    """Every setting the server reads. Documented in README.md (a test keeps it so)."""

    model_config = SettingsConfigDict(env_prefix="ZYNTRO_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./zyntro.db", description="SQLAlchemy URL; SQLite file or postgresql://"
    )
    redis_url: str | None = Field(default=None, description="Redis for shared rate limits")
    host: str = Field(default="127.0.0.1", description="address `zyntro serve` binds")
    port: int = Field(default=8000, description="port `zyntro serve` binds")
    workers: int = Field(default=1, ge=1, description="server processes")
    rate_limit: str = Field(default="600/minute", description="per-key rate limit")
    invalid_key_rate_limit: str = Field(
        default="60/minute", description="requests with an invalid key, per client address"
    )
    redis_prefix: str = Field(default="zyntro", description="prefix of every Redis key")
    log_level: str = Field(default="INFO", description="DEBUG, INFO, WARNING or ERROR")
    secret_key: str = Field(
        default=PLACEHOLDER_SECRET,
        description="signs dashboard cookies, keys the sign-in throttle, seals 2FA secrets",
    )
    cache_mb: int = Field(default=96, ge=1, description="read cache memory cap per process (MiB)")
    max_body_bytes: int = Field(
        default=1024 * 1024,
        ge=1,
        description="request body cap of /api/v1 and the dashboard, in bytes (413 over it)",
    )
    body_timeout_seconds: float = Field(
        default=10.0, gt=0, description="a request body must arrive within this (408 after it)"
    )
    shutdown_seconds: int = Field(
        default=10,
        ge=1,
        description="on SIGTERM, requests in flight get this long before a worker is killed",
    )
    trusted_proxies: str = Field(
        default="",
        description="proxies (IPs/CIDRs, comma-separated) whose X-Forwarded-For is believed",
    )
    backup_dir: str | None = Field(
        default=None, description="directory of `zyntro db backup` files"
    )
    demo: bool = Field(default=False, description="demo mode (set by `zyntro demo`)")
    max_keys_per_member: int = Field(
        default=20, ge=1, description="active API keys a member may hold at once"
    )
    # Drafting segments with AI (docs/ai.md): off until a base URL and a model are set.
    llm_base_url: str | None = Field(
        default=None, description="OpenAI-compatible Chat Completions endpoint, e.g. .../v1"
    )
    llm_model: str | None = Field(default=None, description="the model drafting asks")
    llm_api_key: SecretStr | None = Field(default=None, description="the provider's API key")
    llm_structured_output: Literal["auto", "json_schema", "none"] = Field(
        default="auto",
        description="json_schema response format: auto (fall back when refused), always, never",
    )
    llm_timeout_seconds: float = Field(
        default=50.0, gt=0, description="a draft (its repair included) must come within this"
    )
    draft_member_rate_limit: str = Field(
        default="30/hour", description="drafts per member (dashboard and API)"
    )
    draft_org_rate_limit: str = Field(default="200/hour", description="drafts per organization")
    event_retention_days: int = Field(
        default=30,
        ge=30,  # the feed's promise to integrations: at least 30 days (docs/events.md)
        description="days the events feed keeps each event (at least 30)",
    )
    trash_retention_days: int = Field(
        default=30, ge=1, description="days a deleted segment stays restorable in the trash"
    )
    max_segments_per_brand: int = Field(
        default=1000, ge=1, description="segments a brand may hold (a write past it is a 409)"
    )
    otel: bool = Field(
        default=False,
        description="OpenTelemetry traces even without OTEL_EXPORTER_OTLP_ENDPOINT",
    )
    mcp_writes: bool = Field(
        default=False,
        description="the MCP server's write tools (create_segment, update_segment); off: read-only",
    )
    webhook_delivery: bool = Field(
        default=True, description="this `zyntro serve` process delivers webhooks too"
    )
    webhook_allow_private: bool = Field(
        default=False,
        description="webhooks may reach private, loopback and link-local addresses",
    )
    webhook_retry_schedule: str = Field(
        default="",
        description="seconds between webhook retries, comma-separated (default: ~24 h)",
    )
    webhook_disable_after: int = Field(
        default=20, ge=1, description="failed attempts in a row before a webhook is disabled"
    )
    webhook_concurrency: int = Field(
        default=8, ge=1, le=100, description="attempts in flight per webhook and process"
    )

    @property
    def tracing_wanted(self) -> bool:
        """Traces are on: `ZYNTRO_OTEL=true` or an OTLP endpoint set, unless the standard
        `OTEL_SDK_DISABLED=true` turns the SDK off (docs/operations.md, "Traces")."""
        if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return False
        return self.otel or any(os.environ.get(name) for name in _OTLP_ENDPOINTS)

    @property
    def drafting_configured(self) -> bool:
        """A provider is set: drafting is offered (docs/ai.md)."""
        return bool(self.llm_base_url and self.llm_model)

    @field_validator(
        "rate_limit", "invalid_key_rate_limit", "draft_member_rate_limit", "draft_org_rate_limit"
    )
    @classmethod
    def _rate_limit(cls, value: str) -> str:
        from zyntro.ratelimit import check_limit  # `limits` loads only when settings are read

        return check_limit(value)

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _retry_schedule(cls, value: str) -> str:
        from zyntro.webhooks.schedule import parse_schedule

        parse_schedule(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        return ", ".join(str(network) for network in parse_networks(value))


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
