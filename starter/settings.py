"""Settings from the environment (and `.env`), shared by the worker, the CLI, the API and the server launcher."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


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
    log_level: str = Field("INFO", validation_alias=_env("CXSLA_LOG_LEVEL"))
    report_dir: str = Field(".data/reports", validation_alias=_env("CXSLA_REPORT_DIR"))
    # Seconds a stopping worker lets running activities finish (deliveries, a cycle's collection) before
    # cancelling them; keep it below the orchestrator's grace period (Kubernetes: terminationGracePeriodSeconds).
    worker_shutdown_grace: float = Field(30.0, ge=0, validation_alias=_env("CXSLA_WORKER_SHUTDOWN_GRACE"))
    # Seconds between the worker's visibility counts (open/at-risk gauges); 0 turns the collector off.
    visibility_metrics_interval: float = Field(30.0, ge=0, validation_alias=_env("CXSLA_VISIBILITY_METRICS_INTERVAL"))

    # Production connection (starter.connection): TLS / mTLS and Temporal Cloud API keys.
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

    # Payload encryption (starter.codec).
    codec_keys: str | None = Field(None, validation_alias=_env("CXSLA_CODEC_KEYS"))
    codec_active_key: str | None = Field(None, validation_alias=_env("CXSLA_CODEC_ACTIVE_KEY"))
    codec_key_file: str = Field(".data/codec-keys", validation_alias=_env("CXSLA_CODEC_KEY_FILE"))
    # None: required whenever the connection uses TLS or an API key (a production cluster).
    require_encryption: bool | None = Field(None, validation_alias=_env("CXSLA_REQUIRE_ENCRYPTION"))

    # HTTP API (starter.api) and codec server (starter.codec_server).
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
