"""`cxsla cycle|survey|plan|outage|report|simulate`: the assessment side of the CLI.

Same conventions as the complaint commands (starter/cli.py): global options anywhere, `--json` prints one JSON
document on stdout, errors go to stderr with a non-zero exit code and change nothing.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.table import Table

from sla.interruptions import ReportInterruption, Restore
from sla.plans import Measure, PlanStatus, ReportProgress, SubmitPlan
from sla.policy import PolicyError, load_policy
from sla.simulation import Simulation
from sla.surveys import SurveyChannel, SurveyError, batch_from_rows
from starter.assessment_client import AssessmentClient, simulate_period
from starter.cli import (
    BY,
    Globals,
    _client,
    _globals,
    _run,
    _when,
    app,
    emit,
    fail,
    out,
    parse_instant,
)
from workflows.cycle import CycleStatus
from workflows.interruption import InterruptionStatus

cycle_app = typer.Typer(no_args_is_help=True, help="Assessment cycles: start, show, schedule.")
survey_app = typer.Typer(no_args_is_help=True, help="Import survey results into a cycle.")
plan_app = typer.Typer(no_args_is_help=True, help="Improvement plans: show, submit, report progress.")
outage_app = typer.Typer(no_args_is_help=True, help="Service interruptions: open, restore, show.")
app.add_typer(cycle_app, name="cycle")
app.add_typer(survey_app, name="survey")
app.add_typer(plan_app, name="plan")
app.add_typer(outage_app, name="outage")

CONTRACT = typer.Option(..., "--contract", help="Contract name in the policy.")
PERIOD = typer.Option(..., "--period", help="2026-11 (month), 2026-Q3 (quarter) or 2026 (year).")


async def _assessments(g: Globals) -> AssessmentClient:
    return AssessmentClient.of(await _client(g))


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ratio":
        return f"{value * 100:.1f}%"
    if unit == "seconds":
        return f"{value:,.0f}s"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.1f}"


def _cycle_table(status: CycleStatus) -> Table:
    table = Table(title=f"{status.id} · {status.cadence.value} · {status.phase}")
    table.add_column("KPI")
    table.add_column("value", justify="right")
    table.add_column("target")
    table.add_column("met")
    table.add_column("n", justify="right")
    assessment = status.assessment
    for kpi in assessment.kpis if assessment else []:
        table.add_row(kpi.label, _fmt(kpi.value, kpi.unit.value), str(kpi.target or "-"),
                      {True: "yes", False: "MISSED", None: "-"}[kpi.met] if kpi.name in assessment.assessed else "",
                      str(kpi.n))
    return table


def _print_cycle(g: Globals, status: CycleStatus, note: str | None = None) -> None:
    if g.json:
        emit(g, status.model_dump(mode="json"))
        return
    if note:
        out.print(note)
    out.print(f"period {_when(status.start)} .. {_when(status.end)}, collects at {_when(status.collect_at)}, "
              f"report due {_when(status.report_due)}; {len(status.batches)} survey batches, "
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
    g = _globals(ctx)

    async def go():
        return await (await _assessments(g)).start_cycle(contract, period)

    status, created = _run(go())
    if g.json:
        emit(g, {**status.model_dump(mode="json"), "created": created})
    else:
        _print_cycle(g, status, "started" if created else f"{status.id} already exists")


@cycle_app.command("show")
def cycle_show(ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD) -> None:
    """Phase, survey batches and, once computed, the KPIs against their targets."""
    g = _globals(ctx)

    async def go():
        return await (await _assessments(g)).cycle_status(contract, period)

    _print_cycle(g, _run(go()))


@cycle_app.command("schedule")
def cycle_schedule(
    ctx: typer.Context, contract: list[str] = typer.Option(None, "--contract", help="Default: every contract."),
) -> None:
    """Create or update the Temporal Schedules that start each contract's cycles (idempotent)."""
    g = _globals(ctx)

    async def go():
        return await (await _assessments(g)).schedule_cycles(contract or None)

    rows = _run(go())
    table = Table()
    for column in ("schedule_id", "contract", "cadence", "created"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("schedule_id", "contract", "cadence", "created")))
    emit(g, rows, table)


# ---- surveys -----------------------------------------------------------------------------------------------------
def read_rows(path: Path) -> list[dict[str, Any]]:
    """CSV with a header row, or JSON: a list of objects (or {"responses": [...]})."""
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        if isinstance(data, dict):
            data = data.get("responses", data.get("rows"))
        if not isinstance(data, list):
            raise SurveyError("a JSON import is a list of response objects (or {\"responses\": [...]})")
        return data
    return list(csv.DictReader(io.StringIO(text)))


@survey_app.command("import")
def survey_import(
    ctx: typer.Context, file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV or JSON of answers."),
    contract: str = CONTRACT, period: str = PERIOD,
    channel: SurveyChannel = typer.Option(..., help="email|sms|web|social|hotline|third-party"),
    batch_id: str = typer.Option(None, "--batch-id", help="Default: derived from the file's content."),
) -> None:
    """Reduce a survey export to score histograms (personal columns dropped here) and add it to the cycle."""
    g = _globals(ctx)
    try:
        raw = file.read_bytes()
        rows = read_rows(file)
        batch = batch_from_rows(rows, channel=channel,
                                batch_id=batch_id or f"{channel.value}-{hashlib.sha256(raw).hexdigest()[:16]}")
    except (OSError, ValueError) as exc:  # SurveyError, JSON and CSV errors are ValueErrors
        fail(f"{file}: {exc}", 2)

    async def go():
        return await (await _assessments(g)).import_survey(contract, period, batch)

    receipt = _run(go())
    emit(g, {**receipt.model_dump(mode="json"), "channel": channel.value, "answers_in_file": batch.responses},
         f"batch {receipt.batch_id}: {'already imported, nothing changed' if receipt.duplicate else 'added'} "
         f"({batch.responses} answers); the cycle has {receipt.batches} batches, {receipt.responses} answers")


# ---- plans -------------------------------------------------------------------------------------------------------
def _print_plan(g: Globals, status: PlanStatus) -> None:
    if g.json:
        emit(g, status.public())
        return
    table = Table(title=f"{status.plan_id} · {status.kpi.value} · {status.state.value}")
    for column in ("clock", "state", "target", "deadline (UTC)", "met", "breached"):
        table.add_column(column)
    for clock in status.clocks:
        table.add_row(f"{clock.name}#{clock.instance}", clock.state.value, clock.target, _when(clock.deadline),
                      _when(clock.met_at), _when(clock.breached_at))
    out.print(table)
    for miss in status.misses:
        out.print(f"  needed: {miss.trigger.value} {miss.period or miss.complaint_id}"
                  + (f" value {miss.value:g} vs {miss.target}" if miss.value is not None and miss.target else ""))
    for result in status.cycle_results:
        out.print(f"  cycle {result.period}: {result.value} met={result.met}")
    for step in status.escalations:
        out.print(f"  escalated {step.clock} level {step.level} → {step.to} at {_when(step.at)}")


@plan_app.command("show")
def plan_show(ctx: typer.Context, plan_id: str = typer.Argument(..., help="e.g. plan-default-csat")) -> None:
    """A plan's clocks (submission, progress, rectification), misses, cycle results and escalations."""
    g = _globals(ctx)

    async def go():
        return await (await _assessments(g)).plan_status(plan_id)

    _print_plan(g, _run(go()))


@plan_app.command("list")
def plan_list(ctx: typer.Context, contract: str = typer.Option(None), all_: bool = typer.Option(
        False, "--all", help="Closed plans too.")) -> None:
    """Improvement plans from Temporal visibility."""
    g = _globals(ctx)

    async def go():
        return await (await _assessments(g)).list_plans(contract=contract, open_only=not all_)

    rows = _run(go())
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


@plan_app.command("submit")
def plan_submit(
    ctx: typer.Context, plan_id: str = typer.Argument(...), by: str = BY,
    root_cause: str = typer.Option(..., "--root-cause", help="Why the target was missed."),
    measure: list[str] = typer.Option(..., "--measure", help="'what is done | owner | YYYY-MM-DD' (repeat)."),
    expected_effect: str = typer.Option(..., "--expected-effect", help="What the measures should achieve."),
) -> None:
    """Submit the plan: root cause, measures (each with owner and due date), expected effect — all required."""
    g = _globals(ctx)
    try:
        command = SubmitPlan(root_cause=root_cause, measures=[parse_measure(m) for m in measure],
                             expected_effect=expected_effect, by=by)
    except ValidationError as exc:
        fail(_validation(exc), 2)

    async def go():
        return await (await _assessments(g)).submit_plan(plan_id, command)

    _print_plan(g, _run(go()))


@plan_app.command("progress")
def plan_progress(
    ctx: typer.Context, plan_id: str = typer.Argument(...), by: str = BY,
    summary: str = typer.Option(..., help="What was done since the last report."),
    done: list[int] = typer.Option(None, "--done", help="Index of a measure now done (repeat)."),
) -> None:
    """Report progress on a submitted plan (restarts its progress clock)."""
    g = _globals(ctx)
    try:
        command = ReportProgress(summary=summary, measures_done=done or [], by=by)
    except ValidationError as exc:
        fail(_validation(exc), 2)

    async def go():
        return await (await _assessments(g)).report_progress(plan_id, command)

    _print_plan(g, _run(go()))


def _validation(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors())


# ---- interruptions -----------------------------------------------------------------------------------------------
def _print_outage(g: Globals, status: InterruptionStatus, note: str | None = None) -> None:
    if g.json:
        emit(g, status.model_dump(mode="json", by_alias=True))
        return
    if note:
        out.print(note)
    clock = status.clock
    out.print(f"interruption {status.outage_id} ({status.contract}): {status.state}, since {_when(status.started_at)}"
              + (f", restored {_when(status.restored_at)} after {status.duration_seconds:,.0f}s"
                 if status.restored_at else "")
              + (f"; major breach at {_when(clock.breached_at)}" if clock and clock.breached_at else
                 f"; major breach at {_when(clock.deadline)} unless restored" if clock else ""))


@outage_app.command("open")
def outage_open(
    ctx: typer.Context, id: str = typer.Option(..., "--id"), contract: str = CONTRACT, by: str = BY,
    started_at: str = typer.Option(None, "--started-at", help="ISO-8601 with offset; default now."),
    summary: str = typer.Option(None),
) -> None:
    """Report a service interruption; past the contract's threshold (default 4 h) it is a major breach."""
    g = _globals(ctx)
    try:
        request = ReportInterruption(id=id, contract=contract, started_at=parse_instant(started_at, "--started-at"),
                                     summary=summary, by=by)
        load_policy(g.policy).assessment(contract)
    except (ValidationError, PolicyError) as exc:
        fail(_validation(exc) if isinstance(exc, ValidationError) else str(exc), 2)

    async def go():
        return await (await _assessments(g)).report_outage(request)

    status, created = _run(go())
    if g.json:
        emit(g, {**status.model_dump(mode="json", by_alias=True), "created": created})
    else:
        _print_outage(g, status, "reported" if created else f"interruption {id} already exists")


@outage_app.command("restore")
def outage_restore(
    ctx: typer.Context, id: str = typer.Argument(...), by: str = BY,
    restored_at: str = typer.Option(None, "--restored-at", help="ISO-8601 with offset; default now."),
    note: str = typer.Option(None),
) -> None:
    """The service is back: ends the interruption and records its duration."""
    g = _globals(ctx)
    command = Restore(restored_at=parse_instant(restored_at, "--restored-at"), note=note, by=by)

    async def go():
        return await (await _assessments(g)).restore_outage(id, command)

    _print_outage(g, _run(go()))


@outage_app.command("show")
def outage_show(ctx: typer.Context, id: str = typer.Argument(...)) -> None:
    """An interruption's state, duration and breach."""
    g = _globals(ctx)

    async def go():
        return await (await _assessments(g)).outage_status(id)

    _print_outage(g, _run(go()))


# ---- reports and what-if -------------------------------------------------------------------------------------------
@app.command()
def report(
    ctx: typer.Context, contract: str = CONTRACT, period: str = PERIOD,
    format: str = typer.Option("md", "--format", help="json|md|html"),
    output: Path = typer.Option(None, "--output", "-o", help="Write to a file instead of stdout."),
) -> None:
    """A finished cycle's report (method, results, problems, suggestions, trends), rendered from Temporal."""
    g = _globals(ctx)
    if format not in ("json", "md", "html"):
        fail(f"--format {format!r}: one of json, md, html", 2)

    async def go():
        return await (await _assessments(g)).report(contract, period, format)

    text = _run(go())
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
    g = _globals(ctx)
    try:
        proposed = load_policy(policy)
    except PolicyError as exc:
        fail(str(exc), 2)

    async def go():
        return await simulate_period(await _assessments(g), proposed, contract, period)

    result: Simulation = _run(go())
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
    for before, after in zip(result.before.kpis, result.after.kpis):
        if before.n == 0 and after.n == 0:
            continue
        kpis.add_row(before.label, _fmt(before.value, before.unit.value), mark[before.met],
                     _fmt(after.value, after.unit.value), mark[after.met])
    out.print(kpis)
    if result.changed_complaints:
        out.print(f"complaints whose breaches change: {', '.join(result.changed_complaints)}")
