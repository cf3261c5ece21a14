"""`cxsla plan ...`: improvement plans: show, list, submit, report progress."""

from __future__ import annotations

from datetime import date

import typer
from pydantic import ValidationError
from rich.table import Table

from sla.errors import plain
from sla.plans import Measure, PlanStatus, ReportProgress, RevisePlan, SubmitPlan
from starter.cli.app import BY, Globals, acting, app, assessments_of, emit, fail, globals_of, out, run, when
from starter.service.tokens import Role

plan_app = typer.Typer(no_args_is_help=True, help="Improvement plans: show, submit, revise, report progress.")
app.add_typer(plan_app, name="plan")


def _print_plan(g: Globals, status: PlanStatus) -> None:
    if g.json:
        emit(g, status.public())
        return
    table = Table(title=f"{status.plan_id} · {status.kpi.value} · {status.state.value}")
    for column in ("clock", "state", "target", "deadline (UTC)", "met", "breached"):
        table.add_column(column)
    for clock in status.clocks:
        table.add_row(f"{clock.name}#{clock.instance}", clock.state.value, clock.target, when(clock.deadline),
                      when(clock.met_at), when(clock.breached_at))
    out.print(table)
    for miss in status.misses:
        out.print(f"  needed: {miss.trigger.value} {miss.period or miss.complaint_id}"
                  + (f" value {miss.value:g} vs {miss.target}" if miss.value is not None and miss.target else ""))
    for result in status.cycle_results:
        out.print(f"  cycle {result.period}: {result.value} met={result.met}")
    for step in status.escalations:
        out.print(f"  escalated {step.clock} level {step.level} → {step.to} at {when(step.at)}")
    versions = [status.submitted, *status.revisions] if status.submitted else []
    for number, version in enumerate(versions, start=1):
        why = f": {version.reason}" if hasattr(version, "reason") else ""
        out.print(f"  version {number} ({'submitted' if number == 1 else 'revised'} {when(version.at)}"
                  f"{' by ' + version.by if version.by else ''}){why}")
    if status.measures:
        measures = Table(title=f"measures of version {status.version}")
        for column in ("#", "measure", "owner", "due", "state"):
            measures.add_column(column)
        for m in status.measures:
            measures.add_row(str(m.index), m.action, m.owner, m.due.isoformat(), "done" if m.done else "open")
        out.print(measures)


@plan_app.command("show")
def plan_show(ctx: typer.Context, plan_id: str = typer.Argument(..., help="e.g. plan-default-csat")) -> None:
    """A plan's clocks (submission, progress, rectification), misses, cycle results and escalations."""
    g = globals_of(ctx)

    async def go():
        return await (await assessments_of(g)).plan_status(plan_id)

    _print_plan(g, run(go()))


@plan_app.command("list")
def plan_list(ctx: typer.Context, contract: str = typer.Option(None), all_: bool = typer.Option(
        False, "--all", help="Closed plans too.")) -> None:
    """Improvement plans from Temporal visibility."""
    g = globals_of(ctx)

    async def go():
        return await (await assessments_of(g)).list_plans(contract=contract, open_only=not all_)

    rows = run(go())
    table = Table()
    for column in ("plan_id", "contract", "state", "breached", "workflow_status"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("plan_id", "contract", "state", "breached", "workflow_status")))
    emit(g, rows, table)


def parse_measure(text: str) -> Measure:
    parts = [p.strip() for p in text.split("|")]
    if len(parts) != 3:
        fail(f"--measure {text!r}: use 'what is done | owner | YYYY-MM-DD'", 2)
    try:
        return Measure(action=parts[0], owner=parts[1], due=date.fromisoformat(parts[2]))
    except ValueError as exc:
        fail(f"--measure {text!r}: {exc}", 2)


ROOT_CAUSE = typer.Option(..., "--root-cause", help="Why the target was missed.")
MEASURES = typer.Option(..., "--measure", help="'what is done | owner | YYYY-MM-DD' (repeat).")
EXPECTED_EFFECT = typer.Option(..., "--expected-effect", help="What the measures should achieve.")


@plan_app.command("submit")
def plan_submit(
    ctx: typer.Context, plan_id: str = typer.Argument(...), by: str = BY, root_cause: str = ROOT_CAUSE,
    measure: list[str] = MEASURES, expected_effect: str = EXPECTED_EFFECT,
) -> None:
    """Submit the plan: root cause, measures (each with owner and due date), expected effect — all required."""
    g = globals_of(ctx)
    try:
        command = SubmitPlan(root_cause=root_cause, measures=[parse_measure(m) for m in measure],
                             expected_effect=expected_effect, by=by)
    except ValidationError as exc:
        fail(plain(exc), 2)
    command = command.model_copy(update={"by": acting(g, Role.SUPERVISOR, by)})

    async def go():
        return await (await assessments_of(g)).submit_plan(plan_id, command)

    _print_plan(g, run(go()))


@plan_app.command("revise")
def plan_revise(
    ctx: typer.Context, plan_id: str = typer.Argument(...), by: str = BY,
    reason: str = typer.Option(..., "--reason", help="What the review asked to change."),
    root_cause: str = ROOT_CAUSE, measure: list[str] = MEASURES, expected_effect: str = EXPECTED_EFFECT,
) -> None:
    """Record a new version of a submitted plan after a review (the earlier versions are kept and shown)."""
    g = globals_of(ctx)
    try:
        command = RevisePlan(root_cause=root_cause, measures=[parse_measure(m) for m in measure],
                             expected_effect=expected_effect, reason=reason, by=by)
    except ValidationError as exc:
        fail(plain(exc), 2)
    command = command.model_copy(update={"by": acting(g, Role.SUPERVISOR, by)})

    async def go():
        return await (await assessments_of(g)).revise_plan(plan_id, command)

    _print_plan(g, run(go()))


@plan_app.command("progress")
def plan_progress(
    ctx: typer.Context, plan_id: str = typer.Argument(...), by: str = BY,
    summary: str = typer.Option(..., help="What was done since the last report."),
    done: list[int] = typer.Option(None, "--done", help="Index of a measure now done (repeat)."),
) -> None:
    """Report progress on a submitted plan (restarts its progress clock)."""
    g = globals_of(ctx)
    try:
        command = ReportProgress(summary=summary, measures_done=done or [], by=by)
    except ValidationError as exc:
        fail(plain(exc), 2)
    command = command.model_copy(update={"by": acting(g, Role.SUPERVISOR, by)})

    async def go():
        return await (await assessments_of(g)).report_progress(plan_id, command)

    _print_plan(g, run(go()))
