"""Bearer tokens for the HTTP API and the codec server, configured only as hashes.

A token is 256 random bits, shown once by `cxsla token new`; the configuration holds one line per token,
`identity role sha256:<hex>`. A fast hash is enough for secrets of that entropy (nothing to guess; password
stretching protects low-entropy secrets), and comparison is constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import structlog

from starter.service.settings import Settings, config_entries

log = structlog.get_logger("cxsla.tokens")

TOKEN_PREFIX = "cxsla_"
MIN_TOKEN_LENGTH = 24
IDENTITY_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@:-]{0,99}$")
HASH_PATTERN = re.compile(r"^sha256:([0-9a-f]{64})$")


class Role(str, Enum):
    """Each role may do what the ones before it may."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    def allows(self, needed: Role) -> bool:
        order = list(Role)
        return order.index(self) >= order.index(needed)


# Commands that change a complaint's outcome or commitments: supervisors and admins only (API and CLI alike).
SUPERVISOR_COMMANDS = frozenset({"resolve", "extend", "reopen", "reclassify", "withdraw"})


def role_for_command(name: str) -> Role:
    return Role.SUPERVISOR if name in SUPERVISOR_COMMANDS else Role.AGENT


@dataclass(frozen=True)
class Principal:
    """Who a request acts as: the identity is what complaint events record in `by`."""

    identity: str
    role: Role


class TokenConfigError(ValueError):
    """A token configuration line that cannot be used (names the source and line)."""


def new_token() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


def config_line(identity: str, role: Role, token: str) -> str:
    """The line to put in CXSLA_API_TOKENS_FILE (or CXSLA_API_TOKENS) for `token`."""
    if not IDENTITY_PATTERN.match(identity):
        raise TokenConfigError(f"identity {identity!r}: letters, digits and . _ @ : - only (at most 100)")
    if len(token) < MIN_TOKEN_LENGTH:
        raise TokenConfigError(f"a token needs at least {MIN_TOKEN_LENGTH} characters; use `cxsla token new`")
    return f"{identity} {role.value} {hash_token(token)}"


def _open_tokens_file(path: str | Path, mode: int):
    """The tokens file opened for writing with `mode` (O_EXCL or O_APPEND); a file it creates is readable by its
    owner only and starts with a comment saying what its lines are."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o600)
    handle = os.fdopen(fd, "a" if mode & os.O_APPEND else "w")
    if os.fstat(fd).st_size == 0:
        handle.write("# cx-sla API tokens: identity role sha256:<hex>; add lines with `cxsla token new --write`\n")
    return handle


class TokenStore:
    def __init__(self, entries: Iterable[tuple[bytes, Principal]] = ()) -> None:
        self._entries = list(entries)

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def parse(text: str, *, source: str = "CXSLA_API_TOKENS") -> TokenStore:
        """Lines (or comma-separated entries) `identity role sha256:<hex>`; `#` starts a comment."""
        entries: list[tuple[bytes, Principal]] = []
        for number, line in enumerate(config_entries(text), start=1):
            where = f"{source} entry {number}"
            parts = line.split()
            if len(parts) != 3:
                raise TokenConfigError(f"{where}: expected 'identity role sha256:<hex>', got {len(parts)} fields")
            identity, role, digest = parts
            if not IDENTITY_PATTERN.match(identity):
                raise TokenConfigError(f"{where}: identity {identity!r} has characters other than . _ @ : -")
            try:
                role_ = Role(role)
            except ValueError:
                raise TokenConfigError(f"{where}: role {role!r} is not one of agent, supervisor, admin") from None
            match = HASH_PATTERN.match(digest)
            if not match:
                raise TokenConfigError(f"{where}: {digest[:12]!r}… is not sha256:<64 hex digits> (never put a "
                                       f"token itself here; `cxsla token hash` prints the line)")
            entries.append((bytes.fromhex(match.group(1)), Principal(identity, role_)))
        return TokenStore(entries)

    @staticmethod
    def from_settings(settings: Settings) -> TokenStore:
        entries: list[tuple[bytes, Principal]] = []
        if settings.api_tokens:
            entries += TokenStore.parse(settings.api_tokens)._entries
        path = Path(settings.api_tokens_file)
        explicit = "api_tokens_file" in settings.model_fields_set
        if explicit or path.exists():
            try:
                text = path.read_text()
            except OSError as exc:
                raise TokenConfigError(f"cannot read {path}: {exc.strerror}") from None
            entries += TokenStore.parse(text, source=str(path))._entries
        return TokenStore(entries)

    @staticmethod
    def create_file(path: str | Path, identity: str, role: Role) -> str:
        """Write a new token file with one token (refuses to overwrite); returns the token, shown once."""
        token = new_token()
        with _open_tokens_file(path, os.O_EXCL) as handle:
            handle.write(config_line(identity, role, token) + "\n")
        return token

    @staticmethod
    def add_to_file(path: str | Path, identity: str, role: Role) -> tuple[str, str]:
        """Append a new token's line to `path` (created 0600 if missing); returns the token, shown once, and the
        line. An identity the file already has is refused: it would leave two tokens acting as one person."""
        path = Path(path)
        try:
            text = path.read_text() if path.exists() else ""
        except OSError as exc:
            raise TokenConfigError(f"cannot read {path}: {exc.strerror}") from None
        existing = TokenStore.parse(text, source=str(path))
        if any(principal.identity == identity for _, principal in existing._entries):
            raise TokenConfigError(f"{path} already has a token for {identity}; remove its line to replace it, "
                                   f"or choose another identity")
        token = new_token()
        line = config_line(identity, role, token)
        with _open_tokens_file(path, os.O_APPEND) as handle:
            handle.write(("\n" if text and not text.endswith("\n") else "") + line + "\n")
        return token, line

    def authenticate(self, token: str) -> Principal | None:
        digest = hashlib.sha256(token.encode()).digest()
        found = None
        for expected, principal in self._entries:  # no early exit: the time does not depend on which matched
            if hmac.compare_digest(digest, expected):
                found = principal
        return found


class ReloadingTokens:
    """The configured tokens, re-read when the tokens file changes, so adding or revoking a token needs no
    restart. A request looks at the file's mtime and size at most every `check_every` seconds (one stat);
    `reload()` (SIGHUP) re-reads at once. A file that no longer parses leaves the previous tokens in force and
    logs why, so a half-edited file never locks everyone out."""

    def __init__(self, settings: Settings, *, check_every: float = 2.0) -> None:
        self._settings = settings
        self._path = Path(settings.api_tokens_file)
        self._check_every = check_every
        self._signature = self._stat()
        self._store = TokenStore.from_settings(settings)  # an invalid configuration stops the process at start
        self._checked = time.monotonic()

    def __len__(self) -> int:
        return len(self._store)

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self._path.stat()
        except OSError:
            return None
        return stat.st_mtime_ns, stat.st_size

    def reload(self) -> bool:
        """Re-read the configuration now; False (and the old tokens kept) when it is invalid."""
        self._signature = self._stat()
        self._checked = time.monotonic()
        try:
            store = TokenStore.from_settings(self._settings)
        except TokenConfigError as exc:
            log.error("tokens file not reloaded; the previous tokens stay in force", reason=str(exc))
            return False
        log.info("tokens reloaded", path=str(self._path), tokens=len(store))
        self._store = store
        return True

    def _reload_if_changed(self) -> None:
        now = time.monotonic()
        if now - self._checked < self._check_every:
            return
        self._checked = now
        if self._stat() != self._signature:
            self.reload()

    def authenticate(self, token: str) -> Principal | None:
        self._reload_if_changed()
        return self._store.authenticate(token)
