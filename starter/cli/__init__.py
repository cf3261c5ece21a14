"""The `cxsla` command line: `app` holds what every command shares, one module per command group registers its
commands, `main` is the console script."""

from starter.cli.main import main

__all__ = ["main"]
