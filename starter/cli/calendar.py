"""`cxsla calendar ...`: ask the business calendars, and send newly published years to the live clocks."""

from __future__ import annotations

from datetime import date, datetime, timezone

import typer

from sla.durations import DurationError, parse_duration
from sla.policy import PolicyError, load_policy
from starter.cli.app import Globals, acting, app, client_of, emit, fail, globals_of, parse_instant, run
from starter.service.tokens import Role

calendar_app = typer.Typer(no_args_is_help=True, help="Ask the business calendars.")
app.add_typer(calendar_app, name="calendar")


def _policy(g: Globals):
    try:
        return load_policy(g.policy)
    except PolicyError as exc:
        fail(str(exc))


def _calendar(g: Globals, name: str, first_year: int, last_year: int):
    from sla.calendar import compiled
    from sla.official_calendar import resolve

    policy = _policy(g)
    spec = policy.calendars.get(name)
    if spec is None:
        fail(f"unknown calendar {name!r}; known: {', '.join(sorted(policy.calendars))}")
    return compiled(resolve(name, spec, range(first_year - 1, last_year + 2)))


@calendar_app.command("workdays")
def calendar_workdays(
    ctx: typer.Context, calendar: str = typer.Option(..., help="Calendar name in the policy."),
    start: str = typer.Option(..., "--from", help="First date (YYYY-MM-DD)."),
    end: str = typer.Option(..., "--to", help="Last date (YYYY-MM-DD)."),
) -> None:
    """The working dates between two dates, both included."""
    g = globals_of(ctx)
    try:
        first, last = date.fromisoformat(start), date.fromisoformat(end)
    except ValueError as exc:
        fail(str(exc))
    if (last - first).days > 3660:
        fail("--from/--to: at most ten years at a time", 2)
    cal = _calendar(g, calendar, first.year, last.year)
    days = cal.working_days(first, last)
    provisional = sorted({d.year for d in (first, last) if cal.is_provisional(d)}
                         | {y for y in range(first.year, last.year + 1) if cal.is_provisional(date(y, 1, 1))})
    human = "\n".join(d.isoformat() for d in days)
    if provisional:
        human += f"\n(provisional for {', '.join(map(str, provisional))}: official holidays not published yet)"
    emit(g, {"calendar": calendar, "from": start, "to": end, "workdays": [d.isoformat() for d in days],
             "provisional_years": provisional}, human)


@calendar_app.command("add")
def calendar_add(
    ctx: typer.Context, calendar: str = typer.Option(..., help="Calendar name in the policy."),
    start: str = typer.Option(..., "--from", help="Start instant, ISO-8601 with offset."),
    duration: str = typer.Option(..., help="'2 working hours', '5 working days', 'PT30S', '48h'."),
) -> None:
    """The deadline: start plus a policy duration in the calendar's working time."""
    g = globals_of(ctx)
    instant = parse_instant(start, "--from")
    assert instant is not None  # --from is required
    try:
        parsed = parse_duration(duration)
    except DurationError as exc:
        fail(str(exc))
    cal = _calendar(g, calendar, instant.year, instant.year + 1)
    try:
        deadline = cal.add(instant, parsed)
    except ValueError as exc:
        fail(str(exc))
    local = cal.local(deadline).isoformat() + _offset(cal.offset_at(deadline))
    provisional = cal.provisional_between(instant, deadline)
    emit(g, {"calendar": calendar, "from": instant.isoformat(), "duration": duration,
             "deadline": deadline.isoformat(), "deadline_local": local, "provisional": provisional},
         local + (" (provisional: official holidays of that year not published yet)" if provisional else ""))


def _offset(offset) -> str:
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@calendar_app.command("status")
def calendar_status(ctx: typer.Context) -> None:
    """Per calendar: the last day it knows officially, where that comes from, and the contracts using it."""
    from starter.client.calendars import calendar_status as status_of

    g = globals_of(ctx)
    rows = status_of(_policy(g), datetime.now(timezone.utc).date())
    lines = []
    for row in rows:
        if row.known_until is None or row.days_left is None:  # both or neither
            known = f"never provisional ({row.source})"
        else:
            left = (f"{row.days_left} days left" if row.days_left >= 0
                    else f"provisional for {-row.days_left} days now")
            known = f"known until {row.known_until.isoformat()} ({row.source}), {left}"
        lines.append(f"{row.calendar} ({row.timezone}): {known}; contracts: {', '.join(row.contracts) or '-'}")
    emit(g, [r.model_dump(mode="json") for r in rows], "\n".join(lines))


@calendar_app.command("refresh")
def calendar_refresh(
    ctx: typer.Context,
    calendar: str = typer.Option(None, "--calendar", help="Only this calendar (default: every calendar in use)."),
    by: str = typer.Option(None, "--by", help="Who publishes (recorded in each clock's timeline)."),
) -> None:
    """Send the policy's current calendar data to every open complaint, plan, cycle and outage that uses it."""
    from starter.client.calendars import refresh_calendar

    g = globals_of(ctx)
    policy = _policy(g)
    names = [calendar] if calendar else sorted({c.calendar for c in policy.contracts.values()})
    if calendar and calendar not in policy.calendars:
        fail(f"unknown calendar {calendar!r}; known: {', '.join(sorted(policy.calendars))}", 2)
    by = acting(g, Role.ADMIN, by)

    async def go():
        client = await client_of(g)
        return [await refresh_calendar(client.client, policy, name, task_queue=client.task_queue, by=by)
                for name in names]

    reports = run(go())
    lines = [f"{r.calendar}: {r.workflows} running clocks, {r.changed} updated, {r.unchanged} unchanged, "
             f"{r.skipped} skipped, {r.failed} failed; official years {r.years[0] if r.years else '-'}-"
             f"{r.years[-1] if r.years else '-'}; {r.still_provisional} still provisional"
             + "".join(f"\n  {f}" for f in r.failures) for r in reports]
    emit(g, [r.model_dump(mode="json") for r in reports], "\n".join(lines))
    if any(r.failed for r in reports):
        raise typer.Exit(1)
