"""The closed sets of names the agreements speak in: severities, channels, clocks, states, breach classes."""

from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    CRITICAL = "critical"
    MAJOR = "major"
    NORMAL = "normal"
    LOW = "low"


class Channel(str, Enum):
    PHONE = "phone"
    EMAIL = "email"
    WEB = "web"
    CHAT = "chat"
    SOCIAL = "social"


class Kind(str, Enum):
    """What the customer raised: a complaint runs every clock; an inquiry or request (000 §2.2b) only the first
    response (`acknowledge`) and the answer (`resolve`), and closes once answered."""

    COMPLAINT = "complaint"
    INQUIRY = "inquiry"


class Remedy(str, Enum):
    COMPENSATION = "compensation"
    UPGRADE = "upgrade"
    REPLACEMENT = "replacement"


class ClockName(str, Enum):
    ACKNOWLEDGE = "acknowledge"
    TRIAGE = "triage"
    HANDLING_PLAN = "handling_plan"
    PROGRESS_UPDATE = "progress_update"
    RESOLVE = "resolve"
    NOTIFY_RESULT = "notify_result"
    SURVEY = "survey"


# Clocks that stand still while the complaint waits for the customer.
PAUSABLE_CLOCKS = frozenset(
    {ClockName.TRIAGE, ClockName.HANDLING_PLAN, ClockName.RESOLVE, ClockName.PROGRESS_UPDATE}
)


class ComplaintState(str, Enum):
    RECEIVED = "received"
    ACKNOWLEDGED = "acknowledged"
    IN_PROGRESS = "in_progress"
    AWAITING_CUSTOMER = "awaiting_customer"
    RESOLVED = "resolved"
    CLOSED = "closed"
    WITHDRAWN = "withdrawn"

    @property
    def terminal(self) -> bool:
        return self in (ComplaintState.CLOSED, ComplaintState.WITHDRAWN)


class ClockState(str, Enum):
    RUNNING = "running"
    PAUSED = "paused"
    MET = "met"
    BREACHED = "breached"
    STOPPED = "stopped"


class BreachClass(str, Enum):
    MINOR = "minor"
    MAJOR = "major"
