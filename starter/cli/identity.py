"""Who the CLI acts as. An action (a command that changes a complaint, plan, outage, cycle or calendar) runs under
the principal of `CXSLA_TOKEN`, checked against the same token hashes as the API (CXSLA_API_TOKENS,
CXSLA_API_TOKENS_FILE), so its events record that identity as `by` and the API's role rules apply: an agent does not
resolve or extend. Without a token the CLI acts as `local-admin` only against the embedded dev server that
`cxsla up` runs from this directory: `up` writes a marker with its address and process id (UP_MARKER), and the
marker counts only when this user wrote it, its process is alive and still a `cxsla up`, and the address is the one
the CLI talks to. Anything else is refused before Temporal is called. Reads (show, list) need no identity: whoever
reaches Temporal can read it, so a token would protect nothing there.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from starter.service.settings import Settings
from starter.service.tokens import Principal, Role, TokenConfigError, TokenStore

UP_MARKER = ".data/cxsla-up.json"
LOCAL_ADMIN = Principal("local-admin", Role.ADMIN)


class Refused(Exception):
    """An action not taken, with the sentence that says why; `code` is the CLI's exit code (2: a bad option)."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _loopback(address: str) -> str:
    host, _, port = address.rpartition(":")
    return f"{'127.0.0.1' if host in ('localhost', '127.0.0.1', '[::1]', '::1') else host}:{port}"


def write_up_marker(address: str, path: str | Path = UP_MARKER) -> Path:
    """Record that this process (`cxsla up`) runs the dev server at `address`; readable by its owner only."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump({"address": _loopback(address), "pid": os.getpid()}, handle)
    return path


def remove_up_marker(path: str | Path = UP_MARKER) -> None:
    """Forget the marker if it is still this process's."""
    path = Path(path)
    try:
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def _alive_up(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: not ours to trust
        return False
    try:
        words = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return True  # no /proc: the live pid is all there is to go on
    return any(w.endswith(b"cxsla") for w in words) and b"up" in words


def embedded_dev_server(address: str, path: str | Path = UP_MARKER) -> bool:
    """Whether `address` is the dev server a live `cxsla up` of this user started from this directory."""
    path = Path(path)
    try:
        if path.stat().st_uid != os.getuid():
            return False
        marker = json.loads(path.read_text())
        return marker.get("address") == _loopback(address) and _alive_up(int(marker["pid"]))
    except (OSError, ValueError, KeyError, TypeError):
        return False


def principal_for(address: str, settings: Settings | None = None) -> Principal:
    """The principal the CLI acts as against `address` (module docstring); Refused when there is none."""
    settings = settings or Settings()
    if settings.token is not None:
        try:
            principal = TokenStore.from_settings(settings).authenticate(settings.token.get_secret_value())
        except TokenConfigError as exc:
            raise Refused(f"cannot check CXSLA_TOKEN: {exc}") from None
        if principal is None:
            raise Refused("CXSLA_TOKEN is not a known token (revoked or mistyped); the API's token hashes "
                          "(CXSLA_API_TOKENS, CXSLA_API_TOKENS_FILE) decide who the CLI acts as")
        return principal
    if embedded_dev_server(address):
        return LOCAL_ADMIN
    raise Refused(f"who is acting? set CXSLA_TOKEN to your token (`cxsla token new`); without one the CLI acts only "
                  f"on the dev server `cxsla up` runs from this directory, and {address} is not it")


def authorise(principal: Principal, needed: Role, by: str | None) -> str:
    """The identity the action records; Refused when the role is too low or `--by` names someone else."""
    if not principal.role.allows(needed):
        raise Refused(f"{principal.identity} has role {principal.role.value}; this needs {needed.value} or higher")
    if by is not None and by != principal.identity:
        raise Refused(f"--by: you act as {principal.identity}, and --by may only repeat that name (events record "
                      f"who acted, from CXSLA_TOKEN)", 2)
    return principal.identity
