"""The one way every cx-sla process (worker, CLI, HTTP API, `cxsla up`) connects to Temporal: address and
namespace, TLS / mTLS or a Temporal Cloud API key, and the payload codec built from the same key settings, so
whatever one process encrypts the others can read."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from temporalio.client import Client
from temporalio.envconfig import ClientConfigProfile, ClientConfigTLS
from temporalio.runtime import Runtime
from temporalio.service import TLSConfig

from starter.service.codec import HOW_TO_CONFIGURE, CodecError, EncryptionCodec, Keyring, load_keyring
from starter.service.settings import Settings

if TYPE_CHECKING:  # the workflows and activities are imported by what runs them, not by every client
    from activities.notifications import NotificationSink
    from plugin import CxSlaPlugin


class ConnectionSettingsError(ValueError):
    """Connection settings that cannot work together, named by their environment variables."""


def _read(path: str | None, variable: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConnectionSettingsError(f"{variable}: cannot read {path}: {exc.strerror}") from None


def client_profile(settings: Settings) -> ClientConfigProfile:
    """The settings as the SDK's connection profile; the TLS files are read now, so a missing one stops the
    process at start naming its variable."""
    cert = _read(settings.temporal_tls_cert, "TEMPORAL_TLS_CERT")
    key = _read(settings.temporal_tls_key, "TEMPORAL_TLS_KEY")
    ca = _read(settings.temporal_tls_ca, "TEMPORAL_TLS_CA")
    if bool(cert) != bool(key):
        raise ConnectionSettingsError("mTLS needs both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY")
    detailed = cert or ca or settings.temporal_tls_server_name
    if settings.temporal_tls is False and detailed:
        raise ConnectionSettingsError("TEMPORAL_TLS=false contradicts the TEMPORAL_TLS_* certificate settings")
    tls = None
    if detailed or settings.temporal_tls is not None:
        tls = ClientConfigTLS(disabled=settings.temporal_tls is False, server_name=settings.temporal_tls_server_name,
                              server_root_ca_cert=ca, client_cert=cert, client_private_key=key)
    return ClientConfigProfile(address=settings.temporal_address, namespace=settings.temporal_namespace,
                               api_key=settings.temporal_api_key, tls=tls)


def tls_config(settings: Settings) -> TLSConfig | bool | None:
    """What `Client.connect` gets as `tls`: None (plain, or TLS exactly when an API key is set), False, True
    (system roots, no client certificate) or a TLSConfig."""
    tls = client_profile(settings).to_client_connect_config().get("tls")
    return True if tls == TLSConfig() else tls


def encryption_required(settings: Settings) -> bool:
    """Explicit CXSLA_REQUIRE_ENCRYPTION, else: a cluster reached over TLS or with an API key is production."""
    if settings.require_encryption is not None:
        return settings.require_encryption
    return bool(settings.temporal_tls or settings.temporal_tls_cert or settings.temporal_tls_ca
                or settings.temporal_api_key)


def payload_codec(settings: Settings) -> EncryptionCodec:
    """The codec from the key settings; without keys it encrypts nothing (refused where encryption is required)
    and names the missing key when it meets an encrypted payload."""
    keyring = load_keyring(settings)
    if keyring is None:
        if encryption_required(settings):
            raise CodecError(f"customer data must be encrypted on this cluster but no codec key is configured: "
                             f"{HOW_TO_CONFIGURE} (or CXSLA_REQUIRE_ENCRYPTION=false)")
        keyring = Keyring()
    return EncryptionCodec(keyring)


def plugin(settings: Settings, *, sink: NotificationSink | None = None) -> CxSlaPlugin:
    from plugin import CxSlaPlugin

    return CxSlaPlugin(sink=sink, codec=payload_codec(settings))


async def connect_reader(settings: Settings) -> Client:
    """A client that only reads: payloads decrypted with the settings' keys and read as plain JSON, with none of
    the workflows, activities or models a process that runs or starts them needs."""
    from temporalio.converter import DataConverter, DefaultFailureConverterWithEncodedAttributes

    converter = DataConverter(payload_codec=payload_codec(settings),
                              failure_converter_class=DefaultFailureConverterWithEncodedAttributes)
    return await Client.connect(**client_profile(settings).to_client_connect_config(), data_converter=converter)


async def connect(
    settings: Settings, *, plugins: list | None = None, runtime: Runtime | None = None, lazy: bool = False
) -> Client:
    """Connect with the settings' address, namespace, TLS and API key; plugins default to the codec plugin.
    `lazy`: connect on first use (a server may start before Temporal is reachable and report not ready)."""
    return await Client.connect(
        **client_profile(settings).to_client_connect_config(),
        plugins=plugins if plugins is not None else [plugin(settings)],
        runtime=runtime,
        lazy=lazy,
    )
