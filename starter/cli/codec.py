"""`cxsla codec ...`: payload encryption keys."""

from __future__ import annotations

import sys

import typer

from starter.cli.app import app, fail

codec_app = typer.Typer(no_args_is_help=True, help="Payload encryption keys.")
app.add_typer(codec_app, name="codec")


@codec_app.command("new-key")
def codec_new_key(kid: str = typer.Option(None, "--id", help="Key id (default: random).")) -> None:
    """Print a new AES-256 key as `kid:base64` for CXSLA_CODEC_KEYS or a key file."""
    from starter.service.codec import new_key_line

    try:
        sys.stdout.write(new_key_line(kid) + "\n")
    except ValueError as exc:
        fail(str(exc), 2)
