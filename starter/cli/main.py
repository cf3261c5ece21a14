"""The `cxsla` entry point: every command group registered on the app, and global options accepted anywhere."""

from __future__ import annotations

import importlib
import os
import sys

from starter.cli.app import GLOBAL_FLAGS, GLOBAL_VALUE_OPTIONS, app

# Each module registers its commands on the app; the order here is the order `cxsla --help` lists them in.
MODULES = ("archive", "calendar", "codec", "complaint", "cycle", "outage", "plan", "report", "service", "survey",
           "token")
# The module of each top-level command: a command loads only its own module (and what that imports).
COMMAND_MODULES = {
    "archive": "archive", "calendar": "calendar", "codec": "codec", "complaint": "complaint", "cycle": "cycle",
    "outage": "outage",
    "plan": "plan", "report": "report", "simulate": "report", "server": "service", "worker": "service",
    "api": "service", "codec-server": "service", "up": "service", "survey": "survey", "token": "token",
}

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


def command_of(argv: list[str]) -> str | None:
    """The top-level command in hoisted arguments (global options and their values first), if any."""
    i = 0
    while i < len(argv):
        name = argv[i].split("=", 1)[0]
        if name in GLOBAL_VALUE_OPTIONS:
            i += 1 if "=" in argv[i] else 2
        elif argv[i].startswith("-"):
            i += 1
        else:
            return argv[i]
    return None


def register(command: str | None) -> None:
    """Import the command's module; every module for anything else (help, a typo: click lists them all)."""
    module = COMMAND_MODULES.get(command or "")
    for name in (module,) if module else MODULES:
        importlib.import_module(f"starter.cli.{name}")


def main() -> None:
    try:
        args = hoist_global_options(sys.argv[1:])
        register(command_of(args))
        app(args=args, prog_name="cxsla")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: the Temporal core runtime's threads can abort it after a failed connect.
    os._exit(code)
