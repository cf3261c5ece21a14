"""Typed search attributes: the fields that make 'open major complaints breaching soon' one visibility query."""

from __future__ import annotations

from datetime import datetime

from temporalio.common import SearchAttributeKey

CONTRACT = SearchAttributeKey.for_keyword("CxContract")
SEVERITY = SearchAttributeKey.for_keyword("CxSeverity")
STATE = SearchAttributeKey.for_keyword("CxState")
BREACHED = SearchAttributeKey.for_bool("CxBreached")
AT_RISK = SearchAttributeKey.for_bool("CxAtRisk")
NEXT_DEADLINE = SearchAttributeKey.for_datetime("CxNextDeadline")
RECEIVED_AT = SearchAttributeKey.for_datetime("CxReceivedAt")
PROVISIONAL = SearchAttributeKey.for_bool("CxProvisional")  # a running clock touches an unpublished calendar year
# Notices that failed at least once and are still being retried: when the oldest of them was fired, and how many.
# Unset while everything is delivered, so the collector lists only the workflows that have some.
OLDEST_UNDELIVERED = SearchAttributeKey.for_datetime("CxOldestUndelivered")
UNDELIVERED = SearchAttributeKey.for_int("CxUndelivered")

ALL = (CONTRACT, SEVERITY, STATE, BREACHED, AT_RISK, NEXT_DEADLINE, RECEIVED_AT, PROVISIONAL, OLDEST_UNDELIVERED,
       UNDELIVERED)


def deadline_value(instant: datetime | None) -> datetime | None:
    """CxNextDeadline to the second: visibility stores are not all as precise as a computed deadline, and a value
    read back must compare equal to the one the workflow would write (or it writes it again)."""
    return None if instant is None else instant.replace(microsecond=0)


def cli_flags() -> list[str]:
    """`--search-attribute Name=Type` flags for `temporal server start-dev`."""
    kinds = {"KEYWORD": "Keyword", "BOOL": "Bool", "DATETIME": "Datetime", "INT": "Int"}
    return [
        arg
        for key in ALL
        for arg in ("--search-attribute", f"{key.name}={kinds[key.indexed_value_type.name.removeprefix('INDEXED_VALUE_TYPE_')]}")
    ]
