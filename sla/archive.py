"""What the archive keeps of a finished complaint, plan, cycle or outage, and the hash chain over a complaint's events.

Pure shapes and maths: the store (activities/archive_store.py) writes them to a database, the workflows hand them to
the archiving activity when they finish. A complaint's events are split into what every reader may see (`details`,
a generic JSON object, so fields later releases add to an event archive without a migration) and the personal
fields and free text (`sealed`, encrypted by the store with the payload codec's keyring). Each archived event's
hash covers the event as recorded and the previous event's hash, so changing, dropping or reordering one entry
shows in every hash after it (`verify_chain` names the first that no longer matches).
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from sla import events as ev
from sla.kpi import CategoryCounts, PeriodTally
from sla.kpi import _whole as whole_seconds
from sla.outcomes import MAJOR_SEVERITIES, ClockTally, ComplaintOutcome
from sla.status import ComplaintStatus
from sla.surveys import Scale, ScoreHistogram
from sla.vocabulary import BreachClass

GENESIS = "0" * 64
RECORD_KINDS = ("plan", "cycle", "outage")


class ArchiveComplaint(BaseModel):
    """A complaint as it ended (closed or withdrawn), or a snapshot of an open one: the archiving activity's input."""

    complaint_id: str
    workflow_id: str
    first_run_id: str
    run_id: str
    archived_at: datetime
    events: list[ev.Event]
    status: ComplaintStatus
    outcome: ComplaintOutcome
    fired: dict[str, datetime] = Field(default_factory=dict)  # action id -> when it fired (deliveries' keys below)
    snapshot: bool = False  # an open complaint archived on demand: a later archive of the same run replaces it

    def delivery_keys(self) -> dict[str, str]:
        """Action id -> the idempotency key its notice carried (README, Webhook notifications)."""
        return {action: f"{self.workflow_id}/{self.first_run_id}/{action}" for action in self.fired}


class ArchiveRecord(BaseModel):
    """A finished plan, cycle (with its report) or outage: one generic document per kind."""

    kind: str = Field(pattern="^(plan|cycle|outage)$")
    record_id: str
    first_run_id: str
    contract: str
    finished_at: datetime
    document: dict[str, Any]


def canonical(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def entry_hash(previous: str, seq: int, entry: dict[str, Any]) -> str:
    """SHA-256 over the previous hash, the position and the whole entry (type, at, by, details and sealed, in
    plaintext: re-encrypting under a new key changes no hash)."""
    return hashlib.sha256(previous.encode() + b"|" + str(seq).encode() + b"|" + canonical(entry)).hexdigest()


def chain_entry(type_: str, at: str, by: str | None, details: dict[str, Any], sealed: dict[str, Any]) -> dict:
    return {"type": type_, "at": at, "by": by, "details": details, "sealed": sealed}


def chain(entries: list[dict[str, Any]]) -> list[str]:
    hashes, previous = [], GENESIS
    for seq, entry in enumerate(entries):
        previous = entry_hash(previous, seq, entry)
        hashes.append(previous)
    return hashes


def verify_chain(entries: list[dict[str, Any]], stored: list[str], head: str | None) -> int | None:
    """The position of the first entry whose stored hash no longer matches what it covers (the entry itself or an
    earlier one was changed), `len(entries)` when entries were dropped from the end (the head no longer matches), or
    None when the chain holds."""
    previous = GENESIS
    for seq, (entry, hashed) in enumerate(zip(entries, stored, strict=True)):
        expected = entry_hash(previous, seq, entry)
        if expected != hashed:
            return seq
        previous = hashed
    if head is not None and head != previous:
        return len(entries)
    return None


CLOCK_FACTS = ("met", "breached")


def outcome_facts(outcome: ComplaintOutcome) -> dict[str, Any]:
    """The columns a cycle aggregates in SQL: each is what `sla.kpi.PeriodTally.add` reads from an outcome, so the
    sums over them are the tally of the same complaints."""
    acknowledged = outcome.first_response_business_seconds is not None
    return {
        "kind": outcome.kind.value,
        "at_fault": outcome.at_fault,
        "resolved_at": outcome.resolved_at,
        "resolve_deadline": outcome.resolve_deadline,
        "withdrawn": outcome.withdrawn,
        "resolved": outcome.resolved,
        "first_contact": outcome.resolved and outcome.resolved_at_first_contact,
        "reopened": bool(outcome.reopened),
        "remedy": outcome.remedy.value if outcome.remedy is not None else None,
        "handling_seconds": outcome.handling_seconds,
        "first_response_business": (whole_seconds(outcome.first_response_business_seconds or 0.0)
                                    if acknowledged else None),
        "first_response_wall": whole_seconds(outcome.first_response_seconds or 0.0) if acknowledged else None,
        "major": outcome.severity in MAJOR_SEVERITIES,
        "resolved_in_time": outcome.resolved_in_time,
        "major_breaches": outcome.breaches.get(BreachClass.MAJOR, 0),
        "minor_breaches": outcome.breaches.get(BreachClass.MINOR, 0),
        "csat": outcome.csat,
        "nps": outcome.nps,
        "ces": outcome.ces,
    }



# Sums a cycle asks the database for (each a count of complaints unless named *_seconds), and the columns it
# groups by: with the clock tallies, everything `PeriodTally` holds.
SUMMED = ("withdrawn", "resolved", "first_contact", "reopened", "major", "at_fault")
GROUPED = ("severity", "remedy", "first_response_business", "first_response_wall", "csat", "nps", "ces")


def tally_of(totals: dict[str, int], groups: dict[str, dict[Any, int]], clocks: dict[str, tuple[int, int]], *,
             decided_by: datetime, categories: dict[str, tuple[int, int, int]],
             inquiry_acknowledge: tuple[int, int]) -> PeriodTally:
    """The period's tally from SQL aggregates over the complaints (inquiries apart): `totals` (complaints, the
    SUMMED counts, handled, handling_seconds, major_decided, major_in_time, major_breaches, minor_breaches, decided,
    decided_resolved, at_fault_without_remedy, inquiries), counts per value of each GROUPED column (NULL left out),
    (met, breached) per clock, (complaints, resolved, breached) per category and the inquiries' acknowledge tally.
    Equal to folding the same outcomes one by one into `PeriodTally(decided_by=...)`."""
    tally = PeriodTally(
        decided_by=decided_by, inquiries=totals["inquiries"],
        inquiry_acknowledge=ClockTally(met=inquiry_acknowledge[0], breached=inquiry_acknowledge[1]),
        decided=totals["decided"], decided_resolved=totals["decided_resolved"], at_fault=totals["at_fault"],
        at_fault_without_remedy=totals["at_fault_without_remedy"],
        by_category={name: CategoryCounts(complaints=n, resolved=resolved, breached=breached)
                     for name, (n, resolved, breached) in categories.items()},
        complaints=totals["complaints"], withdrawn=totals["withdrawn"], resolved=totals["resolved"],
        first_contact=totals["first_contact"], reopened=totals["reopened"], handled=totals["handled"],
        handling_seconds=totals["handling_seconds"],
        unacknowledged=totals["complaints"] - sum(groups["first_response_business"].values()),
        major_complaints=totals["major"], major_decided=totals["major_decided"],
        major_in_time=totals["major_in_time"],
        first_response_business=groups["first_response_business"],
        first_response_wall=groups["first_response_wall"],
        by_severity=groups["severity"], remedies=groups["remedy"],
        clocks={name: ClockTally(met=met, breached=breached) for name, (met, breached) in clocks.items()},
        breaches={k: v for k, v in ((BreachClass.MAJOR, totals["major_breaches"]),
                                    (BreachClass.MINOR, totals["minor_breaches"])) if v},
    )
    for scale in Scale:
        counts = {int(score): n for score, n in groups[scale.value].items()}
        if counts:
            setattr(tally, f"feedback_{scale.value}", ScoreHistogram(scale=scale, counts=counts))
    return tally
