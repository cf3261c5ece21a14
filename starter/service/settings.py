"""Settings from the environment (and `.env`), shared by the worker, the CLI, the API and the server launcher.

cx-sla's own settings are the fields below under the `CXSLA_` prefix (`task_queue` is CXSLA_TASK_QUEUE). The
connection to Temporal (address, namespace, TLS, API key) is read the way the `temporal` CLI and every SDK read
it, by `temporalio.envconfig`: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, and the
profiles of a `temporal.toml` config file, so one environment configures both.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any, Literal, cast

from pydantic import Field, SecretStr, TypeAdapter, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from temporalio.envconfig import ClientConfigProfile, DataSource

PREFIX = "CXSLA_"
# Our shorter names for the TLS files, documented before cx-sla read the SDK's; ours win when both are set.
TLS_FILE_NAMES = {"TEMPORAL_TLS_CERT": "TEMPORAL_TLS_CLIENT_CERT_PATH",
                  "TEMPORAL_TLS_KEY": "TEMPORAL_TLS_CLIENT_KEY_PATH",
                  "TEMPORAL_TLS_CA": "TEMPORAL_TLS_SERVER_CA_CERT_PATH"}
# The fields the Temporal connection fills, and the variable that names each in messages.
TEMPORAL_FIELDS = {"temporal_address": "TEMPORAL_ADDRESS", "temporal_namespace": "TEMPORAL_NAMESPACE",
                   "temporal_api_key": "TEMPORAL_API_KEY", "temporal_tls": "TEMPORAL_TLS",
                   "temporal_tls_cert": "TEMPORAL_TLS_CERT", "temporal_tls_key": "TEMPORAL_TLS_KEY",
                   "temporal_tls_ca": "TEMPORAL_TLS_CA", "temporal_tls_server_name": "TEMPORAL_TLS_SERVER_NAME"}



def config_entries(text: str) -> list[str]:
    """Non-empty entries of a config text (keys, tokens): one per line or comma-separated; `#` comments to the
    line's end."""
    return [e.strip() for line in text.splitlines() for e in line.split("#", 1)[0].split(",") if e.strip()]

class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, env_file=".env", extra="ignore")

    # Connection (starter.service.connection), from the TEMPORAL_* variables: see TemporalProfileSource.
    temporal_address: str = "localhost:7233"
    temporal_namespace: str = "default"
    temporal_tls: bool | None = None  # None: on exactly when an API key is set
    temporal_tls_cert: str | None = None  # files: client certificate and key (mTLS), CA to verify the server
    temporal_tls_key: str | None = None
    temporal_tls_ca: str | None = None
    temporal_tls_server_name: str | None = None
    temporal_api_key: str | None = None

    policy: str | None = None
    task_queue: str = "cxsla"
    metrics_port: int = 9464
    metrics_host: str = "127.0.0.1"
    webhook_url: str | None = None
    webhook_secret: str | None = None
    # E-mail notifications (activities.email.SmtpSink), on when CXSLA_SMTP_HOST is set; see _smtp_complete.
    smtp_host: str | None = None
    smtp_port: int | None = Field(None, ge=1, le=65535)  # 587 / 465
    smtp_security: Literal["starttls", "tls", "none"] = "starttls"
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str | None = None
    smtp_to: Annotated[tuple[str, ...], NoDecode] = ()
    smtp_routes: Annotated[dict[str, tuple[str, ...]], NoDecode] = Field(default_factory=dict)
    # The satisfaction survey e-mailed to the customer (activities/survey.py) with a signed link to the API's page
    # (starter/api/survey.py): on in the worker with SMTP, the secret and the API's public URL; the API needs the
    # same secret. Worker and API must share it.
    survey_secret: SecretStr | None = None
    survey_url: str | None = None  # the API as the customer reaches it, e.g. https://cx.example.cn
    survey_link_days: int = Field(14, ge=1, le=90)  # how long a survey link is valid
    log_level: str = "INFO"
    report_dir: str = ".data/reports"
    # The archive of finished complaints, plans, cycles and outages (activities/archive_store.py): SQLite by default,
    # postgresql+psycopg://user:password@host/db in production.
    archive_url: str = "sqlite:///.data/archive.sqlite"
    # Seconds a stopping worker lets running activities finish (deliveries, a cycle's collection) before
    # cancelling them; keep it below the orchestrator's grace period (Kubernetes: terminationGracePeriodSeconds).
    worker_shutdown_grace: float = Field(30.0, ge=0)
    # Worker capacity (deploy/README.md, "Sizing"): how many complaints stay cached between their wake-ups, how many
    # workflow and activity tasks run at once, how many pollers ask the server for each, and how long a task waits
    # on this worker's sticky queue before the server hands it to any worker.
    worker_max_cached_workflows: int = Field(2_000, ge=0)
    worker_workflow_tasks: int = Field(100, ge=1)
    worker_activities: int = Field(200, ge=1)
    worker_workflow_pollers: int = Field(8, ge=2)
    worker_activity_pollers: int = Field(8, ge=1)
    worker_sticky_timeout: float = Field(10.0, gt=0)
    # Seconds between the worker's visibility counts (open/at-risk gauges); 0 turns the collector off.
    visibility_metrics_interval: float = Field(30.0, ge=0)
    # The worker creates (or updates) the assessment Schedules of every contract and cadence when it starts.
    schedule_cycles: bool = True

    # Payload encryption (starter.service.codec).
    codec_keys: str | None = None
    codec_active_key: str | None = None
    codec_key_file: str = ".data/codec-keys"
    # None: required whenever the connection uses TLS or an API key (a production cluster).
    require_encryption: bool | None = None

    # HTTP API (starter.api) and codec server (starter.service.codec_server).
    api_host: str = "127.0.0.1"
    api_port: int = 8080
    api_tokens: str | None = None
    # The default file is read when it exists (`cxsla up` creates it with a first admin token).
    api_tokens_file: str = ".data/api-tokens"
    # The CLI's own token (CXSLA_TOKEN): whom its actions record as `by`, checked against the hashes above.
    token: SecretStr | None = None
    inbound_config: str | None = None
    codec_server_host: str = "127.0.0.1"
    codec_server_port: int = 8081
    codec_cors_origins: str = "http://127.0.0.1:8233,http://localhost:8233"

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, TemporalProfileSource(settings_cls, dotenv_settings), env_settings, dotenv_settings, \
            file_secret_settings

    def __init__(self, **values: Any) -> None:
        try:
            super().__init__(**values)
        except ValidationError as exc:  # name the variable people set, not the field behind it
            raise ValidationError.from_exception_data(type(self).__name__, cast(Any, [  # msg, url kept
                {**error, "loc": (self.environment_name(str(error["loc"][0])), *error["loc"][1:])}
                if error["loc"] else error for error in exc.errors()])) from None

    @classmethod
    def environment_name(cls, field: str) -> str:
        return TEMPORAL_FIELDS.get(field) or (PREFIX + field.upper() if field in cls.model_fields else field)

    @classmethod
    def environment_names(cls) -> frozenset[str]:
        """Every environment variable cx-sla documents (the SDK's own TEMPORAL_* names are read too)."""
        return frozenset([*map(cls.environment_name, cls.model_fields), *TLS_FILE_NAMES.values()])

    @property
    def smtp_port_or_default(self) -> int:
        return self.smtp_port or (465 if self.smtp_security == "tls" else 587)

    @field_validator("archive_url")
    @classmethod
    def _archive_url(cls, value: str) -> str:
        """Checked by its scheme alone: every CLI command reads the settings, and SQLAlchemy is not for all of them
        to import."""
        scheme = _DATABASE_URL.match(value)
        if scheme is None:
            raise ValueError("not a database URL (sqlite:///path or postgresql+psycopg://user:password@host/db)")
        if scheme.group(1) not in ("sqlite", "postgresql"):
            raise ValueError(f"{scheme.group(1)!r} is not supported: use sqlite or postgresql")
        return value

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


_DATABASE_URL = re.compile(r"([a-z][a-z0-9]*)(\+[a-z0-9_]+)?://")
_ADDRESS = re.compile(r"[^@\s,;<>\"()\[\]]+@[^@\s,;<>\"()\[\]]+")  # a bare address, no display name
_ROUTE_TARGET = re.compile(r"\w[\w.-]*")  # the policy's ladder targets: team-lead, 主管, ...
ROUTES_FORMAT = ("target=address[;address...] entries separated by commas, "
                 "e.g. team-lead=tl@x.cn,supervisor=a@x.cn;b@x.cn")


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


class TemporalProfileSource(PydanticBaseSettingsSource):
    """The TEMPORAL_* fields as `temporalio.envconfig` loads them from the environment, `.env` and the `temporal`
    CLI's config file (profile TEMPORAL_PROFILE), with our shorter TLS file names mapped onto the SDK's."""

    def __init__(self, settings_cls: type[BaseSettings], dotenv: PydanticBaseSettingsSource) -> None:
        super().__init__(settings_cls)
        self.dotenv = dotenv

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # everything is loaded at once in __call__

    def __call__(self) -> dict[str, Any]:
        from_file = getattr(self.dotenv, "env_vars", {})
        env = {name.upper(): value for name, value in from_file.items()
               if value is not None and name.upper().startswith("TEMPORAL_")}
        env.update(os.environ)
        env.update({sdk: env[ours] for ours, sdk in TLS_FILE_NAMES.items() if env.get(ours)})
        profile = ClientConfigProfile.load(profile=env.get("TEMPORAL_PROFILE"), override_env_vars=env)
        tls = profile.tls
        values: dict[str, Any] = {
            "temporal_address": profile.address or None,
            "temporal_namespace": profile.namespace or None,
            "temporal_api_key": profile.api_key or None,
        }
        if tls is not None:
            values |= {
                "temporal_tls": None if tls.disabled is None else not tls.disabled,
                "temporal_tls_server_name": tls.server_name,
                "temporal_tls_cert": _file(tls.client_cert, "TEMPORAL_TLS_CERT"),
                "temporal_tls_key": _file(tls.client_private_key, "TEMPORAL_TLS_KEY"),
                "temporal_tls_ca": _file(tls.server_root_ca_cert, "TEMPORAL_TLS_CA"),
            }
        if env.get("TEMPORAL_TLS"):  # read as every other boolean setting (yes/no/on/off too), refused if not one
            try:
                values["temporal_tls"] = TypeAdapter(bool).validate_python(env["TEMPORAL_TLS"])
            except ValidationError:
                raise ValueError(f"TEMPORAL_TLS: {env['TEMPORAL_TLS']!r} is not true or false") from None
        return {name: value for name, value in values.items() if value is not None}


def _file(source: DataSource | None, variable: str) -> str | None:
    """A TLS file's path; certificates given inline (the SDK's *_DATA variables) are refused, naming ours."""
    if source is None or isinstance(source, Path):
        return str(source) if source else None
    raise ValueError(f"{variable}: give the certificate as a file (inline *_DATA certificates are not supported)")
