"""AES-GCM payload codec: every payload is encrypted before it reaches Temporal, so no customer data (name,
contact, free text) can leak through any field of a history; the key id travels in the payload's metadata.

Several keys decrypt, one encrypts: rotation is "add the new key everywhere, then make it active", and
complaints written under an older key stay readable as long as that key is listed. Plain (unencrypted)
payloads still decode, so a deployment that starts encrypting keeps its earlier complaints.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

from starter.service.settings import config_entries

if TYPE_CHECKING:
    from starter.service.settings import Settings

ENCODING = b"binary/encrypted"
KEY_ID = "encryption-key-id"
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
HOW_TO_CONFIGURE = "set CXSLA_CODEC_KEYS (kid:base64key,...) or CXSLA_CODEC_KEY_FILE"


class CodecError(ValueError):
    """A key configuration or a payload that cannot be used, with a message that says what to fix."""


@dataclass(frozen=True)
class Keyring:
    """Keys by id; `active` encrypts (None: encrypt nothing, decrypt what the listed keys can)."""

    keys: Mapping[str, bytes] = field(default_factory=dict)
    active: str | None = None

    def __post_init__(self) -> None:
        for kid, key in self.keys.items():
            if not KEY_ID_PATTERN.match(kid):
                raise CodecError(f"key id {kid!r}: use letters, digits, '.', '_' or '-' (at most 64)")
            if len(key) not in (16, 24, 32):
                raise CodecError(f"key {kid!r} is {len(key)} bytes; AES-GCM needs 16, 24 or 32 (32 recommended)")
        if self.active is not None and self.active not in self.keys:
            known = ", ".join(self.keys) or "none"
            raise CodecError(f"active key {self.active!r} is not among the configured keys ({known})")

    @staticmethod
    def parse(spec: str, *, active: str | None = None, source: str = "CXSLA_CODEC_KEYS") -> Keyring:
        """`kid:base64key` entries separated by commas or newlines (`#` starts a comment).

        The active key is `active` when given, else the first entry.
        """
        keys: dict[str, bytes] = {}
        for number, entry in enumerate(config_entries(spec), start=1):
            kid, sep, encoded = entry.partition(":")
            kid, encoded = kid.strip(), encoded.strip()
            if not sep or not kid or not encoded:
                raise CodecError(f"{source}: entry {number} is not 'kid:base64key'")  # never echo key material
            if kid in keys:
                raise CodecError(f"{source}: key id {kid!r} is listed twice")
            try:
                keys[kid] = base64.b64decode(encoded, validate=True)
            except (binascii.Error, ValueError):
                raise CodecError(f"{source}: key {kid!r} is not valid base64") from None
        if not keys:
            raise CodecError(f"{source}: no keys listed")
        try:
            return Keyring(keys=keys, active=active or next(iter(keys)))
        except CodecError as exc:
            raise CodecError(f"{source}: {exc}") from None

    @staticmethod
    def from_file(path: str | Path, *, active: str | None = None) -> Keyring:
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise CodecError(f"cannot read key file {path}: {exc.strerror}") from None
        return Keyring.parse(text, active=active, source=str(path))


def new_key_line(kid: str | None = None) -> str:
    """A fresh 256-bit key as a `kid:base64key` line for CXSLA_CODEC_KEYS or a key file."""
    kid = kid or f"k{secrets.token_hex(4)}"
    if not KEY_ID_PATTERN.match(kid):
        raise CodecError(f"key id {kid!r}: use letters, digits, '.', '_' or '-' (at most 64)")
    return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


class EncryptionCodec(PayloadCodec):
    """Encrypts each whole payload (metadata and data) with the active key; the key id is authenticated too."""

    def __init__(self, keyring: Keyring) -> None:
        self.keyring = keyring
        self._ciphers = {kid: AESGCM(key) for kid, key in keyring.keys.items()}

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]

    def encrypt(self, payload: Payload) -> Payload:
        kid = self.keyring.active
        if kid is None:
            return payload
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._ciphers[kid].encrypt(nonce, payload.SerializeToString(), kid.encode())
        return Payload(metadata={"encoding": ENCODING, KEY_ID: kid.encode()}, data=nonce + sealed)

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # written before encryption was switched on
        kid = payload.metadata.get(KEY_ID, b"").decode(errors="replace")
        cipher = self._ciphers.get(kid)
        if cipher is None:
            known = ", ".join(self._ciphers) or "none"
            raise CodecError(f"payload encrypted with key {kid!r}, which is not configured (known: {known}); "
                             f"{HOW_TO_CONFIGURE}")
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], kid.encode())
        except InvalidTag:
            raise CodecError(f"payload under key {kid!r} does not authenticate (wrong key material?)") from None
        return Payload.FromString(plain)


def load_keyring(settings: Settings, *, create: bool = False) -> Keyring | None:
    """Keys from CXSLA_CODEC_KEYS, else from the key file; `create` writes a new key file when neither exists
    (what `cxsla up` does on a laptop; production passes explicit keys)."""
    if settings.codec_keys:
        return Keyring.parse(settings.codec_keys, active=settings.codec_active_key)
    path = Path(settings.codec_key_file)
    if path.exists():
        return Keyring.from_file(path, active=settings.codec_active_key)
    if not create:
        return None
    path.parent.mkdir(parents=True, exist_ok=True)
    line = new_key_line(f"local-{secrets.token_hex(3)}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("# cx-sla payload keys, kid:base64key per line; the first is active. Keep this file secret.\n")
        handle.write(line + "\n")
    return Keyring.from_file(path, active=settings.codec_active_key)
