"""Settings from the environment (and `.env`), shared by the worker, the CLI and the server launcher."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    temporal_address: str = Field("localhost:7233", validation_alias=AliasChoices("TEMPORAL_ADDRESS"))
    temporal_namespace: str = Field("default", validation_alias=AliasChoices("TEMPORAL_NAMESPACE"))
    policy: str | None = Field(None, validation_alias=AliasChoices("CXSLA_POLICY"))
    task_queue: str = Field("cxsla", validation_alias=AliasChoices("CXSLA_TASK_QUEUE"))
    metrics_port: int = Field(9464, validation_alias=AliasChoices("CXSLA_METRICS_PORT"))
    metrics_host: str = Field("127.0.0.1", validation_alias=AliasChoices("CXSLA_METRICS_HOST"))
    webhook_url: str | None = Field(None, validation_alias=AliasChoices("CXSLA_WEBHOOK_URL"))
    webhook_secret: str | None = Field(None, validation_alias=AliasChoices("CXSLA_WEBHOOK_SECRET"))
    log_level: str = Field("INFO", validation_alias=AliasChoices("CXSLA_LOG_LEVEL"))
