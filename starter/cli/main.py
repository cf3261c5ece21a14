"""The `cxsla` entry point: every command group registered on the app, and global options accepted anywhere."""

from __future__ import annotations

import os
import sys

# Each module registers its commands on the app; the order here is the order `cxsla --help` lists them in.
from starter.cli import (  # noqa
    archive,  # noqa: F401 - registers `cxsla archive`
    calendar,
    codec,
    complaint,
    cycle,
    outage,
    plan,
    report,
    service,
    survey,
    token,
)
from starter.cli.app import GLOBAL_FLAGS, GLOBAL_VALUE_OPTIONS, app

# Subcommands whose own option shares a global option's name: after them, the name is theirs.
OWN_OPTIONS = {"simulate": {"--policy"}}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options found after the subcommand to the front, where click expects them."""
    front: list[str] = []
    rest: list[str] = []
    own: set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        own |= OWN_OPTIONS.get(arg, set()) if not arg.startswith("-") else set()
        if name in own:
            rest.append(arg)
        elif name in GLOBAL_VALUE_OPTIONS:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(argv[i : i + 2])
                i += 1
        elif arg in GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="cxsla")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: the Temporal core runtime's threads can abort it after a failed connect.
    os._exit(code)
