"""The report activity: writes a cycle's JSON, Markdown and HTML reports (rendered by the pure sla/report_html.py)
into the report directory, and reads the earlier cycles of the same contract and cadence from Temporal for the
trends. `ReportActivities.write_report` is the activity the cycle workflow calls.
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowQueryFailedError
from temporalio.service import RPCError

from activities.archive_store import ArchiveStore
from sla.cycles import CycleStatus
from sla.notices import Notice
from sla.periods import Period, PeriodError
from sla.plans import PlanStatus, plan_id
from sla.report_html import FORMATS, Format, render
from sla.reporting import CycleReport, CycleResult, build_report, cycle_workflow_id

log = structlog.get_logger("cxsla.reports")

TREND_CYCLES = 4  # earlier cycles shown beside this one

_UNSAFE = re.compile(r"[^\w.@+=,-]")


def _component(name: str) -> str:
    """A contract or period as one path component: no separators, no `..`, nothing hidden."""
    safe = _UNSAFE.sub("_", name).lstrip(".")
    return safe or "_"


def report_paths(report_dir: str | Path, contract: str, period: str) -> dict[Format, Path]:
    """Where a cycle's reports live: `{report_dir}/{contract}/{period}.{json,md,html}`."""
    folder = Path(report_dir) / _component(contract)
    return {fmt: folder / f"{_component(period)}.{fmt}" for fmt in FORMATS}


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old report or the new one, never half of one (temp file in the same folder, replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: CycleReport, report_dir: str | Path) -> list[str]:
    paths = report_paths(report_dir, report.result.contract, report.result.period)
    for fmt, path in paths.items():
        _write_atomically(path, render(report, fmt))
    return [str(path) for path in paths.values()]


class ReportActivities:
    """Writes a cycle's reports under `report_dir`; rewriting the same cycle gives the same files."""

    def __init__(self, report_dir: str | Path, archive: Callable[[], ArchiveStore] | None = None) -> None:
        self.report_dir = Path(report_dir)
        self._archive = archive

    @activity.defn(name="cxsla.write_report")
    async def write_report(self, result: CycleResult) -> list[str]:
        client = activity.client()
        report = build_report(result, await previous_cycles(client, result), await contract_plans(client, result))
        if self._archive is not None:  # the complaints behind the breach counts, for the auditor
            a = result.assessment
            ids = await asyncio.to_thread(self._archive().breach_ids, result.contract, a.start, a.end)
            report = report.model_copy(update={"breach_complaints": ids})
        return await asyncio.to_thread(write_reports, report, self.report_dir)


async def report_attachments(notice: Notice) -> dict[str, str]:
    """A finished cycle's report in every format, rendered from the cycle itself (which waits, running, until its
    report is delivered), so any worker can attach it whatever folder the files went to."""
    client = activity.client()
    status = await client.get_workflow_handle(notice.subject_id).query("status", result_type=CycleStatus)
    if status.result is None or status.result.report_delivered_at is None:
        raise RuntimeError(f"cycle {notice.subject_id} has no finished report yet")
    report = build_report(status.result, await previous_cycles(client, status.result),
                          await contract_plans(client, status.result))
    return {fmt: render(report, fmt) for fmt in FORMATS}


async def contract_plans(client: Client, result: CycleResult) -> list[PlanStatus]:
    """The contract's open improvement plans, one per KPI with a target (their ids are fixed), as they stand now; a
    plan that does not exist, has closed or cannot be read is left out."""
    found = []
    for kpi in result.assessment.kpis:
        pid = plan_id(result.contract, kpi.name)
        if kpi.target is None or (kpi.met and pid in result.plans_informed):
            continue  # no target, or this very cycle's figure closes the plan (it is completing: not open)
        handle = client.get_workflow_handle(pid)
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                continue  # closed as effective: the report shows open plans only
            found.append(await handle.query("status", result_type=PlanStatus))
        except (RPCError, WorkflowQueryFailedError) as exc:
            log.debug("no plan", plan=handle.id, error=str(exc)[:200])
    return found


async def previous_cycles(client: Client, result: CycleResult) -> list[CycleResult]:
    """Up to `TREND_CYCLES` completed earlier cycles; a missing, running or unreadable one is left out."""
    try:
        period = Period.parse(result.period)
    except PeriodError:
        return []
    found: list[CycleResult] = []
    for _ in range(TREND_CYCLES):
        period = period.previous()
        handle = client.get_workflow_handle(cycle_workflow_id(result.contract, str(period)), result_type=CycleResult)
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
                continue
            found.append(await handle.result())
        except RPCError as exc:
            log.debug("no earlier cycle", cycle=handle.id, error=str(exc)[:200])
        except ValueError as exc:  # a result this version cannot read (pydantic): no trend point
            log.warning("earlier cycle unreadable", cycle=handle.id, error=str(exc)[:200])
    return found
