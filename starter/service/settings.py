"""Settings from the environment (and `.env`), shared by the worker, the CLI, the API and the server launcher."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


def _env(name: str) -> AliasChoices:
    return AliasChoices(name)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    temporal_address: str = Field("localhost:7233", validation_alias=_env("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=_env("TEMPORAL_NAMESPACE"))
    policy: str | None = Field(None, validation_alias=_env("CXSLA_POLICY"))
    task_queue: str = Field("cxsla", validation_alias=_env("CXSLA_TASK_QUEUE"))
    metrics_port: int = Field(9464, validation_alias=_env("CXSLA_METRICS_PORT"))
    metrics_host: str = Field("127.0.0.1", validation_alias=_env("CXSLA_METRICS_HOST"))
    webhook_url: str | None = Field(None, validation_alias=_env("CXSLA_WEBHOOK_URL"))
    webhook_secret: str | None = Field(None, validation_alias=_env("CXSLA_WEBHOOK_SECRET"))
    # E-mail notifications (activities.email.SmtpSink), on when CXSLA_SMTP_HOST is set; see _smtp_complete.
    smtp_host: str | None = Field(None, validation_alias=_env("CXSLA_SMTP_HOST"))
    smtp_port: int | None = Field(None, ge=1, le=65535, validation_alias=_env("CXSLA_SMTP_PORT"))  # 587 / 465
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        "starttls", validation_alias=_env("CXSLA_SMTP_SECURITY"))
    smtp_user: str | None = Field(None, validation_alias=_env("CXSLA_SMTP_USER"))
    smtp_password: SecretStr | None = Field(None, validation_alias=_env("CXSLA_SMTP_PASSWORD"))
    smtp_from: str | None = Field(None, validation_alias=_env("CXSLA_SMTP_FROM"))
    smtp_to: Annotated[tuple[str, ...], NoDecode] = Field((), validation_alias=_env("CXSLA_SMTP_TO"))
    smtp_routes: Annotated[dict[str, tuple[str, ...]], NoDecode] = Field(
        default_factory=dict, validation_alias=_env("CXSLA_SMTP_ROUTES"))
    log_level: str = Field("INFO", validation_alias=_env("CXSLA_LOG_LEVEL"))
    report_dir: str = Field(".data/reports", validation_alias=_env("CXSLA_REPORT_DIR"))
    # Seconds a stopping worker lets running activities finish (deliveries, a cycle's collection) before
    # cancelling them; keep it below the orchestrator's grace period (Kubernetes: terminationGracePeriodSeconds).
    worker_shutdown_grace: float = Field(30.0, ge=0, validation_alias=_env("CXSLA_WORKER_SHUTDOWN_GRACE"))
    # Worker capacity (deploy/README.md, "Sizing"): how many complaints stay cached between their wake-ups, how many
    # workflow and activity tasks run at once, how many pollers ask the server for each, and how long a task waits
    # on this worker's sticky queue before the server hands it to any worker.
    worker_max_cached_workflows: int = Field(2_000, ge=0, validation_alias=_env("CXSLA_WORKER_MAX_CACHED_WORKFLOWS"))
    worker_workflow_tasks: int = Field(100, ge=1, validation_alias=_env("CXSLA_WORKER_WORKFLOW_TASKS"))
    worker_activities: int = Field(200, ge=1, validation_alias=_env("CXSLA_WORKER_ACTIVITIES"))
    worker_workflow_pollers: int = Field(8, ge=2, validation_alias=_env("CXSLA_WORKER_WORKFLOW_POLLERS"))
    worker_activity_pollers: int = Field(8, ge=1, validation_alias=_env("CXSLA_WORKER_ACTIVITY_POLLERS"))
    worker_sticky_timeout: float = Field(10.0, gt=0, validation_alias=_env("CXSLA_WORKER_STICKY_TIMEOUT"))
    # Seconds between the worker's visibility counts (open/at-risk gauges); 0 turns the collector off.
    visibility_metrics_interval: float = Field(30.0, ge=0, validation_alias=_env("CXSLA_VISIBILITY_METRICS_INTERVAL"))

    # Production connection (starter.service.connection): TLS / mTLS and Temporal Cloud API keys.
    temporal_tls: bool | None = Field(None, validation_alias=_env("TEMPORAL_TLS"))  # None: on when needed
    # The `temporal` CLI's own variable names are accepted too, so one environment configures both.
    temporal_tls_cert: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_TLS_CERT", "TEMPORAL_TLS_CLIENT_CERT_PATH"))
    temporal_tls_key: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_TLS_KEY", "TEMPORAL_TLS_CLIENT_KEY_PATH"))
    temporal_tls_ca: str | None = Field(
        None, validation_alias=AliasChoices("TEMPORAL_TLS_CA", "TEMPORAL_TLS_SERVER_CA_CERT_PATH"))
    temporal_tls_server_name: str | None = Field(None, validation_alias=_env("TEMPORAL_TLS_SERVER_NAME"))
    temporal_api_key: str | None = Field(None, validation_alias=_env("TEMPORAL_API_KEY"))

    # Payload encryption (starter.service.codec).
    codec_keys: str | None = Field(None, validation_alias=_env("CXSLA_CODEC_KEYS"))
    codec_active_key: str | None = Field(None, validation_alias=_env("CXSLA_CODEC_ACTIVE_KEY"))
    codec_key_file: str = Field(".data/codec-keys", validation_alias=_env("CXSLA_CODEC_KEY_FILE"))
    # None: required whenever the connection uses TLS or an API key (a production cluster).
    require_encryption: bool | None = Field(None, validation_alias=_env("CXSLA_REQUIRE_ENCRYPTION"))

    # HTTP API (starter.api) and codec server (starter.service.codec_server).
    api_host: str = Field("127.0.0.1", validation_alias=_env("CXSLA_API_HOST"))
    api_port: int = Field(8080, validation_alias=_env("CXSLA_API_PORT"))
    api_tokens: str | None = Field(None, validation_alias=_env("CXSLA_API_TOKENS"))
    # The default file is read when it exists (`cxsla up` creates it with a first admin token).
    api_tokens_file: str = Field(".data/api-tokens", validation_alias=_env("CXSLA_API_TOKENS_FILE"))
    inbound_config: str | None = Field(None, validation_alias=_env("CXSLA_INBOUND_CONFIG"))
    codec_server_host: str = Field("127.0.0.1", validation_alias=_env("CXSLA_CODEC_SERVER_HOST"))
    codec_server_port: int = Field(8081, validation_alias=_env("CXSLA_CODEC_SERVER_PORT"))
    codec_cors_origins: str = Field(
        "http://127.0.0.1:8233,http://localhost:8233", validation_alias=_env("CXSLA_CODEC_CORS_ORIGINS")
    )

    @property
    def smtp_port_or_default(self) -> int:
        return self.smtp_port or (465 if self.smtp_security == "tls" else 587)

    @field_validator("smtp_to", mode="before")
    @classmethod
    def _smtp_to(cls, value: object) -> object:
        return parse_addresses(value, "CXSLA_SMTP_TO") if isinstance(value, str) else value

    @field_validator("smtp_routes", mode="before")
    @classmethod
    def _smtp_routes(cls, value: object) -> object:
        return parse_smtp_routes(value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _smtp_complete(self) -> Settings:
        if self.smtp_host:
            missing = [name for name, value in (("CXSLA_SMTP_FROM", self.smtp_from), ("CXSLA_SMTP_TO", self.smtp_to))
                       if not value]
            if missing:
                raise ValueError(f"CXSLA_SMTP_HOST is set, so {' and '.join(missing)} must be set too")
            if len(parse_addresses(self.smtp_from or "", "CXSLA_SMTP_FROM")) != 1:
                raise ValueError("CXSLA_SMTP_FROM: one address, not a list")
            if self.smtp_user and self.smtp_password is None:
                raise ValueError("CXSLA_SMTP_USER is set, so CXSLA_SMTP_PASSWORD must be set too")
        return self


_ADDRESS = re.compile(r"[^@\s,;<>\"()\[\]]+@[^@\s,;<>\"()\[\]]+")  # a bare address, no display name
_ROUTE_TARGET = re.compile(r"\w[\w.-]*")  # the policy's ladder targets: team-lead, 主管, ...
ROUTES_FORMAT = "target=address[;address...] entries separated by commas, e.g. team-lead=tl@x.cn,supervisor=a@x.cn;b@x.cn"


def parse_addresses(text: str, setting: str, separator: str = ",") -> tuple[str, ...]:
    """`a@x.cn, b@x.cn` -> ("a@x.cn", "b@x.cn"); a malformed address is refused naming the setting."""
    addresses = tuple(part.strip() for part in text.split(separator) if part.strip())
    for address in addresses:
        if not _ADDRESS.fullmatch(address):
            raise ValueError(f"{setting}: {address!r} is not an e-mail address (like ops@example.cn)")
    return addresses


def parse_smtp_routes(text: str) -> dict[str, tuple[str, ...]]:
    """CXSLA_SMTP_ROUTES: `team-lead=tl@x.cn,supervisor=sup@x.cn;boss@x.cn` -> escalation target -> recipients."""
    routes: dict[str, tuple[str, ...]] = {}
    for entry in (part.strip() for part in text.split(",")):
        if not entry:
            continue
        target, sep, addresses = (s.strip() for s in entry.partition("="))
        if not sep or not _ROUTE_TARGET.fullmatch(target):
            raise ValueError(f"CXSLA_SMTP_ROUTES: cannot read {entry!r}; expected {ROUTES_FORMAT}")
        if target in routes:
            raise ValueError(f"CXSLA_SMTP_ROUTES: {target!r} is routed twice")
        routes[target] = parse_addresses(addresses, f"CXSLA_SMTP_ROUTES ({target})", separator=";")
        if not routes[target]:
            raise ValueError(f"CXSLA_SMTP_ROUTES: {target!r} has no address; expected {ROUTES_FORMAT}")
    return routes
