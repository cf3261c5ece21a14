"""Every name cx-sla writes into Temporal: workflow types and ids, memo keys, search attributes, list filters.

Written once here because the workflows, the activities, the CLI and the API must agree on them byte for byte: a
workflow id built two ways, or a filter quoted two ways, finds nothing and says nothing. Pure strings (the typed
search-attribute keys are built from these names in workflows/search_attributes.py and activities/attributes.py).
"""

from __future__ import annotations

from datetime import datetime

# ---- workflow types ------------------------------------------------------------------------------------------
COMPLAINT_WORKFLOW = "ComplaintWorkflow"
PLAN_WORKFLOW = "ImprovementPlanWorkflow"
CYCLE_WORKFLOW = "AssessmentCycleWorkflow"
SCHEDULED_CYCLE_WORKFLOW = "ScheduledCycleWorkflow"
INTERRUPTION_WORKFLOW = "ServiceInterruptionWorkflow"

# ---- workflow ids --------------------------------------------------------------------------------------------
COMPLAINT_PREFIX = "complaint-"
PLAN_PREFIX = "plan-"
CYCLE_PREFIX = "cycle-"
CYCLE_LAUNCH_PREFIX = "cycle-launch-"  # what a schedule starts (it appends its own timestamp)
OUTAGE_PREFIX = "outage-"
SCHEDULE_PREFIX = "cxsla-cycle-"  # Temporal Schedule ids, one per contract and cadence


def complaint_workflow_id(complaint_id: str) -> str:
    return f"{COMPLAINT_PREFIX}{complaint_id}"


def complaint_id_of(workflow_id: str | None) -> str | None:
    """The complaint id inside a complaint's workflow id; None for any other workflow."""
    if workflow_id and workflow_id.startswith(COMPLAINT_PREFIX):
        return workflow_id.removeprefix(COMPLAINT_PREFIX)
    return None


def plan_workflow_id(contract: str, kpi: str) -> str:
    """One open plan per contract and KPI (the KPI's name, e.g. `csat`)."""
    return f"{PLAN_PREFIX}{contract}-{kpi}"


def cycle_workflow_id(contract: str, period: str) -> str:
    """One cycle per contract and period: `cycle-default-2026-Q3`."""
    return f"{CYCLE_PREFIX}{contract}-{period}"


def cycle_launch_id(contract: str, cadence: str) -> str:
    return f"{CYCLE_LAUNCH_PREFIX}{contract}-{cadence}"


def schedule_id(contract: str, cadence: str) -> str:
    return f"{SCHEDULE_PREFIX}{contract}-{cadence}"


def outage_workflow_id(outage_id: str) -> str:
    return f"{OUTAGE_PREFIX}{outage_id}"


# ---- memo keys -----------------------------------------------------------------------------------------------
OUTCOME_MEMO = "cxsla.outcome"  # a complaint's ComplaintOutcome (sla/outcomes.py)
INTERRUPTION_MEMO = "cxsla.interruption"  # an outage's interval (sla/interruptions.py)
KPI_MEMO = "cxsla.kpis"  # a cycle's KPI figures, for dashboards

# ---- search attributes: name -> the kind it is registered as -------------------------------------------------
CONTRACT = "CxContract"
SEVERITY = "CxSeverity"
STATE = "CxState"
BREACHED = "CxBreached"
AT_RISK = "CxAtRisk"
NEXT_DEADLINE = "CxNextDeadline"
RECEIVED_AT = "CxReceivedAt"  # complaints only: when the complaint was received
PROVISIONAL = "CxProvisional"  # a running clock touches an unpublished calendar year
# Notices that failed at least once and are still being retried: when the oldest of them was fired, and how many.
# Unset while everything is delivered, so the collector lists only the workflows that have some.
OLDEST_UNDELIVERED = "CxOldestUndelivered"
UNDELIVERED = "CxUndelivered"
ASSIGNEE = "CxAssignee"  # complaints: the agent who owns it (set by assign; unset while nobody does)

SEARCH_ATTRIBUTES: dict[str, str] = {
    CONTRACT: "keyword", SEVERITY: "keyword", STATE: "keyword", BREACHED: "bool", AT_RISK: "bool",
    NEXT_DEADLINE: "datetime", RECEIVED_AT: "datetime", PROVISIONAL: "bool", OLDEST_UNDELIVERED: "datetime",
    UNDELIVERED: "int", ASSIGNEE: "keyword",
}


# ---- visibility list filters ---------------------------------------------------------------------------------
def quote(value: str) -> str:
    """A string literal for a list filter. Temporal parses filters with a MySQL-dialect tokenizer, where a
    backslash escapes the next character: backslashes are doubled first, then each quote is escaped."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def instant(value: datetime) -> str:
    """A datetime literal for a list filter (RFC 3339, UTC as `Z`)."""
    return quote(value.isoformat().replace("+00:00", "Z"))


def of_type(workflow_type: str, **equal: str) -> str:
    """`WorkflowType = '...'` and each keyword attribute equal to its value (keyword names as arguments)."""
    return " AND ".join([f"WorkflowType = {quote(workflow_type)}",
                         *(f"{name} = {quote(value)}" for name, value in equal.items())])


def complaints_query(contract: str, start: datetime, end: datetime) -> str:
    """Complaints received in [start, end) under `contract` (CxReceivedAt is set when a complaint opens)."""
    return (f"{of_type(COMPLAINT_WORKFLOW, **{CONTRACT: contract})} "
            f"AND {RECEIVED_AT} >= {instant(start)} AND {RECEIVED_AT} < {instant(end)}")


def interruptions_query(contract: str) -> str:
    """Every interruption of `contract`: few enough to list whole; the caller keeps those overlapping a period
    (by the interval in each memo, since outages carry no time attribute of their own)."""
    return of_type(INTERRUPTION_WORKFLOW, **{CONTRACT: contract})
