"""A complaint's events as the archive keeps them: `details` (every field but personal data and free text, a generic
JSON object, so a field a later release adds archives without a migration) and `sealed` (the customer's name and
contact and every free text, which the archive encrypts), and the event again from those parts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from pydantic import TypeAdapter, ValidationError

from sla import events as ev

# Who the customer is: shown only to supervisors (export), never in plaintext in the archive.
PERSONAL = ("customer_name", "customer_contact")
# The customer's id and free text (which may name people too) are encrypted in the archive like the personal fields;
# the archive finds a customer's complaints by a keyed hash of the id (a blind index), never by the id itself.
SEALED = (*PERSONAL, "customer_id", *ev.FREE_TEXT)
UNREADABLE = "[sealed: not readable with the configured keys]"
EVENT: TypeAdapter[ev.Event] = TypeAdapter(ev.Event)


def split_event(event: ev._Event) -> tuple[dict[str, Any], dict[str, Any]]:
    """(details, sealed): the event's fields other than type/at/by, without and with personal data and free text."""
    data = event.model_dump(mode="json", exclude={"type", "at", "by"})
    sealed = {name: data.pop(name) for name in SEALED if data.get(name) is not None}
    for name in SEALED:
        data.pop(name, None)
    return data, sealed


def restore(event_type: str, at: datetime, by: str | None, details: dict[str, Any],
            sealed: dict[str, Any]) -> ev._Event | None:
    """The recorded event again from its parts, so a view of it is computed exactly as from the workflow's. A text
    the reader cannot unseal (no key) reads as UNREADABLE where the event requires one; None when the parts are no
    event this release knows (a field a later release added)."""
    data = {**details, **sealed, "type": event_type, "at": at, "by": by}
    for _ in range(2):
        try:
            return cast(ev._Event, EVENT.validate_python(data))
        except ValidationError as exc:
            missing = [e["loc"][-1] for e in exc.errors() if e["type"] == "missing" and e["loc"][-1] in SEALED]
            if not missing:
                return None
            data |= {name: UNREADABLE for name in missing}
    return None


def parts_of(event: Any) -> tuple[str, str, str | None, dict[str, Any], dict[str, Any]]:
    """(type, at, by, details, sealed) of a recorded event."""
    details, sealed = split_event(event)
    return event.type, event.at.isoformat(), event.by, details, sealed
