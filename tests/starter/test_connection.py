"""Production connection settings end to end: the dev server behind a real mTLS-terminating proxy (certificates
made here), reached by the worker, the client facade and the API through starter.service.connection; the wrong or a
missing client certificate is refused."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
import threading
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from temporalio.service import TLSConfig

from sla.commands import OpenComplaint
from starter.client.complaints import ComplaintClient
from starter.client.errors import CxSlaError
from starter.service.connection import ConnectionSettingsError, tls_config
from starter.service.settings import Settings
from tests.helpers.service import Service, Tokens, service_settings

SERVER_NAME = "temporal.cxsla.test"


def _cert(subject: str, key, issuer: tuple | None = None, *, ca: bool = False, server: bool = False):
    now = datetime.now(timezone.utc)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    issuer_name, issuer_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(minutes=5))
               .not_valid_after(now + timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if server:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def _write(path, cert=None, key=None) -> str:
    if cert is not None:
        path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    else:
        path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(path)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("pki")
    ca_key, rogue_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _cert("cxsla test CA", ca_key, ca=True)
    rogue_ca = _cert("rogue CA", rogue_key, ca=True)
    server_key, client_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    files = {
        "ca": _write(tmp / "ca.pem", ca),
        "server_cert": _write(tmp / "server.pem", _cert(SERVER_NAME, server_key, (ca, ca_key), server=True)),
        "server_key": _write(tmp / "server.key", key=server_key),
        "client_cert": _write(tmp / "client.pem", _cert("cxsla-worker", client_key, (ca, ca_key))),
        "client_key": _write(tmp / "client.key", key=client_key),
        "rogue_cert": _write(tmp / "rogue.pem", _cert("intruder", client_key, (rogue_ca, rogue_key))),
    }
    return files


@pytest.fixture(scope="module")
def mtls_address(dev_env, pki):
    """A TLS proxy demanding a client certificate from our CA, piping to the dev server (HTTP/2 via ALPN). It
    runs on its own thread and loop, so a test blocked on something else never starves it."""
    upstream_host, upstream_port = dev_env.client.service_client.config.target_host.rsplit(":", 1)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["server_cert"], pki["server_key"])
    context.load_verify_locations(pki["ca"])
    context.verify_mode = ssl.CERT_REQUIRED
    context.set_alpn_protocols(["h2"])

    async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(upstream_host, int(upstream_port))
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    loop = asyncio.new_event_loop()
    server = loop.run_until_complete(asyncio.start_server(handle, "127.0.0.1", 0, ssl=context))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    async def shutdown() -> None:
        server.close()
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def mtls(pki, **extra) -> dict:
    return {"temporal_tls_cert": pki["client_cert"], "temporal_tls_key": pki["client_key"],
            "temporal_tls_ca": pki["ca"], "temporal_tls_server_name": SERVER_NAME, **extra}


def test_tls_settings_become_one_tls_config(pki):
    base = dict(_env_file=None, temporal_tls=None, temporal_tls_cert=None, temporal_tls_key=None,
                temporal_tls_ca=None, temporal_tls_server_name=None, temporal_api_key=None)
    config = tls_config(Settings(**{**base, **mtls(pki)}))
    assert isinstance(config, TLSConfig) and config.domain == SERVER_NAME
    assert config.client_cert is not None
    assert config.client_cert.startswith(b"-----BEGIN CERTIFICATE") and config.client_private_key
    assert tls_config(Settings(**base)) is None  # plain, or TLS exactly when an API key is set (SDK default)
    assert tls_config(Settings(**{**base, "temporal_tls": True})) is True
    with pytest.raises(ConnectionSettingsError, match="both TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY"):
        tls_config(Settings(**{**base, "temporal_tls_cert": pki["client_cert"]}))
    with pytest.raises(ConnectionSettingsError, match="TEMPORAL_TLS_CA: cannot read"):
        tls_config(Settings(**{**base, "temporal_tls_ca": "/nonexistent/ca.pem"}))
    with pytest.raises(ConnectionSettingsError, match="contradicts"):
        tls_config(Settings(**{**base, **mtls(pki), "temporal_tls": False}))


async def test_worker_client_and_api_work_over_mtls_and_strangers_are_refused(mtls_address, pki, tmp_path):
    tokens = Tokens()
    settings = service_settings(mtls_address, tmp_path, tokens, **mtls(pki))
    with Service(settings) as service:  # worker and API both connect through the proxy
        complaints = await ComplaintClient.connect(settings=settings)
        opened = await complaints.open(OpenComplaint(id="mtls-1", contract="always-on", severity="normal",
                                                     customer_name="Chen Jing"))
        assert opened.created and opened.status.state.value == "received"
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            response = await http.post("/v1/complaints/mtls-1/acknowledge", headers=Tokens.header(tokens.agent))
            assert response.status_code == 200, response.text
            assert (await http.get("/readyz")).json() == {"status": "ready"}

    for wrong in ({"temporal_tls_cert": pki["rogue_cert"]},  # a client certificate from another CA
                  {"temporal_tls_cert": None, "temporal_tls_key": None}):  # no client certificate
        stranger = settings.model_copy(update=wrong)
        with pytest.raises(CxSlaError, match="cannot connect to Temporal"):
            client = await ComplaintClient.connect(settings=stranger)
            await client.status("mtls-1")  # a lazy handshake failure shows on first use
