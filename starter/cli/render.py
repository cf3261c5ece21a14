"""How `cxsla complaint show` and `list` put a complaint on a terminal: times in the reader's zone, time left per
clock, warnings, extensions, the whole timeline, and cells that fold rather than cut when the terminal is narrow.

Works on the status document (`ComplaintStatus.public()`, with `remaining_seconds` filled by the reader), so
`show` renders what it read without building the models.
"""

from __future__ import annotations

from datetime import datetime, timezone, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

PROVISIONAL_NOTE = ("provisional: computed on a year whose official holidays are not published yet (weekly pattern "
                    "only); publish the year and run `cxsla calendar refresh`")


def yes_no(flag: object) -> str:
    return "yes" if flag else "no"


def zone(name: str | None) -> tzinfo:
    """The zone named (IANA, e.g. Asia/Shanghai, or UTC); ValueError naming it when it is unknown."""
    if not name or name.upper() in ("UTC", "Z"):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"--tz: {name!r} is not a known time zone (e.g. Asia/Shanghai, Europe/Berlin, UTC)") from None


def local(value: str | datetime | None, tz: tzinfo) -> str:
    """An instant in `tz`, to the second, with its offset; "-" for none."""
    if not value:
        return "-"
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    shown = instant.astimezone(tz)
    offset = shown.strftime("%z")
    return shown.strftime("%Y-%m-%d %H:%M:%S ") + (f"{offset[:3]}:{offset[3:]}" if offset != "+0000" else "UTC")


def duration(seconds: float) -> str:
    """`2d 03h`, `4h 05m`, `12m 30s`, `45s`: two units, enough to act on."""
    total = int(abs(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def time_left(clock: dict[str, Any]) -> str:
    """What the reader has left on a clock: running (or overdue), paused with working time left, or nothing."""
    remaining = clock.get("remaining_seconds")
    if remaining is None:
        return "-"
    if clock.get("state") == "paused":
        return f"paused, {duration(remaining)} working left"
    return f"{duration(remaining)}" if remaining >= 0 else f"overdue {duration(remaining)}"


# Columns holding instants keep a date whole when a narrow terminal makes them wrap.
INSTANT_COLUMNS = {"deadline", "breached / met", "at", "next deadline"}


def _table(*columns: str, title: str | None = None) -> Table:
    table = Table(title=title, title_justify="left", expand=False)
    for column in columns:
        # fold: a narrow terminal wraps a long value onto the next line instead of cutting it with an ellipsis
        table.add_column(column, overflow="fold", min_width=10 if column in INSTANT_COLUMNS else None)
    return table


def ended(clock: dict[str, Any], tz: tzinfo) -> str:
    """When a clock was breached and when it was met (a late answer has both), or "-"."""
    parts = [f"{word} {local(clock[key], tz)}" for word, key in (("breached", "breached_at"), ("met", "met_at"))
             if clock.get(key)]
    return "; ".join(parts) or "-"


def clocks_table(document: dict[str, Any], tz: tzinfo) -> Table:
    table = _table("clock", "state", "target", "deadline", "time left", "warned", "breached / met")
    for clock in document["clocks"]:
        deadline = local(clock.get("deadline"), tz)
        if clock.get("extended_until"):
            deadline += " (extended)"
        if clock.get("provisional"):
            deadline += " (provisional)"
        warned = ", ".join(f"{p}%" for p in clock.get("warned") or []) or "-"
        table.add_row(f"{clock['name']}#{clock['instance']}", clock["state"], clock["target"], deadline,
                      time_left(clock), warned, ended(clock, tz))
    return table


def detail_text(entry: dict[str, Any], tz: tzinfo) -> str:
    """An entry's own fields as `name: value`, instants in the reader's zone, flags as yes/no."""
    parts = []
    for key, value in entry.items():
        if key in ("type", "at", "by"):
            continue
        if key in ("until",) and isinstance(value, str):
            value = local(value, tz)
        elif isinstance(value, bool):
            value = yes_no(value)
        elif isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        parts.append(f"{key}: {value}")
    return "; ".join(parts)


def timeline_table(document: dict[str, Any], tz: tzinfo) -> Table:
    table = _table("at", "event", "by", "details", title="timeline")
    for entry in document["timeline"]:
        table.add_row(local(entry["at"], tz), entry["type"], entry.get("by") or "-", detail_text(entry, tz))
    return table


def status_view(document: dict[str, Any], tz: tzinfo, zone_name: str) -> RenderableType:
    """Everything `show` prints for one complaint."""
    flags = [word for word, on in (("BREACHED", document.get("breached")), ("at risk", document.get("at_risk")))
             if on]
    lines: list[RenderableType] = [
        Text(" · ".join(str(part) for part in (
            f"complaint {document['id']}", document["contract"], document["severity"],
            *([document["kind"]] if document.get("kind") not in (None, "complaint") else []),
            *([document["category"]] if document.get("category") else []), document["state"], *flags)),
            style="bold"),
        Text(f"received {local(document['received_at'], tz)} · times in {zone_name}"
             + (f" · next deadline {local(document['next_deadline'], tz)}" if document.get("next_deadline") else "")),
        clocks_table(document, tz),
    ]
    notes = []
    for clock in document["clocks"]:
        if clock.get("extended_until"):
            notes.append(f"extended {clock['name']}#{clock['instance']} until {local(clock['extended_until'], tz)}")
        if clock.get("warned") and clock["state"] in ("running", "paused"):
            notes.append(f"warning {clock['name']}#{clock['instance']}: past "
                         f"{max(clock['warned'])}% of its time")
    for breach in document["breaches"]:
        notes.append(f"breach {breach['clock']}#{breach['instance']} ({breach['class']}) at {local(breach['at'], tz)}")
    for step in document["escalations"]:
        notes.append(f"escalated {step['clock']}#{step['instance']} level {step['level']} → {step['to']} "
                     f"at {local(step['at'], tz)}")
    if any(clock.get("provisional") for clock in document["clocks"]):
        notes.append(PROVISIONAL_NOTE)
    if document.get("engine_error"):
        notes.append(f"clocks not evaluated: {document['engine_error']} (retrying)")
    for item in document.get("undelivered") or []:
        notes.append(f"undelivered {item['action_id']} since {local(item['fired_at'], tz)} "
                     f"({item['attempts']} attempts): {item['last_error']}")
    lines += [Text("  " + note) for note in notes]
    if document["timeline"]:
        lines.append(timeline_table(document, tz))
    if document.get("brief"):
        lines.append(Text(f"  (latest clocks and timeline entries only: cxsla complaint show {document['id']})"))
    return Group(*lines)


def list_table(rows: list[dict[str, Any]], tz: tzinfo, now: datetime) -> Table:
    """`list`: one line per complaint; flags as words, absent values as "-", deadlines in the reader's zone."""
    table = _table("id", "contract", "severity", "state", "breached", "at risk", "next deadline", "time left")
    for row in rows:
        deadline = row.get("next_deadline")
        left = "-"
        if deadline:
            seconds = (datetime.fromisoformat(deadline) - now).total_seconds()
            left = duration(seconds) if seconds >= 0 else f"overdue {duration(seconds)}"
        table.add_row(row["id"], row.get("contract") or "-", row.get("severity") or "-", row.get("state") or "-",
                      yes_no(row.get("breached")), yes_no(row.get("at_risk")), local(deadline, tz), left)
    return table
