"""`cxsla cycle ...`: assessment cycles: start, show, schedule."""

from __future__ import annotations

from pathlib import Path

import typer
from pydantic import ValidationError
from rich.table import Table

from sla.cycles import CycleStatus, ReassessCycle
from sla.errors import plain
from sla.reporting import LEGEND, format_n, kpi_rows
from sla.surveys import SurveyChannel
from starter.cli.app import (
    BY,
    CONTRACT,
    PERIOD,
    Globals,
    acting,
    app,
    assessments_of,
    emit,
    fail,
    globals_of,
    out,
    run,
    when,
)
from starter.service.tokens import Role

cycle_app = typer.Typer(no_args_is_help=True, help="Assessment cycles: start, show, retry, reassess, schedule.")
app.add_typer(cycle_app, name="cycle")


def _cycle_table(status: CycleStatus) -> Table:
    """The same rows, verdicts and marks as the report (sla.reporting.kpi_rows)."""
    table = Table(title=f"{status.id} · {status.cadence.value} · {status.phase}", caption=LEGEND)
    for column, justify in (("KPI", "left"), ("value", "right"), ("target", "left"), ("met", "left"),
                            ("n", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in kpi_rows(status.assessment) if status.assessment else []:
        table.add_row(row.label, row.value, row.target, f"{row.mark} {row.verdict.value}" if row.mark else "",
                      format_n(row))
    return table


def _print_cycle(g: Globals, status: CycleStatus, note: str | None = None) -> None:
    if g.json:
        emit(g, status.model_dump(mode="json"))
        return
    if note:
        out.print(note)
    out.print(f"period {when(status.start)} .. {when(status.end)}, collects at {when(status.collect_at)}, "
              f"report due {when(status.report_due)}; {len(status.batches)} survey batches, "
              f"{status.responses} responses")
    if status.assessment:
        out.print(_cycle_table(status))
    if status.result:
        out.print(f"plans started: {', '.join(status.result.plans_started) or '-'}; informed: "
                  f"{', '.join(status.result.plans_informed) or '-'}")
        out.print(f"report: {', '.join(status.result.report_files)}")
    if status.error:
        out.print(f"[red]{'waiting for a fix' if status.waiting_for_fix else 'error'}:[/] {status.error}")


@cycle_app.command("start")
def cycle_start(ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD) -> None:
    """Start the cycle of a contract and period (an existing one is shown; a past period is assessed at once)."""
    g = globals_of(ctx)
    acting(g, Role.ADMIN)

    async def go():
        return await (await assessments_of(g)).start_cycle(contract, period)

    status, created = run(go())
    if g.json:
        emit(g, {**status.model_dump(mode="json"), "created": created})
    else:
        _print_cycle(g, status, "started" if created else f"{status.id} already exists")


@cycle_app.command("retry")
def cycle_retry(ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD) -> None:
    """Try a cycle's failed step again now: how a cycle waiting for a fix goes on once the cause is corrected."""
    g = globals_of(ctx)
    acting(g, Role.ADMIN)

    async def go():
        return await (await assessments_of(g)).retry_cycle(contract, period)

    _print_cycle(g, run(go()), "asked to try again")


@cycle_app.command("reassess")
def cycle_reassess(
    ctx: typer.Context,
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or JSON of the late answers."),
    contract: str = CONTRACT, period: str = PERIOD,
    channel: SurveyChannel = typer.Option(..., help="email|sms|web|social|hotline|third-party"),
    reason: str = typer.Option(..., "--reason", help="Why the closed cycle is assessed again (in the report)."),
    batch_id: str = typer.Option(None, "--batch-id", help="Default: derived from the file's content."),
    by: str = BY,
) -> None:
    """Assess a closed cycle again with a late survey import: KPIs and report recomputed, and the report says when,
    by whom and why (admins; `survey import` refuses a closed cycle)."""
    from starter.cli.survey import read_batch  # here: importing it above would list `survey` before `cycle`

    g = globals_of(ctx)
    batch = read_batch(file, channel, batch_id)
    try:
        command = ReassessCycle(reason=reason, by="-")
    except ValidationError as exc:
        fail(plain(exc), 2)
    command = command.model_copy(update={"by": acting(g, Role.ADMIN, by)})

    async def go():
        return await (await assessments_of(g)).reassess_cycle(contract, period, batch, command)

    _print_cycle(g, run(go()), f"re-assessing {contract} {period} with batch {batch.batch_id}")


@cycle_app.command("show")
def cycle_show(ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD) -> None:
    """Phase, survey batches and, once computed, the KPIs against their targets."""
    g = globals_of(ctx)

    async def go():
        return await (await assessments_of(g)).cycle_status(contract, period)

    _print_cycle(g, run(go()))


@cycle_app.command("schedule")
def cycle_schedule(
    ctx: typer.Context, contract: list[str] = typer.Option(None, "--contract", help="Default: every contract."),
) -> None:
    """Create or update the Temporal Schedules that start each contract's cycles (idempotent)."""
    g = globals_of(ctx)
    acting(g, Role.ADMIN)

    async def go():
        return await (await assessments_of(g)).schedule_cycles(contract or None)

    rows = run(go())
    table = Table()
    for column in ("schedule_id", "contract", "cadence", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("schedule_id", "contract", "cadence", "created")))
    emit(g, rows, table)
