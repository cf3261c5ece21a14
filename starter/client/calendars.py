"""Calendars from the outside: how far each is known officially, and sending newer data to the live clocks.

`status` reads the policy file and the installed `holidays` package; `refresh` resolves a calendar as the policy
now describes it and sends it to every running complaint, plan, cycle and outage of the contracts that use it
(each records the update in its timeline and recomputes; the same data twice changes nothing).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, datetime, timedelta, timezone

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from sla import names
from sla.calendar import CalendarRefreshed, CalendarUpdate
from sla.official_calendar import YEARS_AHEAD, official_horizon, resolve
from sla.policy import PolicyFile
from starter.client.errors import rpc_error

CLOCK_WORKFLOWS = (names.COMPLAINT_WORKFLOW, names.PLAN_WORKFLOW, names.CYCLE_WORKFLOW, names.INTERRUPTION_WORKFLOW)
CONCURRENCY = 16
ANSWER_WITHIN = timedelta(seconds=20)  # a clock whose worker is gone is reported, not waited for


class CalendarStatus(BaseModel):
    calendar: str
    timezone: str
    official: str | None  # the holidays country, "policy", or None (weekly pattern only)
    known_until: date | None  # None: never provisional
    source: str  # where the last known year comes from
    policy_years: list[int]
    contracts: list[str]
    days_left: int | None  # until the calendar runs out (negative: already provisional)


class RefreshReport(BaseModel):
    calendar: str
    years: list[int]
    workflows: int  # running clock workflows of the contracts that use it
    changed: int
    unchanged: int
    skipped: int  # not using this calendar, or started before calendars travelled with their clocks
    failed: int
    still_provisional: int
    failures: list[str]  # at most 20, "workflow id: reason"


def calendar_status(policy: PolicyFile, today: date) -> list[CalendarStatus]:
    out = []
    for name, spec in sorted(policy.calendars.items()):
        until, source = official_horizon(spec, today)
        out.append(CalendarStatus(
            calendar=name, timezone=spec.timezone, official=spec.holidays or ("policy" if spec.years else None),
            known_until=until, source=source, policy_years=sorted(spec.years),
            contracts=sorted(c for c, contract in policy.contracts.items() if contract.calendar == name),
            days_left=(until - today).days if until else None,
        ))
    return out


def refresh_query(contracts: list[str], task_queue: str) -> str:
    """This deployment's running clocks of these contracts (another deployment sharing the namespace has its own
    task queue, policy and refresh)."""
    types = ", ".join(names.quote(t) for t in CLOCK_WORKFLOWS)
    listed = ", ".join(names.quote(c) for c in contracts)
    return (f"ExecutionStatus = 'Running' AND TaskQueue = {names.quote(task_queue)} AND WorkflowType IN ({types}) "
            f"AND {names.CONTRACT} IN ({listed})")


async def refresh_calendar(client: Client, policy: PolicyFile, name: str, *, task_queue: str,
                           by: str | None = None, now: datetime | None = None,
                           answer_within: timedelta = ANSWER_WITHIN,
                           progress: Callable[[int], None] | None = None) -> RefreshReport:
    """Send calendar `name` as the policy describes it now to every live clock of the contracts that use it.

    A clock that does not answer within `answer_within` (no worker polling, or one busy replaying) counts as
    failed with that reason: the refresh is idempotent, so running it again reaches the rest."""
    spec = policy.calendars[name]
    now = now or datetime.now(timezone.utc)
    years = range(now.year - 2, now.year + YEARS_AHEAD + 2)
    update = CalendarUpdate.of(resolve(name, spec, years), by=by)
    contracts = sorted(c for c, contract in policy.contracts.items() if contract.calendar == name)
    report = RefreshReport(calendar=name, years=sorted(update.years), workflows=0, changed=0, unchanged=0,
                           skipped=0, failed=0, still_provisional=0, failures=[])
    if not contracts:
        return report
    try:
        ids = [info.id async for info in client.list_workflows(refresh_query(contracts, task_queue))]
    except RPCError as exc:
        raise rpc_error(exc, f"cannot list the clocks using calendar {name}") from None
    report.workflows = len(ids)
    lock = asyncio.Semaphore(CONCURRENCY)

    async def one(workflow_id: str) -> None:
        async with lock:
            try:
                answer: CalendarRefreshed = await client.get_workflow_handle(workflow_id).execute_update(
                    "refresh_calendar", update, result_type=CalendarRefreshed, rpc_timeout=answer_within)
            except (WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError, RPCError) as exc:
                if isinstance(exc, WorkflowUpdateRPCTimeoutOrCancelledError):
                    reason = f"no answer within {answer_within.total_seconds():.0f} s (is a worker running?)"
                else:
                    cause = getattr(exc, "cause", None) or exc
                    reason = str(getattr(cause, "message", None) or cause)
                report.failed += 1
                if len(report.failures) < 20:
                    report.failures.append(f"{workflow_id}: {reason}")
                return
        if answer.note:
            report.skipped += 1
        elif answer.changed:
            report.changed += 1
        else:
            report.unchanged += 1
        report.still_provisional += answer.provisional
        if progress is not None:
            progress(report.changed + report.unchanged + report.skipped + report.failed)

    await asyncio.gather(*(one(i) for i in ids))
    return report
