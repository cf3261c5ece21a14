"""The audit trail of a complaint: each timeline entry says who (`by`), what (its type and every recorded field that
is not personal data or free text) and why (`reason`), with the old value beside a changed one.

Generic on purpose: a field a later release adds to an event appears in the trail (and in the archive's `details`)
without a change here. Personal fields and free text are `sealed`: the archive encrypts them, views leave them out.
"""

from __future__ import annotations

from typing import Any

from sla import events as ev

# Who the customer is: shown only to supervisors (export), never in plaintext in the archive.
PERSONAL = ("customer_name", "customer_contact")
# Free text may name people too: encrypted in the archive like the personal fields. `reason` is the "why" of the
# trail and is shown in it; the other texts stay out of status views as before.
SEALED = (*PERSONAL, *ev.FREE_TEXT)
SHOWN_TEXT = ("reason",)
HIDDEN = ("customer_id",)  # an identifier of the customer: in the archive's columns and the export, not in views


def split_event(event: ev._Event) -> tuple[dict[str, Any], dict[str, Any]]:
    """(details, sealed): the event's fields other than type/at/by, without and with personal data and free text."""
    data = event.model_dump(mode="json", exclude={"type", "at", "by"})
    sealed = {name: data.pop(name) for name in SEALED if data.get(name) is not None}
    for name in SEALED:
        data.pop(name, None)
    return data, sealed


def trail_entry(event_type: str, at: str, by: str | None, details: dict[str, Any],
                sealed: dict[str, Any]) -> dict[str, Any]:
    """One entry of the trail from an event's parts (as recorded, or as read back from the archive)."""
    entry: dict[str, Any] = {"type": event_type, "at": at, "by": by}
    # a flag left false or a field left empty says nothing: left out, so an entry shows what happened
    entry.update({k: v for k, v in details.items() if not _empty(v) and k not in HIDDEN})
    entry.update({k: sealed[k] for k in SHOWN_TEXT if sealed.get(k) is not None})
    return entry


def _empty(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, list | dict) and not value)  # 0 is a value


def trail(parts: list[tuple[str, str, str | None, dict[str, Any], dict[str, Any]]]) -> list[dict[str, Any]]:
    """Entries of a whole log, each reclassification with the severity it changed (`from_severity`)."""
    entries, severity = [], None
    for event_type, at, by, details, sealed in parts:
        entry = trail_entry(event_type, at, by, details, sealed)
        if event_type == "reclassified" and severity is not None:
            entry["from_severity"] = severity
        severity = details.get("severity", severity) if event_type in ("received", "reclassified") else severity
        entries.append(entry)
    return entries


def parts_of(event: Any) -> tuple[str, str, str | None, dict[str, Any], dict[str, Any]]:
    """(type, at, by, details, sealed) of a recorded event."""
    details, sealed = split_event(event)
    return event.type, event.at.isoformat(), event.by, details, sealed
