"""`cxsla report` and `cxsla simulate`: a finished cycle's report, and what-if under another policy."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Literal, cast

import typer
from rich.table import Table

from sla.policy import PolicyError, load_policy
from sla.simulation import Simulation
from starter.cli.app import CONTRACT, PERIOD, app, assessments_of, emit, fail, fmt_kpi, globals_of, out, run
from starter.client.assessment import simulate_period


@app.command()
def report(
    ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD,
    format: str = typer.Option("md", "--format", help="json|md|html"),
    output: Path = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout."),
) -> None:
    """A finished cycle's report (method, results, problems, suggestions, trends), rendered from Temporal."""
    g = globals_of(ctx)
    if format not in ("json", "md", "html"):
        fail(f"--format {format!r}: one of json, md, html", 2)

    async def go():
        return await (await assessments_of(g)).report(contract, period, cast(Literal["json", "md", "html"], format))

    text = run(go())
    if output:
        output.write_text(text, encoding="utf-8")
        emit(g, {"written": str(output), "format": format}, f"wrote {output}")
    else:
        sys.stdout.write(text)


@app.command()
def simulate(
    ctx: typer.Context, policy: Path = typer.Option(..., "--policy", exists=True, dir_okay=False,
                                                    help="The proposed policy file."),
    contract: str = CONTRACT, period: str = PERIOD,
) -> None:
    """What-if: replay the period's complaints under another policy; breaches and KPIs, old vs new."""
    g = globals_of(ctx)
    try:
        proposed = load_policy(policy)
    except PolicyError as exc:
        fail(str(exc), 2)

    async def go():
        return await simulate_period(await assessments_of(g), proposed, contract, period)

    result: Simulation = run(go())
    if g.json:
        emit(g, result.model_dump(mode="json"))
        return
    out.print(f"{result.complaints} complaints of {contract} {period}: recorded under "
              f"{', '.join(result.recorded_policy_versions) or '-'}, proposed {result.proposed_policy_version}")
    breaches = Table(title="breaches")
    for column in ("clock", "class", "recorded", "proposed"):
        breaches.add_column(column)
    for row in result.breaches:
        breaches.add_row(row.clock, row.breach_class, str(row.before), str(row.after))
    out.print(breaches)
    kpis = Table(title="KPIs (complaint-derived)")
    for column in ("KPI", "recorded", "met", "proposed", "met"):
        kpis.add_column(column)
    mark = {True: "yes", False: "MISSED", None: "-"}
    for before, after in zip(result.before.kpis, result.after.kpis, strict=True):
        if before.n == 0 and after.n == 0:
            continue
        kpis.add_row(before.label, fmt_kpi(before.value, before.unit.value), mark[before.met],
                     fmt_kpi(after.value, after.unit.value), mark[after.met])
    out.print(kpis)
    if result.changed_complaints:
        out.print(f"complaints whose breaches change: {', '.join(result.changed_complaints)}")
