"""`cxsla`: run the service (server, worker, up) and work complaints from a terminal.

Global options (`--address`, `--namespace`, `--task-queue`, `--policy`, `--json`) are accepted before or
after the subcommand. With `--json` every command prints one JSON document on stdout; errors always go to
stderr with a non-zero exit code.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from sla.commands import OpenComplaint
from sla.durations import DurationError, parse_duration
from sla.policy import PolicyError, load_policy
from sla.status import ComplaintStatus
from sla.vocabulary import Channel, ClockName, Remedy, Severity
from starter.client import ComplaintClient, CxSlaError
from starter.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__, pretty_exceptions_enable=False)
complaint_app = typer.Typer(no_args_is_help=True, help="Open complaints and move them through their lifecycle.")
calendar_app = typer.Typer(no_args_is_help=True, help="Ask the business calendars.")
token_app = typer.Typer(no_args_is_help=True, help="API tokens: make one, or hash one for the configuration.")
codec_app = typer.Typer(no_args_is_help=True, help="Payload encryption keys.")
app.add_typer(complaint_app, name="complaint")
app.add_typer(calendar_app, name="calendar")
app.add_typer(token_app, name="token")
app.add_typer(codec_app, name="codec")

out = Console()
err = Console(stderr=True)
GLOBAL_VALUE_OPTIONS = ("--address", "--namespace", "--task-queue", "--policy")
GLOBAL_FLAGS = ("--json",)


@dataclass
class Globals:
    address: str
    namespace: str
    task_queue: str
    policy: str | None
    json: bool


def _globals(ctx: typer.Context) -> Globals:
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
    )


# ---- output helpers ------------------------------------------------------------------------------------------
def fail(message: str, code: int = 1) -> None:
    err.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def emit(g: Globals, document: Any, human: Any = None) -> None:
    if g.json:
        sys.stdout.write(json.dumps(document, ensure_ascii=False, indent=2, default=str) + "\n")
    elif human is not None:
        out.print(human)
    else:
        out.print_json(data=document)


def _run(coro):
    try:
        return asyncio.run(coro)
    except CxSlaError as exc:
        fail(str(exc))


async def _client(g: Globals) -> ComplaintClient:
    return await ComplaintClient.connect(
        g.address, namespace=g.namespace, task_queue=g.task_queue, policy_path=g.policy
    )


def _when(value: datetime | None) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="seconds") if value else "-"


def status_table(status: ComplaintStatus) -> Table:
    table = Table(title=f"complaint {status.id} · {status.contract} · {status.severity.value} · {status.state.value}")
    for column in ("clock", "state", "target", "deadline (UTC)", "met", "breached"):
        table.add_column(column)
    for clock in status.clocks:
        deadline = _when(clock.deadline) + (" (provisional)" if clock.provisional else "")
        table.add_row(
            f"{clock.name.value}#{clock.instance}", clock.state.value, clock.target, deadline,
            _when(clock.met_at), _when(clock.breached_at),
        )
    return table


PROVISIONAL_NOTE = ("  provisional: computed on a year whose official holidays are not published yet (weekly pattern "
                    "only); publish the year and run `cxsla calendar refresh`")


def _print_status(g: Globals, status: ComplaintStatus, note: str | None = None) -> None:
    if g.json:
        emit(g, status.public())
        return
    if note:
        out.print(note)
    out.print(status_table(status))
    for breach in status.breaches:
        out.print(f"  breach {breach.clock.value} ({breach.breach_class.value}) at {_when(breach.at)}")
    for step in status.escalations:
        out.print(f"  escalated {step.clock.value} level {step.level} → {step.to} at {_when(step.at)}")
    if any(clock.provisional for clock in status.clocks):
        out.print(PROVISIONAL_NOTE, highlight=False)
    if status.engine_error:
        out.print(f"  [bold red]clocks not evaluated:[/] {status.engine_error} (retrying)", highlight=False)
    for item in status.undelivered:
        out.print(f"  undelivered {item.action_id} since {_when(item.fired_at)} ({item.attempts} attempts): "
                  f"{item.last_error}", highlight=False)


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


# ---- complaint commands --------------------------------------------------------------------------------------
@complaint_app.command("open")
def complaint_open(
    ctx: typer.Context,
    id: str = typer.Option(..., "--id", help="Complaint id (the desk's ticket id)."),
    contract: str = typer.Option(..., help="Contract whose policy applies."),
    severity: Severity = typer.Option(..., help="critical|major|normal|low"),
    channel: Channel = typer.Option(None, help="phone|email|web|chat|social"),
    customer_id: str = typer.Option(None, "--customer-id"),
    customer_name: str = typer.Option(None, "--customer-name", help="Personal data: stored encrypted."),
    customer_contact: str = typer.Option(None, "--customer-contact", help="Personal data: stored encrypted."),
    summary: str = typer.Option(None),
    received_at: str = typer.Option(None, "--received-at", help="ISO-8601 with offset; default now."),
    by: str = typer.Option(None, "--by"),
) -> None:
    """Open a complaint; an existing id returns the existing complaint (exit 0)."""
    g = _globals(ctx)
    try:
        request = OpenComplaint(
            id=id, contract=contract, severity=severity, channel=channel, customer_id=customer_id,
            customer_name=customer_name, customer_contact=customer_contact, summary=summary, received_at=parse_instant(received_at, "--received-at"), by=by,
        )
        load_policy(g.policy).contract(contract)  # refuse bad input before connecting
        request.received(datetime.now(timezone.utc))
    except (ValueError, PolicyError) as exc:
        fail(str(exc), 2)

    async def go():
        client = await _client(g)
        return await client.open(request)

    opened = _run(go())
    if g.json:
        emit(g, {**opened.status.public(), "created": opened.created})
    else:
        _print_status(g, opened.status, "opened" if opened.created else f"complaint {id} already exists")


def _send(ctx: typer.Context, complaint_id: str, name: str, payload: dict[str, Any]) -> None:
    g = _globals(ctx)

    async def go():
        client = await _client(g)
        return await client.command(complaint_id, name, {k: v for k, v in payload.items() if v is not None})

    _print_status(g, _run(go()))


ID = typer.Argument(..., help="Complaint id.")
BY = typer.Option(None, "--by", help="Who acts.")


@complaint_app.command("ack")
def complaint_ack(ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None)) -> None:
    """Acknowledge (first response to the customer)."""
    _send(ctx, id, "acknowledge", {"by": by, "note": note})


@complaint_app.command("triage")
def complaint_triage(
    ctx: typer.Context, id: str = ID, by: str = BY, category: str = typer.Option(None), note: str = typer.Option(None)
) -> None:
    """Classify and register the complaint; handling starts."""
    _send(ctx, id, "triage", {"by": by, "category": category, "note": note})


@complaint_app.command("plan")
def complaint_plan(ctx: typer.Context, id: str = ID, by: str = BY, plan: str = typer.Option(None)) -> None:
    """Record that the handling plan was told to the customer."""
    _send(ctx, id, "communicate_plan", {"by": by, "plan": plan})


@complaint_app.command("progress")
def complaint_progress(
    ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None),
    handling_seconds: int = typer.Option(None, "--handling-seconds", min=0),
) -> None:
    """Post a progress update to the customer (restarts the progress clock)."""
    _send(ctx, id, "post_progress", {"by": by, "note": note, "handling_seconds": handling_seconds})


@complaint_app.command("await")
def complaint_await(ctx: typer.Context, id: str = ID, by: str = BY, reason: str = typer.Option(None)) -> None:
    """Ask the customer for information (pauses triage, plan, progress and resolve clocks)."""
    _send(ctx, id, "await_customer", {"by": by, "reason": reason})


@complaint_app.command("responded")
def complaint_responded(ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None)) -> None:
    """The customer answered (resumes the paused clocks)."""
    _send(ctx, id, "customer_responded", {"by": by, "note": note})


@complaint_app.command("extend")
def complaint_extend(
    ctx: typer.Context, id: str = ID, by: str = BY,
    until: str = typer.Option(..., help="New deadline, ISO-8601 with offset."),
    reason: str = typer.Option(..., help="Why (told to the customer)."),
    clock: ClockName = typer.Option(ClockName.RESOLVE, help="Which clock to extend."),
) -> None:
    """Supervisor: move a deadline later, with a reason; the customer is notified."""
    _send(ctx, id, "extend", {"by": by, "until": parse_instant(until, "--until"), "reason": reason, "clock": clock})


@complaint_app.command("reclassify")
def complaint_reclassify(
    ctx: typer.Context, id: str = ID, by: str = BY, severity: Severity = typer.Option(...),
    reason: str = typer.Option(None),
) -> None:
    """Change severity; targets are recomputed from the original receipt."""
    _send(ctx, id, "reclassify", {"by": by, "severity": severity, "reason": reason})


@complaint_app.command("resolve")
def complaint_resolve(
    ctx: typer.Context, id: str = ID, by: str = BY, resolution: str = typer.Option(...),
    remedy: Remedy = typer.Option(None), first_contact: bool = typer.Option(False, "--first-contact"),
    handling_seconds: int = typer.Option(None, "--handling-seconds", min=0),
) -> None:
    """Supervisor: record the solution (and remedy, for verified at-fault complaints)."""
    _send(ctx, id, "resolve", {"by": by, "resolution": resolution, "remedy": remedy,
                               "first_contact": first_contact, "handling_seconds": handling_seconds})


@complaint_app.command("notify")
def complaint_notify(ctx: typer.Context, id: str = ID, by: str = BY, note: str = typer.Option(None)) -> None:
    """Record that the customer was told the result (the survey follows)."""
    _send(ctx, id, "notify_result", {"by": by, "note": note})


@complaint_app.command("reopen")
def complaint_reopen(ctx: typer.Context, id: str = ID, by: str = BY, reason: str = typer.Option(None)) -> None:
    """Supervisor: reopen a resolved complaint (resolve and notify clocks restart)."""
    _send(ctx, id, "reopen", {"by": by, "reason": reason})


@complaint_app.command("feedback")
def complaint_feedback(
    ctx: typer.Context, id: str = ID, by: str = BY,
    csat: int = typer.Option(..., min=1, max=5), nps: int = typer.Option(None, min=0, max=10),
    ces: int = typer.Option(None, min=1, max=7), comment: str = typer.Option(None),
) -> None:
    """Record the customer's satisfaction feedback (closes the complaint)."""
    _send(ctx, id, "record_feedback", {"by": by, "csat": csat, "nps": nps, "ces": ces, "comment": comment})


@complaint_app.command("withdraw")
def complaint_withdraw(ctx: typer.Context, id: str = ID, by: str = BY, reason: str = typer.Option(None)) -> None:
    """The customer withdrew the complaint (all clocks stop)."""
    _send(ctx, id, "withdraw", {"by": by, "reason": reason})


@complaint_app.command("show")
def complaint_show(ctx: typer.Context, id: str = ID) -> None:
    """Clocks, breaches, escalations and timeline of one complaint."""
    g = _globals(ctx)

    async def go():
        client = await _client(g)
        return await client.status(id)

    _print_status(g, _run(go()))


@complaint_app.command("list")
def complaint_list(
    ctx: typer.Context,
    state: str = typer.Option(None, help="received|acknowledged|in_progress|awaiting_customer|resolved|closed|withdrawn"),
    contract: str = typer.Option(None),
    breached: bool = typer.Option(False, "--breached", help="Only complaints with a breach."),
    at_risk: bool = typer.Option(False, "--at-risk", help="Only complaints past a warning threshold."),
    limit: int = typer.Option(1000, min=1),
) -> None:
    """Complaints from Temporal visibility (search attributes)."""
    g = _globals(ctx)

    async def go():
        client = await _client(g)
        return await client.list(state=state, contract=contract, breached=breached, at_risk=at_risk, limit=limit)

    rows = _run(go())
    table = Table()
    for column in ("id", "contract", "severity", "state", "breached", "at_risk", "next_deadline"):
        table.add_column(column)
    for row in rows:
        table.add_row(*(str(row[c]) for c in ("id", "contract", "severity", "state", "breached", "at_risk",
                                               "next_deadline")))
    emit(g, rows, table)


# ---- calendar --------------------------------------------------------------------------------------------------
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
    g = _globals(ctx)
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
    g = _globals(ctx)
    instant = parse_instant(start, "--from")
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
    from starter.calendar_client import calendar_status as status_of

    g = _globals(ctx)
    rows = status_of(_policy(g), datetime.now(timezone.utc).date())
    lines = []
    for row in rows:
        if row.known_until is None:
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
    from starter.calendar_client import refresh_calendar

    g = _globals(ctx)
    policy = _policy(g)
    names = [calendar] if calendar else sorted({c.calendar for c in policy.contracts.values()})
    if calendar and calendar not in policy.calendars:
        fail(f"unknown calendar {calendar!r}; known: {', '.join(sorted(policy.calendars))}", 2)

    async def go():
        client = await _client(g)
        return [await refresh_calendar(client.client, policy, name, task_queue=client.task_queue, by=by)
                for name in names]

    reports = _run(go())
    lines = [f"{r.calendar}: {r.workflows} running clocks, {r.changed} updated, {r.unchanged} unchanged, "
             f"{r.skipped} skipped, {r.failed} failed; official years {r.years[0] if r.years else '-'}-"
             f"{r.years[-1] if r.years else '-'}; {r.still_provisional} still provisional"
             + "".join(f"\n  {f}" for f in r.failures) for r in reports]
    emit(g, [r.model_dump(mode="json") for r in reports], "\n".join(lines))
    if any(r.failed for r in reports):
        raise typer.Exit(1)


# ---- service ---------------------------------------------------------------------------------------------------
def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


@app.command()
def server(
    port: int = typer.Option(7233), ui_port: int = typer.Option(8233, "--ui-port"),
    db: str = typer.Option(".data/temporal.db", help="SQLite file; kept across restarts."),
) -> None:
    """Run the embedded Temporal dev server (search attributes registered, UI on)."""
    from starter.server import DevServer

    from starter.server import stop_process

    dev = DevServer(port=port, ui_port=ui_port, db=db)
    process = dev.start()
    # The server runs in its own session: SIGTERM to us must stop it too, or it outlives us.
    signal.signal(signal.SIGTERM, _interrupt)
    err.print(f"Temporal dev server on {dev.address}, UI {dev.ui_url}")
    try:
        sys.exit(process.wait())
    except KeyboardInterrupt:
        stop_process(process)


@app.command()
def worker(ctx: typer.Context, metrics_port: int = typer.Option(None, "--metrics-port")) -> None:
    """Run a cx-sla worker against --address (metrics on CXSLA_METRICS_PORT)."""
    import worker as worker_module

    worker_module.main(_worker_settings(_globals(ctx), metrics_port))


def _worker_settings(g: Globals, metrics_port: int | None) -> Settings:
    """Settings from the environment with the CLI's global options applied."""
    updates: dict[str, Any] = {"temporal_address": g.address, "temporal_namespace": g.namespace,
                               "task_queue": g.task_queue, "policy": g.policy}
    if metrics_port:
        updates["metrics_port"] = metrics_port
    return Settings().model_copy(update=updates)


@app.command()
def api(
    ctx: typer.Context, host: str = typer.Option(None, help="Bind address (CXSLA_API_HOST)."),
    port: int = typer.Option(None, help="Port (CXSLA_API_PORT)."),
) -> None:
    """Run the service-desk HTTP API against --address (OpenAPI at /openapi.json, docs at /docs)."""
    from starter.api import run_api
    from starter.logs import configure_logging

    settings = _service_settings(_globals(ctx), api_host=host, api_port=port)
    configure_logging(settings.log_level)
    _serve_forever(lambda stop: run_api(settings, stop))


@app.command("codec-server")
def codec_server(
    host: str = typer.Option(None, help="Bind address (CXSLA_CODEC_SERVER_HOST)."),
    port: int = typer.Option(None, help="Port (CXSLA_CODEC_SERVER_PORT)."),
) -> None:
    """Serve /encode and /decode for the Temporal UI and `temporal --codec-endpoint` (supervisor token)."""
    from starter.api import serve
    from starter.codec_server import create_codec_app
    from starter.logs import configure_logging

    settings = _service_settings(None, codec_server_host=host, codec_server_port=port)
    configure_logging(settings.log_level)
    try:
        codec_app_ = create_codec_app(settings)
    except ValueError as exc:
        fail(str(exc))
    err.print(f"codec server on http://{settings.codec_server_host}:{settings.codec_server_port} "
              f"(CORS: {settings.codec_cors_origins})", highlight=False)
    _serve_forever(lambda stop: serve(codec_app_, stop, host=settings.codec_server_host,
                                      port=settings.codec_server_port))


def _service_settings(g: Globals | None, **updates: Any) -> Settings:
    settings = _worker_settings(g, None) if g else Settings()
    return settings.model_copy(update={k: v for k, v in updates.items() if v is not None})


def _serve_forever(run) -> None:
    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await run(stop)

    try:
        asyncio.run(main())
    except ValueError as exc:  # configuration (tokens, keys, TLS files, inbound mapping)
        fail(str(exc))


@token_app.command("new")
def token_new(
    role: str = typer.Option(..., help="agent|supervisor|admin"),
    identity: str = typer.Option(..., help="Who uses it; recorded as `by` in complaint events."),
) -> None:
    """Make a token: prints the token (once; give it to its user) and the line for CXSLA_API_TOKENS_FILE."""
    from starter.tokens import config_line, new_token

    token = new_token()
    try:
        line = config_line(identity, _role(role), token)
    except ValueError as exc:
        fail(str(exc), 2)
    sys.stdout.write(f"token: {token}\nconfig: {line}\n")


@token_app.command("hash")
def token_hash(
    role: str = typer.Option(..., help="agent|supervisor|admin"),
    identity: str = typer.Option(..., help="Who uses it."),
) -> None:
    """Read a token on stdin and print its configuration line (the token itself is never stored)."""
    from starter.tokens import config_line

    token = sys.stdin.readline().strip()
    try:
        sys.stdout.write(config_line(identity, _role(role), token) + "\n")
    except ValueError as exc:
        fail(str(exc), 2)


def _role(value: str):
    from starter.tokens import Role

    try:
        return Role(value)
    except ValueError:
        fail(f"--role {value!r}: one of agent, supervisor, admin", 2)


@codec_app.command("new-key")
def codec_new_key(kid: str = typer.Option(None, "--id", help="Key id (default: random).")) -> None:
    """Print a new AES-256 key as `kid:base64` for CXSLA_CODEC_KEYS or a key file."""
    from starter.codec import new_key_line

    try:
        sys.stdout.write(new_key_line(kid) + "\n")
    except ValueError as exc:
        fail(str(exc), 2)


@app.command()
def up(
    ctx: typer.Context, port: int = typer.Option(7233), ui_port: int = typer.Option(8233, "--ui-port"),
    db: str = typer.Option(".data/temporal.db"), metrics_port: int = typer.Option(None, "--metrics-port"),
    api_port: int = typer.Option(None, "--api-port", help="HTTP API port (CXSLA_API_PORT, default 8080)."),
) -> None:
    """Embedded Temporal server + worker + HTTP API in one process tree; Ctrl-C stops them all cleanly.

    On first start it writes a payload key (.data/codec-keys) and an admin API token (.data/api-tokens) unless
    keys and tokens are configured; the token is printed once.
    """
    import worker as worker_module
    from starter.api import run_api
    from starter.codec import load_keyring
    from starter.logs import configure_logging
    from starter.server import DevServer, stop_process, wait_until_serving
    from starter.tokens import Role, TokenStore

    g = _globals(ctx)
    dev = DevServer(port=port, ui_port=ui_port, db=db, namespace=g.namespace)
    settings = _worker_settings(g, metrics_port).model_copy(update={"temporal_address": dev.address})
    if api_port:
        settings = settings.model_copy(update={"api_port": api_port})
    configure_logging(settings.log_level)
    try:
        keyring = load_keyring(settings, create=True)
        new_token = None
        if not settings.api_tokens and not Path(settings.api_tokens_file).exists():
            new_token = TokenStore.create_file(settings.api_tokens_file, "local-admin", Role.ADMIN)
    except ValueError as exc:
        fail(str(exc))
    process = dev.start()
    try:
        dev.wait_ready(process)

        async def main() -> None:
            await wait_until_serving(dev.address, g.namespace)
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            parts = asyncio.gather(worker_module.run_worker(settings, stop), run_api(settings, stop))
            api_url = f"http://{settings.api_host}:{settings.api_port}"
            await _until_answering(f"{api_url}/healthz", parts)
            token_note = (f"\n  API token  {new_token}  (local-admin; shown once, hash kept in "
                          f"{settings.api_tokens_file})" if new_token else "")
            err.print(
                f"[bold green]cx-sla is up[/]\n"
                f"  Temporal   {dev.address} (namespace {g.namespace}, data {db})\n"
                f"  Temporal UI {dev.ui_url}\n"
                f"  API        {api_url}  (docs {api_url}/docs, OpenAPI {api_url}/openapi.json)"
                f"{token_note}\n"
                f"  metrics    http://{settings.metrics_host}:{settings.metrics_port}/metrics\n"
                f"  encryption key {keyring.active if keyring else '-'} "
                f"({settings.codec_keys and 'CXSLA_CODEC_KEYS' or settings.codec_key_file})\n"
                f"  try        cxsla complaint open --id demo-1 --contract demo --severity normal\n"
                f"  stop       Ctrl-C",
                highlight=False, soft_wrap=True,
            )
            await parts

        asyncio.run(main())
    finally:
        stop_process(process)
        err.print("stopped: API, worker and Temporal dev server")


async def _until_answering(url: str, running: asyncio.Future, timeout: float = 60) -> None:
    """Wait until `url` answers (the banner then tells the truth); stop early if `running` ended (failed)."""
    import httpx

    deadline = asyncio.get_running_loop().time() + timeout
    async with httpx.AsyncClient() as http:
        while not running.done() and asyncio.get_running_loop().time() < deadline:
            try:
                if (await http.get(url, timeout=2)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    if running.done():
        await running  # raises what stopped it


# ---- entry point -----------------------------------------------------------------------------------------------
# Subcommands whose own option shares a global option's name: after them, the name is theirs.
OWN_OPTIONS = {"simulate": {"--policy"}}


def hoist_global_options(argv: list[str]) -> list[str]:
    """Move global options found after the subcommand to the front, where click expects them."""
    front: list[str] = []
    rest: list[str] = []
    own: set[str] = set()
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        own |= OWN_OPTIONS.get(arg, set()) if not arg.startswith("-") else set()
        if name in own:
            rest.append(arg)
        elif name in GLOBAL_VALUE_OPTIONS:
            if "=" in arg:
                front.append(arg)
            else:
                front.extend(argv[i : i + 2])
                i += 1
        elif arg in GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    try:
        app(args=hoist_global_options(sys.argv[1:]), prog_name="cxsla")
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter finalisation: the Temporal core runtime's threads can abort it after a failed connect.
    os._exit(code)


from starter import cli_assessment  # noqa: E402,F401 - registers cycle, survey, plan, outage, report, simulate

if __name__ == "__main__":
    main()
