"""`cxsla cycle ...`: assessment cycles: start, show, schedule."""

from __future__ import annotations

import typer
from rich.table import Table

from sla.cycles import CycleStatus
from sla.reporting import LEGEND, kpi_rows
from starter.cli.app import CONTRACT, PERIOD, Globals, app, assessments_of, emit, globals_of, out, run, when

cycle_app = typer.Typer(no_args_is_help=True, help="Assessment cycles: start, show, schedule.")
app.add_typer(cycle_app, name="cycle")


def _cycle_table(status: CycleStatus) -> Table:
    """The same rows, verdicts and marks as the report (sla.reporting.kpi_rows)."""
    table = Table(title=f"{status.id} · {status.cadence.value} · {status.phase}", caption=LEGEND)
    for column, justify in (("KPI", "left"), ("value", "right"), ("target", "left"), ("met", "left"),
                            ("n", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in kpi_rows(status.assessment) if status.assessment else []:
        table.add_row(row.label, row.value, row.target, f"{row.mark} {row.verdict.value}" if row.mark else "",
                      str(row.n))
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
        out.print(f"[red]error:[/] {status.error}")


@cycle_app.command("start")
def cycle_start(ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD) -> None:
    """Start the cycle of a contract and period (an existing one is shown; a past period is assessed at once)."""
    g = globals_of(ctx)

    async def go():
        return await (await assessments_of(g)).start_cycle(contract, period)

    status, created = run(go())
    if g.json:
        emit(g, {**status.model_dump(mode="json"), "created": created})
    else:
        _print_cycle(g, status, "started" if created else f"{status.id} already exists")


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

    async def go():
        return await (await assessments_of(g)).schedule_cycles(contract or None)

    rows = run(go())
    table = Table()
    for column in ("schedule_id", "contract", "cadence", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("schedule_id", "contract", "cadence", "created")))
    emit(g, rows, table)
