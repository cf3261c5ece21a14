"""`cxsla token ...`: make API tokens, or hash one for the configuration."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from starter.cli.app import app, fail

token_app = typer.Typer(no_args_is_help=True, help="API tokens: make one, or hash one for the configuration.")
app.add_typer(token_app, name="token")


@token_app.command("new")
def token_new(
    role: str = typer.Option(..., help="agent|supervisor|admin"),
    identity: str = typer.Option(..., help="Who uses it; recorded as `by` in complaint events."),
    write: Path = typer.Option(None, "--write", metavar="PATH",
                               help="Also append the line to this tokens file (created with mode 0600); a running "
                                    "API picks it up within seconds."),
) -> None:
    """Make a token: prints the token (once; give it to its user) and the line for CXSLA_API_TOKENS_FILE."""
    from starter.service.tokens import TokenConfigError, TokenStore, config_line, new_token

    role_ = _role(role)
    try:
        if write is None:
            token = new_token()
            line = config_line(identity, role_, token)
        else:
            token, line = TokenStore.add_to_file(write, identity, role_)
    except TokenConfigError as exc:
        fail(str(exc), 2)
    except OSError as exc:
        fail(f"cannot write {write}: {exc.strerror}", 1)
    sys.stdout.write(f"token: {token}\nconfig: {line}\n")
    if write is not None:
        sys.stdout.write(f"added to {write}\n")


@token_app.command("hash")
def token_hash(
    role: str = typer.Option(..., help="agent|supervisor|admin"),
    identity: str = typer.Option(..., help="Who uses it."),
) -> None:
    """Read a token on stdin and print its configuration line (the token itself is never stored)."""
    from starter.service.tokens import config_line

    token = sys.stdin.readline().strip()
    try:
        sys.stdout.write(config_line(identity, _role(role), token) + "\n")
    except ValueError as exc:
        fail(str(exc), 2)


def _role(value: str):
    from starter.service.tokens import Role

    try:
        return Role(value)
    except ValueError:
        fail(f"--role {value!r}: one of agent, supervisor, admin", 2)
