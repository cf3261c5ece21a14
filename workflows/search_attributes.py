"""Typed search attributes: the fields that make 'open major complaints breaching soon' one visibility query.

The names live in sla/names.py; these are their typed keys for workflow code (and for the CLI and API).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from temporalio import workflow
from temporalio.common import SearchAttributeKey

from activities.attributes import typed_key
from sla import names

CONTRACT = typed_key(names.CONTRACT)
SEVERITY = typed_key(names.SEVERITY)
STATE = typed_key(names.STATE)
BREACHED = typed_key(names.BREACHED)
AT_RISK = typed_key(names.AT_RISK)
NEXT_DEADLINE = typed_key(names.NEXT_DEADLINE)
RECEIVED_AT = typed_key(names.RECEIVED_AT)
PROVISIONAL = typed_key(names.PROVISIONAL)
OLDEST_UNDELIVERED = typed_key(names.OLDEST_UNDELIVERED)
UNDELIVERED = typed_key(names.UNDELIVERED)
ASSIGNEE = typed_key(names.ASSIGNEE)

ALL = tuple(typed_key(name) for name in names.SEARCH_ATTRIBUTES)


def deadline_value(instant: datetime | None) -> datetime | None:
    """An instant to the second, for attributes that only need that (CxOldestUndelivered): a value read back
    from visibility then compares equal to the one the workflow would write. CxNextDeadline keeps full precision,
    as the complaints already running wrote it."""
    return None if instant is None else instant.replace(microsecond=0)


def upsert_changed(published: dict[str, object], wanted: Mapping[SearchAttributeKey, object]) -> None:
    """Upsert only the attributes whose value differs from what this run last published (None unsets one), and
    remember them: an unchanged settle writes nothing to history."""
    changes = []
    for key, value in wanted.items():
        if published.get(key.name, ...) != value:
            published[key.name] = value
            changes.append(key.value_unset() if value is None else key.value_set(value))
    if changes:
        workflow.upsert_search_attributes(changes)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    return [arg for name, kind in names.SEARCH_ATTRIBUTES.items()
            for arg in ("--search-attribute", f"{name}={kind.capitalize()}")]
