"""The payload codec and its key configuration, directly: round trips, rotation, refusals with clear messages."""

from __future__ import annotations

import base64
import os

import pytest
from temporalio.api.common.v1 import Payload

from starter.service.codec import ENCODING, KEY_ID, CodecError, EncryptionCodec, Keyring, load_keyring, new_key_line
from starter.service.connection import encryption_required, payload_codec
from starter.service.settings import Settings


def key(byte: int = 1, size: int = 32) -> str:
    return base64.b64encode(bytes([byte]) * size).decode()


def payload(text: str) -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


def settings(**values) -> Settings:
    defaults = dict(codec_keys=None, codec_active_key=None, codec_key_file="/nonexistent/keys",
                    require_encryption=None, temporal_api_key=None, temporal_tls=None, temporal_tls_cert=None,
                    temporal_tls_key=None, temporal_tls_ca=None, temporal_tls_server_name=None)
    return Settings(_env_file=None, **{**defaults, **values})


async def test_round_trip_hides_the_payload_and_names_the_key():
    codec = EncryptionCodec(Keyring.parse(f"k1:{key()}"))
    [sealed] = await codec.encode([payload('"Zhang Wei"')])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID] == b"k1"
    assert b"Zhang" not in sealed.data and b"json/plain" not in sealed.data
    [plain] = await codec.decode([sealed])
    assert plain == payload('"Zhang Wei"')
    [again] = await codec.encode([payload('"Zhang Wei"')])
    assert again.data != sealed.data  # a fresh nonce every time


async def test_rotation_decrypts_old_keys_and_encrypts_with_the_active_one():
    old = EncryptionCodec(Keyring.parse(f"k1:{key(1)}"))
    [sealed_old] = await old.encode([payload("1")])
    rotated = EncryptionCodec(Keyring.parse(f"k1:{key(1)},k2:{key(2)}", active="k2"))
    [sealed_new] = await rotated.encode([payload("2")])
    assert sealed_new.metadata[KEY_ID] == b"k2"
    assert await rotated.decode([sealed_old, sealed_new]) == [payload("1"), payload("2")]
    with pytest.raises(CodecError, match="key 'k2', which is not configured"):
        await old.decode([sealed_new])


async def test_plain_payloads_pass_and_tampering_is_detected():
    codec = EncryptionCodec(Keyring.parse(f"k1:{key(1)}"))
    assert await codec.decode([payload("7")]) == [payload("7")]  # written before encryption was switched on
    [sealed] = await codec.encode([payload("7")])
    flipped = Payload(metadata=dict(sealed.metadata), data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1]))
    with pytest.raises(CodecError, match="does not authenticate"):
        await codec.decode([flipped])
    same_bytes_other_kid = EncryptionCodec(Keyring.parse(f"k1:{key(1)},k9:{key(1)}"))
    relabelled = Payload(metadata={**dict(sealed.metadata), KEY_ID: b"k9"}, data=sealed.data)
    with pytest.raises(CodecError, match="does not authenticate"):  # the key id is authenticated data
        await same_bytes_other_kid.decode([relabelled])
    keyless = EncryptionCodec(Keyring())
    assert await keyless.encode([payload("7")]) == [payload("7")]
    with pytest.raises(CodecError, match="CXSLA_CODEC_KEYS"):
        await keyless.decode([sealed])


@pytest.mark.parametrize(("spec", "active", "message"), [
    ("", None, "no keys listed"),
    ("k1", None, "is not 'kid:base64key'"),
    (f"k1:{key()},k1:{key(2)}", None, "listed twice"),
    ("k1:not base64!", None, "not valid base64"),
    (f"k1:{key(size=20)}", None, "20 bytes"),
    (f"bad id:{key()}", None, "key id 'bad id'"),
    (f"k1:{key()}", "k2", "active key 'k2' is not among"),
])
def test_bad_key_configuration_is_refused_with_the_reason(spec, active, message):
    with pytest.raises(CodecError, match=message):
        Keyring.parse(spec, active=active)


def test_key_material_never_appears_in_an_error():
    secret = key(7)
    with pytest.raises(CodecError) as raised:
        Keyring.parse(f"k1 {secret}")
    assert secret not in str(raised.value)


def test_keys_from_env_file_or_a_generated_local_file(tmp_path):
    line = new_key_line("file-key")
    (tmp_path / "keys").write_text(f"# comment, with a comma\n{line}\n{new_key_line('older')}\n")
    from_file = load_keyring(settings(codec_key_file=str(tmp_path / "keys")))
    assert from_file is not None and from_file.active == "file-key" and set(from_file.keys) == {"file-key", "older"}
    from_env = load_keyring(settings(codec_keys=f"{line},{new_key_line('k2')}", codec_active_key="k2"))
    assert from_env is not None and from_env.active == "k2"

    target = tmp_path / "data" / "codec-keys"
    assert load_keyring(settings(codec_key_file=str(target))) is None
    created = load_keyring(settings(codec_key_file=str(target)), create=True)
    assert created is not None and created.active and created.active.startswith("local-")
    assert os.stat(target).st_mode & 0o077 == 0  # readable by its owner only
    assert load_keyring(settings(codec_key_file=str(target)), create=True) == created  # kept, not replaced


def test_production_connections_require_a_key():
    assert not encryption_required(settings())
    assert encryption_required(settings(temporal_api_key="k"))
    assert encryption_required(settings(temporal_tls=True))
    assert not encryption_required(settings(temporal_api_key="k", require_encryption=False))
    assert payload_codec(settings()).keyring.active is None  # a laptop without keys: plain, with a warning
    with pytest.raises(CodecError, match="must be encrypted"):
        payload_codec(settings(temporal_api_key="k"))
    assert payload_codec(settings(temporal_api_key="k", codec_keys=new_key_line("p1"))).keyring.active == "p1"
