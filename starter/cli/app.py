"""`cxsla`: run the service (server, worker, up) and work complaints from a terminal.

Global options (`--address`, `--namespace`, `--task-queue`, `--policy`, `--json`) are accepted before or
after the subcommand. With `--json` every command prints one JSON document on stdout; errors always go to
stderr with a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NoReturn

import typer
from rich.console import Console

from starter.service.settings import Settings

if TYPE_CHECKING:  # imported where a command uses them: a process pays only for what its command needs
    from starter.client.assessment import AssessmentClient
    from starter.client.complaints import ComplaintClient
    from starter.service.tokens import Role

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
# The terminal's width; piped into a file or another program, wide enough that no table is cut at 80 columns
# (COLUMNS still decides when set).
WIDTH = shutil.get_terminal_size(fallback=(200, 24)).columns
out = Console(width=WIDTH)
err = Console(stderr=True, width=WIDTH)
GLOBAL_VALUE_OPTIONS = ("--address", "--namespace", "--task-queue", "--policy")
GLOBAL_FLAGS = ("--json",)


@dataclass
class Globals:
    address: str
    namespace: str
    task_queue: str
    policy: str | None
    json: bool
    log_level: str = "INFO"


def globals_of(ctx: typer.Context) -> Globals:
    return ctx.find_root().obj


@app.callback()
def main_options(
    ctx: typer.Context,
    address: str = typer.Option(None, envvar="TEMPORAL_ADDRESS", help="Temporal frontend host:port."),
    namespace: str = typer.Option(None, envvar="TEMPORAL_NAMESPACE", help="Temporal namespace."),
    task_queue: str = typer.Option(None, envvar="CXSLA_TASK_QUEUE", help="Task queue of the cx-sla workers."),
    policy: str = typer.Option(None, envvar="CXSLA_POLICY", help="Policy file (TOML); default: shipped."),
    json_output: bool = typer.Option(False, "--json", help="Print one JSON document on stdout."),
) -> None:
    settings = Settings()
    ctx.obj = Globals(
        address=address or settings.temporal_address,
        namespace=namespace or settings.temporal_namespace,
        task_queue=task_queue or settings.task_queue,
        policy=policy or settings.policy,
        json=json_output,
        log_level=settings.log_level,
    )
    if ctx.invoked_subcommand not in QUIET_GROUPS:
        logging_on(ctx.obj)


# Groups whose commands turn logging on themselves, when they run library code (client_of): `complaint show`
# reads without any, and importing the logging setup (structlog, the SDK's workflow module) is not free.
QUIET_GROUPS = {"complaint"}


def logging_on(g: Globals) -> None:
    """Library code the CLI runs in-process logs through structlog; unconfigured, structlog prints every level
    (debug included) on stdout. Configured, lines below CXSLA_LOG_LEVEL are dropped and the rest are JSON on
    stderr, like the service processes' lines."""
    from starter.service.logs import configure_logging

    configure_logging(g.log_level)


def fail(message: str, code: int = 1) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit(g: Globals, document: Any, human: Any = None) -> None:
    if g.json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
    elif human is not None:
        out.print(human)
    else:
        out.print_json(data=document)


def run(coro):
    """Exit 2 for input the service refused (as for a bad option), 1 for anything else that failed."""
    from starter.client.errors import CxSlaError

    try:
        return asyncio.run(coro)
    except CxSlaError as exc:
        fail(str(exc), 2 if exc.kind == "invalid" else 1)


def acting(g: Globals, needed: Role, by: str | None = None) -> str:
    """The identity an action records as `by` (starter.cli.identity); refused here, before Temporal is called."""
    from starter.cli.identity import Refused, authorise, principal_for

    try:
        return authorise(principal_for(g.address), needed, by)
    except Refused as exc:
        fail(str(exc), exc.code)


async def client_of(g: Globals) -> ComplaintClient:
    from starter.client.complaints import ComplaintClient

    logging_on(g)
    return await ComplaintClient.connect(
        g.address, namespace=g.namespace, task_queue=g.task_queue, policy_path=g.policy
    )


async def assessments_of(g: Globals) -> AssessmentClient:
    from starter.client.assessment import AssessmentClient

    return AssessmentClient.of(await client_of(g))


def when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else "-"


def parse_instant(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        fail(f"{option}: {value!r} is not an ISO-8601 timestamp (e.g. 2025-09-30T17:00:00+08:00)", 2)
    if parsed.tzinfo is None:
        fail(f"{option}: {value!r} has no time zone; add an offset such as +08:00 or Z", 2)
    return parsed


def since(value: str | None, option: str) -> datetime | None:
    """A period bound: a date (midnight UTC) or an instant with its offset."""
    if value is not None and len(value) == 10:
        try:
            return datetime.fromisoformat(value).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    return parse_instant(value, option)


BY = typer.Option(None, "--by", help="Who acts: only the identity of CXSLA_TOKEN (or local-admin on `cxsla up`'s "
                                       "dev server); events record it whether or not it is given.")
CONTRACT = typer.Option(..., "--contract", help="Contract name in the policy.")
PERIOD = typer.Option(..., "--period", help="2026-11 (month), 2026-Q3 (quarter) or 2026 (year).")


def fmt_kpi(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value:,.0f}s"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.1f}"

