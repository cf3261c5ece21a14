"""What the console's pages show, computed from the API's own models: board filters as a visibility query, clock
bars, timeline rows, the action forms a user may see. Pure functions (no request, no Temporal), so the pages'
logic is tested without a browser."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from sla import lifecycle, names
from sla.commands import COMMAND_MODELS
from sla.engine import ClockStatus
from sla.events import ASSIGNEE_PATTERN
from sla.status import ComplaintStatus
from sla.vocabulary import PAUSABLE_CLOCKS, ClockName, ClockState, ComplaintState, Remedy, Severity
from starter.service.tokens import Principal, role_for_command
from workflows import search_attributes as sa

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")
ASSIGNEE = re.compile(ASSIGNEE_PATTERN)
OPEN_STATES = [s.value for s in ComplaintState if not s.terminal]
BOARD_LIMIT = 200  # complaints a board shows (nearest deadlines first)


class FilterError(ValueError):
    """A board filter that is not a name: said on the page instead of listing everything."""


@dataclass(frozen=True)
class BoardFilters:
    contract: str | None = None
    severity: str | None = None
    category: str | None = None
    assignee: str | None = None
    state: str | None = None
    at_risk: bool = False
    breached: bool = False
    q: str | None = None  # id, customer id or summary

    @staticmethod
    def read(params: dict[str, str], me: str) -> BoardFilters:
        """From the query string (empty values mean no filter); `mine` is the signed-in user's queue."""
        def value(key: str) -> str | None:
            text = (params.get(key) or "").strip()
            return text or None

        assignee = me if params.get("mine") else value("assignee")
        filters = BoardFilters(contract=value("contract"), severity=value("severity"), category=value("category"),
                               assignee=assignee, state=value("state"), at_risk=bool(params.get("at_risk")),
                               breached=bool(params.get("breached")), q=value("q"))
        for key in ("contract", "category"):
            if getattr(filters, key) is not None and not NAME.fullmatch(getattr(filters, key)):
                raise FilterError(f"{key}: use letters, digits and . _ : - only")
        if filters.assignee is not None and not ASSIGNEE.fullmatch(filters.assignee):
            raise FilterError("assignee: use letters, digits and . _ @ : - only")
        if filters.severity is not None and filters.severity not in {s.value for s in Severity}:
            raise FilterError(f"severity: one of {', '.join(s.value for s in Severity)}")
        if filters.state is not None and filters.state not in OPEN_STATES:
            raise FilterError(f"state: one of {', '.join(OPEN_STATES)} (the board shows open complaints)")
        if filters.q is not None and len(filters.q) > 200:
            raise FilterError("search: at most 200 characters")
        return filters

    def query(self) -> str:
        """The visibility query for the filters that are search attributes; category and text search are applied
        to the complaints it lists (they are not search attributes: they may carry personal data)."""
        equal = {sa.CONTRACT.name: self.contract, sa.SEVERITY.name: self.severity, sa.STATE.name: self.state,
                 sa.ASSIGNEE.name: self.assignee}
        clauses = [names.of_type(names.COMPLAINT_WORKFLOW, **{k: v for k, v in equal.items() if v}),
                   "ExecutionStatus = 'Running'"]
        flags = [f"{key.name} = true" for key, on in ((sa.AT_RISK, self.at_risk), (sa.BREACHED, self.breached))
                 if on]
        if flags:
            clauses.append(flags[0] if len(flags) == 1 else f"({' OR '.join(flags)})")
        return " AND ".join(clauses)

    @property
    def needs_status(self) -> bool:
        """Category and text search read each listed complaint's status."""
        return self.category is not None or self.q is not None


def by_deadline(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nearest deadline first; complaints without one (all clocks met or paused) last, by id."""
    far = "9999"
    return sorted(rows, key=lambda r: (r.get("next_deadline") or far, r.get("id") or ""))


def matches(row: dict[str, Any], status: ComplaintStatus | None, filters: BoardFilters) -> bool:
    """Category and text filters on one listed complaint (its status read when they are set)."""
    if filters.q is not None:
        needle = filters.q.casefold()
        received = status.timeline[0] if status and status.timeline else {}
        haystack = [row.get("id") or "", received.get("customer_id") or "", received.get("summary") or ""]
        if not any(needle in text.casefold() for text in haystack):
            return False
    if filters.category is not None:
        categories = [e.get("category") for e in (status.timeline if status else []) if e.get("type") == "triaged"]
        if not categories or categories[-1] != filters.category:
            return False
    return True


def signal(row: dict[str, Any]) -> tuple[str, str, str]:
    """(css class, icon, words) for a board row: colour is never the only sign of a breach or risk."""
    if row.get("breached"):
        return "breached", "✖", "Breached"
    if row.get("at_risk"):
        return "at-risk", "▲", "At risk"
    return "on-track", "✓", "On track"


# ---- clock bars -------------------------------------------------------------------------------------------------
@dataclass
class Mark:
    at: datetime
    kind: str  # warning | breach | met | extension | now | pause
    label: str  # in words with UTC times (the bar's accessible name)
    phrase: str = ""  # the words before the time, which the page shows in the reader's zone
    x: float = 0.0  # 0-1000 along the bar
    until: datetime | None = None  # the end of a pause (now, for a pause still going on)
    ended: bool = True
    width: float = 0.0


@dataclass
class ClockBar:
    name: str
    instance: int
    state: str
    target: str
    started_at: datetime
    deadline: datetime | None
    extended_until: datetime | None
    marks: list[Mark] = field(default_factory=list)
    fill: float = 0.0  # 0-1000: how much of the bar has run (to now, or to when the clock ended)
    deadline_x: float | None = None

    @property
    def words(self) -> str:
        """The bar in words, for every reader (and for anyone who does not see the colours)."""
        parts = [f"{self.state}", f"target {self.target}"]
        parts += [m.label for m in self.marks if m.kind != "now"]
        return "; ".join(parts)


def clock_bars(status: ComplaintStatus, now: datetime) -> list[ClockBar]:
    """Each clock instance from its start to its deadline, with its warnings, breach, pauses and extension."""
    pauses = _pauses(status.timeline)
    bars = []
    for clock in status.clocks:
        bars.append(_bar(clock, now, pauses if clock.name in PAUSABLE_CLOCKS else []))
    return bars


def _bar(clock: ClockStatus, now: datetime, pauses: list[tuple[datetime, datetime | None]]) -> ClockBar:
    start = clock.started_at
    ended = clock.met_at or clock.breached_at if clock.state in (ClockState.MET, ClockState.STOPPED) else None
    deadline = clock.deadline
    # still counting: running or paused, or breached and not met yet (a late answer ends it)
    running = clock.met_at is None and clock.state in (ClockState.RUNNING, ClockState.PAUSED, ClockState.BREACHED)
    right = max([t for t in (deadline, clock.met_at, clock.breached_at, clock.extended_until,
                             now if running else None, ended) if t is not None] + [start + timedelta(seconds=1)])
    span = (right - start).total_seconds() or 1.0

    def x(instant: datetime) -> float:
        return round(max(0.0, min(1.0, (instant - start).total_seconds() / span)) * 1000, 1)

    bar = ClockBar(name=clock.name.value, instance=clock.instance, state=clock.state.value, target=clock.target,
                   started_at=start, deadline=deadline, extended_until=clock.extended_until)
    bar.deadline_x = x(deadline) if deadline else None
    if deadline is not None:
        for percent in clock.warned:  # the warning fired this far into the clock's time (working time)
            at = start + (deadline - start) * (percent / 100)
            bar.marks.append(Mark(at, "warning", f"warned at {percent}%", f"warned at {percent}%, about"))
    for begin, end in pauses:
        if begin >= start and (clock.met_at is None or begin < clock.met_at):
            stop = end or (now if clock.state is ClockState.PAUSED else None) or begin
            mark = Mark(begin, "pause", f"paused {_hm(begin)}–{_hm(end) if end else 'now'}",
                        "paused" + ("" if end else " (still waiting for the customer)") + " from", until=stop,
                        ended=end is not None)
            bar.marks.append(mark)
    if clock.extended_until is not None:
        bar.marks.append(Mark(clock.extended_until, "extension", f"extended until {_hm(clock.extended_until)}",
                              "extended until"))
    if clock.breached_at is not None:
        bar.marks.append(Mark(clock.breached_at, "breach", f"BREACHED at {_hm(clock.breached_at)}", "BREACHED at"))
    if clock.met_at is not None:
        bar.marks.append(Mark(clock.met_at, "met", f"met at {_hm(clock.met_at)}", "met at"))
    if running:
        bar.marks.append(Mark(now, "now", "now"))
    for mark in bar.marks:
        mark.x = x(mark.at)
        if mark.until is not None:
            mark.width = max(2.0, x(mark.until) - mark.x)
    end_of_fill = now if running else (clock.met_at or clock.breached_at or now)
    bar.fill = x(end_of_fill)
    return bar


def _pauses(timeline: list[dict[str, Any]]) -> list[tuple[datetime, datetime | None]]:
    """Waits for the customer: from `awaiting_customer` to the answer (or the resolution, or still waiting)."""
    pauses: list[tuple[datetime, datetime | None]] = []
    began: datetime | None = None
    for entry in timeline:
        at = datetime.fromisoformat(entry["at"])
        if entry["type"] == "awaiting_customer" and began is None:
            began = at
        elif entry["type"] in ("customer_responded", "resolved", "withdrawn", "closed") and began is not None:
            pauses.append((began, at))
            began = None
    if began is not None:
        pauses.append((began, None))
    return pauses


def _hm(instant: datetime) -> str:
    return instant.astimezone(timezone.utc).strftime("%H:%M:%S UTC")


# ---- timeline ---------------------------------------------------------------------------------------------------
WHY = ("reason", "note", "plan", "resolution", "comment", "summary")
SKIP = {"type", "at", "by", "stale", "complaint_id"}


def timeline_rows(status: ComplaintStatus) -> list[dict[str, Any]]:
    """Who, when, what (the event and its facts) and why (its free text) for every event."""
    rows = []
    for entry in status.timeline:
        facts = {k: _fact(v) for k, v in entry.items() if k not in SKIP and k not in WHY}
        why = "; ".join(f"{k}: {entry[k]}" for k in WHY if entry.get(k))
        rows.append({"at": entry["at"], "by": entry.get("by") or "system", "what": entry["type"].replace("_", " "),
                     "facts": facts, "why": why, "stale": bool(entry.get("stale"))})
    return rows


def _fact(value: Any) -> Any:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


# ---- actions ----------------------------------------------------------------------------------------------------
TEXTAREA = {"note", "plan", "reason", "resolution", "comment"}
CHOICES: dict[str, list[str]] = {"severity": [s.value for s in Severity], "clock": [c.value for c in ClockName],
                                 "remedy": [r.value for r in Remedy]}
NUMBERS = {"handling_seconds": (0, None), "csat": (1, 5), "nps": (0, 10), "ces": (1, 7)}
LABELS = {"to": "Agent", "group": "Group", "until": "New deadline (your local time)", "csat": "CSAT (1-5)",
          "nps": "NPS (0-10)", "ces": "CES (1-7)", "handling_seconds": "Handling time (seconds)",
          "first_contact": "Resolved at first contact", "at_fault": "Verified as our fault"}


@dataclass(frozen=True)
class FormField:
    name: str
    label: str
    kind: str  # text | textarea | number | checkbox | select | datetime
    required: bool
    choices: list[str] = field(default_factory=list)
    low: int | None = None
    high: int | None = None


def form_fields(command: str) -> list[FormField]:
    """The inputs of a command's form, from its model (what the API's body takes)."""
    out = []
    for name, info in COMMAND_MODELS[command].model_fields.items():
        if name == "by":
            continue
        required = info.is_required()
        label = LABELS.get(name, name.replace("_", " ").capitalize())
        if name in CHOICES:
            out.append(FormField(name, label, "select", required, CHOICES[name]))
        elif name in NUMBERS:
            low, high = NUMBERS[name]
            out.append(FormField(name, label, "number", required, low=low, high=high))
        elif info.annotation is bool:  # first_contact, at_fault: ticked or not
            out.append(FormField(name, label, "checkbox", False))
        elif name == "until":
            out.append(FormField(name, label, "datetime", required))
        else:
            out.append(FormField(name, label, "textarea" if name in TEXTAREA else "text", required))
    return out


def allowed_actions(status: ComplaintStatus, principal: Principal) -> list[str]:
    """The commands this complaint's state allows and this user's role may send (an agent sees no resolve)."""
    return [name for name, (_, states) in lifecycle.COMMANDS.items()
            if status.state in states and principal.role.allows(role_for_command(name))]


def form_values(command: str, form: dict[str, str], offset_minutes: int | None) -> dict[str, Any]:
    """A submitted form as the command's fields: empty inputs left out, a local `datetime-local` value given the
    browser's offset (minutes east of UTC; UTC when the browser sent none)."""
    values: dict[str, Any] = {}
    for spec in form_fields(command):
        raw = form.get(spec.name)
        if spec.kind == "checkbox":
            if raw:
                values[spec.name] = True
            continue
        if raw is None or not raw.strip():
            continue
        raw = raw.strip()
        if spec.kind == "datetime":
            values[spec.name] = _instant(raw, offset_minutes)
        else:
            values[spec.name] = raw
    return values


def _instant(raw: str, offset_minutes: int | None) -> str:
    """`2026-12-05T10:30` in the browser's zone as an ISO instant (a value that has an offset keeps it)."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        return raw  # the command's model refuses it, naming the field
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone(timedelta(minutes=offset_minutes or 0)))
    return parsed.isoformat()
