"""Inbound webhooks from desk software that cannot shape its payload: a mapping file turns a ticket-created
JSON body into an open-complaint request, and an HMAC signature proves who sent it.

    [sources.helpdesk]
    secret_env = "HELPDESK_WEBHOOK_SECRET"      # HMAC-SHA256 key, read from this environment variable
    signature_header = "X-Signature"            # "sha256=<hex of HMAC(secret, '<timestamp>.' + raw body)>"
    timestamp_header = "X-Timestamp"            # unix seconds when the desk signed; 5 minutes old at most

    [sources.helpdesk.fields]                   # complaint field = dotted path in the body (list index: .0)
    id = "ticket.id"
    severity = "ticket.priority"
    summary = "ticket.subject"
    customer_name = "ticket.requester.name"

    [sources.helpdesk.constants]                # fixed values, also the fallback when a path is absent
    contract = "default"

    [sources.helpdesk.values.severity]          # source value -> complaint value
    urgent = "critical"
    high = "major"
"""

from __future__ import annotations

import hashlib
import hmac
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from activities.notifications import SIGNATURE_HEADER

MappedField = Literal[
    "id", "contract", "severity", "channel", "customer_id", "customer_name", "customer_contact", "summary",
    "received_at",
]
REQUIRED: tuple[MappedField, ...] = ("id", "contract", "severity")
TIMESTAMP_HEADER = "X-Cxsla-Timestamp"
# A captured delivery replayed later than this is refused; also how far a desk's clock may run ahead of ours.
REPLAY_WINDOW_SECONDS = 300


class InboundConfigError(ValueError):
    """A mapping file that cannot be used; the message names the file and key."""


class MappingError(ValueError):
    """A payload the mapping cannot turn into a complaint; names the complaint field and the source path."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class SourceConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    secret_env: str = Field(min_length=1, description="environment variable holding the HMAC-SHA256 key")
    signature_header: str = SIGNATURE_HEADER
    timestamp_header: str = TIMESTAMP_HEADER
    fields: dict[MappedField, str] = Field(default_factory=dict)
    constants: dict[MappedField, str] = Field(default_factory=dict)
    values: dict[MappedField, dict[str, str]] = Field(default_factory=dict)

    @field_validator("fields")
    @classmethod
    def _paths(cls, fields: dict[str, str]) -> dict[str, str]:
        for name, path in fields.items():
            if not path or any(not part for part in path.split(".")):
                raise ValueError(f"{name}: path {path!r} has an empty segment")
        return fields

    @model_validator(mode="after")
    def _covers_required(self) -> SourceConfig:
        missing = [f for f in REQUIRED if f not in self.fields and f not in self.constants]
        if missing:
            raise ValueError(f"no path or constant for {', '.join(missing)}")
        return self


class InboundConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sources: dict[str, SourceConfig] = Field(default_factory=dict)

    @staticmethod
    def load(path: str | Path) -> InboundConfig:
        try:
            data = tomllib.loads(Path(path).read_text())
        except OSError as exc:
            raise InboundConfigError(f"cannot read {path}: {exc.strerror}") from None
        except tomllib.TOMLDecodeError as exc:
            raise InboundConfigError(f"{path}: {exc}") from None
        try:
            return InboundConfig.model_validate(data)
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
            raise InboundConfigError(f"{path}: {problems}") from None


@dataclass(frozen=True)
class InboundSource:
    """A configured source with its secret resolved (at startup, so a missing secret stops the API early)."""

    name: str
    config: SourceConfig
    secret: bytes

    def refusal(self, body: bytes, signature: str | None, timestamp: str | None, now: float) -> str | None:
        """Why this delivery is not the desk's, fresh (None: it is). The signature covers the timestamp, so a
        captured delivery cannot be replayed once the window has passed; a signature of the body alone (the
        scheme before timestamps) is refused with a sentence saying what changed."""
        sig, stamp = self.config.signature_header, self.config.timestamp_header
        scheme = f"{sig} must be sha256=<hex of HMAC-SHA256(secret, '<{stamp}>.' + raw body)>"
        if not signature:
            return f"missing {sig}; {scheme}"
        if not timestamp:
            if _matches(self.secret, body, signature):
                return (f"signatures now cover a timestamp: send {stamp} (unix seconds) and sign "
                        f"'<timestamp>.' + raw body")
            return f"missing {stamp} (unix seconds when the delivery was signed)"
        if not timestamp.strip().isdigit():
            return f"{stamp} must be unix seconds"
        if abs(now - int(timestamp.strip())) > REPLAY_WINDOW_SECONDS:
            return f"{stamp} is more than {REPLAY_WINDOW_SECONDS // 60} minutes from now: a stale or replayed delivery"
        if not _matches(self.secret, timestamp.strip().encode() + b"." + body, signature):
            return f"wrong {sig}; {scheme}"
        return None

    def map(self, body: Any) -> dict[str, Any]:
        """The open-complaint fields this body gives (validated afterwards by OpenComplaint)."""
        mapped: dict[str, Any] = {}
        for name, path in self.config.fields.items():
            found, value = _lookup(body, path)
            if not found or value is None:
                continue
            if name in self.config.values:
                table = self.config.values[name]
                key = _text(value)
                if key not in table:  # the value itself is not repeated: it may be personal
                    known = ", ".join(sorted(table))
                    raise MappingError(name, f"the value at {path} has no entry in values.{name} (known: {known})")
                value = table[key]
            elif isinstance(value, (dict, list)):
                raise MappingError(name, f"{path} is an object or list, not a value")
            elif name != "received_at":
                value = _text(value)
            mapped[name] = value
        for name, value in self.config.constants.items():
            mapped.setdefault(name, value)
        for name in REQUIRED:
            if name not in mapped:
                raise MappingError(name, f"{self.config.fields.get(name, '(no path)')} is missing from the body")
        return mapped


def load_sources(path: str | Path | None) -> dict[str, InboundSource]:
    if not path:
        return {}
    config = InboundConfig.load(path)
    sources = {}
    for name, source in config.sources.items():
        secret = os.environ.get(source.secret_env)
        if not secret:
            raise InboundConfigError(f"{path}: sources.{name}.secret_env: ${source.secret_env} is not set")
        sources[name] = InboundSource(name=name, config=source, secret=secret.encode())
    return sources


def _matches(secret: bytes, signed: bytes, signature: str) -> bool:
    """Constant-time check of `sha256=<hex>` (or bare hex) against HMAC-SHA256(secret, signed)."""
    given = signature.strip().removeprefix("sha256=").lower()
    expected = hmac.new(secret, signed, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), given.encode())


def _lookup(body: Any, path: str) -> tuple[bool, Any]:
    current = body
    for part in path.split("."):
        if isinstance(current, dict) and part in current:
            current = current[part]
        elif isinstance(current, list) and part.isdigit() and int(part) < len(current):
            current = current[int(part)]
        else:
            return False, None
    return True, current


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
