"""README stands on its own: its command list names every `cxsla` command and subcommand, every `cxsla ...`
command it mentions exists, and it links nothing a clone does not have."""

from __future__ import annotations

import re
from pathlib import Path

import typer.core
import typer.main
from typer.testing import CliRunner

from starter.cli.main import app, register

register(None)  # every command group, as `cxsla --help` loads them

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
GLOBAL_VALUE_OPTIONS = {"--address", "--namespace", "--task-queue", "--policy"}


def commands() -> dict[str, set[str]]:
    """Each top-level command with its subcommands (empty for a command that is not a group), as `--help` lists
    them."""
    root = typer.main.get_command(app)
    assert isinstance(root, typer.core.TyperGroup)
    found = {name: set(getattr(command, "commands", {})) for name, command in root.commands.items()}
    runner = CliRunner()
    shown = runner.invoke(app, ["--help"], prog_name="cxsla", terminal_width=200)
    assert shown.exit_code == 0, shown.output
    for name, subcommands in found.items():
        assert name in shown.output, f"`cxsla --help` does not list {name}"
        if subcommands:
            group = runner.invoke(app, [name, "--help"], prog_name="cxsla", terminal_width=200)
            assert group.exit_code == 0, group.output
            assert all(sub in group.output for sub in subcommands), (name, group.output)
    return found


def readme_command_list() -> dict[str, set[str]]:
    """The `- `group a|b|c`` lines after README's "Commands (" paragraph start."""
    block = README[README.index("\n- ", README.index("\nCommands (")):]
    block = block[: block.index("\n\n")]
    listed: dict[str, set[str]] = {}
    for span in re.findall(r"`([a-z][a-z-]*(?: [a-z|-]+)?)`", block):
        name, _, subs = span.partition(" ")
        listed.setdefault(name, set()).update(filter(None, subs.split("|")))
    return listed


def test_the_command_list_names_every_command_and_nothing_else():
    assert readme_command_list() == commands()


def test_every_cxsla_command_the_readme_mentions_exists():
    known = commands()
    mentioned = []
    for match in re.finditer(r"\bcxsla((?: +\S+)+)", README):
        words = match.group(1).split()
        while words and words[0].startswith("--"):  # global options before the command
            words = words[2:] if words[0] in GLOBAL_VALUE_OPTIONS else words[1:]
        words = [word.rstrip("`,.;:)") for word in words]
        if not words or not re.fullmatch(r"[a-z][a-z-]*", words[0]):
            continue
        name = words[0]
        mentioned.append(name)
        assert name in known, f"README mentions `cxsla {name}`, which is no command: {match.group(0)!r}"
        if known[name] and len(words) > 1 and re.fullmatch(r"[a-z][a-z-]*", words[1]):
            sub = words[1]
            assert sub in known[name], f"README mentions `cxsla {name} {sub}`, which is no command"
    assert {"complaint", "token", "up"} <= set(mentioned)


def test_no_link_leaves_the_repository():
    assert "../" not in README
