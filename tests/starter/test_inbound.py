"""The inbound mapping directly: paths, value maps, constants, signature checks, configuration errors."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from starter.service.inbound import (
    InboundConfig,
    InboundConfigError,
    InboundSource,
    MappingError,
    SourceConfig,
    load_sources,
)

SOURCE = SourceConfig(
    secret_env="X", fields={"id": "ticket.id", "severity": "ticket.priority", "summary": "ticket.subject",
                            "customer_contact": "ticket.contacts.0.value", "contract": "ticket.contract"},
    constants={"contract": "default"}, values={"severity": {"1": "critical", "urgent": "critical", "low": "low"}},
)
DESK = InboundSource(name="desk", config=SOURCE, secret=b"s3cret")


def test_paths_value_maps_and_constants_make_an_open_request():
    body = {"ticket": {"id": 42, "priority": 1, "subject": "down", "contacts": [{"value": "x@y.cn"}]}}
    assert DESK.map(body) == {"id": "42", "severity": "critical", "summary": "down", "customer_contact": "x@y.cn",
                              "contract": "default"}
    body["ticket"]["contract"] = "always-on"  # a path wins over the constant when present
    assert DESK.map(body)["contract"] == "always-on"


@pytest.mark.parametrize(("body", "message"), [
    ({"ticket": {"id": 1, "priority": "p9"}}, "severity: the value at ticket.priority has no entry in values.severity"),
    ({"ticket": {"priority": "low"}}, "id: ticket.id is missing"),
    ({"ticket": {"id": {"nested": 1}, "priority": "low"}}, "id: ticket.id is an object or list"),
    ([1, 2], "id: ticket.id is missing"),
])
def test_unmappable_bodies_name_the_field_and_path(body, message):
    with pytest.raises(MappingError, match=message):
        DESK.map(body)


def _signed(body: bytes, stamp: int, secret: bytes = b"s3cret") -> str:
    return hmac.new(secret, str(stamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def _refused(body: bytes, signature: str | None, timestamp: str | None, now: float) -> str:
    """Why the desk refuses this delivery; a delivery it accepts fails the test here."""
    why = DESK.refusal(body, signature, timestamp, now)
    assert why is not None, "the delivery was accepted"
    return why


def test_signature_is_hmac_sha256_of_the_timestamp_and_raw_body_within_five_minutes():
    body, now = b'{"ticket": {}}', 1_800_000_000
    digest = _signed(body, now - 60)
    assert DESK.refusal(body, f"sha256={digest}", str(now - 60), now) is None
    assert DESK.refusal(body, digest.upper(), str(now - 60), now) is None
    assert "wrong X-Cxsla-Signature" in _refused(body + b" ", f"sha256={digest}", str(now - 60), now)
    assert "wrong" in _refused(body, f"sha256={digest}", str(now - 61), now)  # the timestamp is signed
    assert "missing X-Cxsla-Signature" in _refused(body, None, str(now), now)
    assert "wrong" in _refused(body, "sha256=", str(now), now)
    # a captured delivery replayed six minutes later, and a desk clock far ahead
    old = _signed(body, now - 360)
    assert "more than 5 minutes from now" in _refused(body, old, str(now - 360), now)
    assert "more than 5 minutes" in _refused(body, _signed(body, now + 360), str(now + 360), now)
    assert "unix seconds" in _refused(body, digest, "yesterday", now)


def test_a_signature_of_the_body_alone_is_refused_with_what_changed():
    body = b'{"ticket": {}}'
    body_only = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert "signatures now cover a timestamp: send X-Cxsla-Timestamp" in _refused(body, body_only, None, 0)
    assert "missing X-Cxsla-Timestamp" in _refused(body, "sha256=00", None, 0)


def test_configuration_errors_name_file_and_key(tmp_path, monkeypatch):
    path = tmp_path / "inbound.toml"
    path.write_text('[sources.desk]\nsecret_env = "DESK_SECRET"\n[sources.desk.fields]\nid = "t.id"\n')
    with pytest.raises(InboundConfigError, match="sources.desk: .*no path or constant for contract, severity"):
        InboundConfig.load(path)
    path.write_text('[sources.desk]\nsecret_env = "DESK_SECRET"\n[sources.desk.fields]\nid = "t.id"\n'
                    'severity = "t.p"\ncontract = "t..c"\n')
    with pytest.raises(InboundConfigError, match="empty segment"):
        InboundConfig.load(path)
    path.write_text('[sources.desk]\nsecret_env = "DESK_SECRET"\n[sources.desk.fields]\nid = "t.id"\n'
                    'severity = "t.p"\n[sources.desk.constants]\ncontract = "default"\n')
    monkeypatch.delenv("DESK_SECRET", raising=False)
    with pytest.raises(InboundConfigError, match=r"\$DESK_SECRET is not set"):
        load_sources(path)
    monkeypatch.setenv("DESK_SECRET", "k")
    assert load_sources(path)["desk"].secret == b"k"
