"""Notices: what a clock workflow tells people when an action fires, and what it has not delivered yet.

Pure models (no delivery here): the workflows build them, the activities deliver them, the status views list
the undelivered ones.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator

from sla.deadlines import ActionKind
from sla.policy import ReportTo
from sla.vocabulary import BreachClass

Subject = Literal["complaint", "improvement_plan", "assessment_report", "interruption"]


class Notice(BaseModel):
    """One notice about a complaint, an improvement plan, an assessment report or a service interruption.

    No personal data: ids, contract, clock and times only. `detail` is the engine's own words for a warning and
    a supervisor's free text for an extension notice; sinks send the former and never the latter.
    """

    idempotency_key: str
    action_id: str
    kind: ActionKind
    subject: Subject = "complaint"
    subject_id: str = ""
    complaint_id: str | None = None
    contract: str
    severity: str | None = None
    clock: str | None = None
    level: int | None = None
    to: str | None = None
    breach_class: BreachClass | None = None
    deadline: datetime | None = None
    due_at: datetime
    fired_at: datetime
    detail: str | None = None
    sequence: int | None = None  # firing order within the subject (1, 2, ...)
    report_to: ReportTo | None = None  # a finished report's recipients (kind deliver_report)
    # The report itself (format -> text), added by the delivering activity just before the sinks; never recorded.
    attachments: dict[str, str] | None = Field(default=None, exclude=True)
    assignee: str | None = None  # who owned the complaint when it fired (agent, group): whom to tell first
    group: str | None = None

    @model_validator(mode="after")
    def _subject_id(self) -> Notice:
        # Notices scheduled by workers before the one model existed name only their complaint.
        if not self.subject_id and self.complaint_id:
            object.__setattr__(self, "subject_id", self.complaint_id)
        return self

    def public(self) -> dict[str, Any]:
        """What any sink may send: everything but free text."""
        fields = self.model_dump(mode="json")
        if self.kind is not ActionKind.WARN:
            fields["detail"] = None
        return fields


class Pending(BaseModel):
    """A notice not delivered yet, as continue-as-new carries it and `show` lists it once it has failed."""

    notice: Notice
    attempts: int = 0
    last_error: str | None = None
    retry_at: datetime | None = None  # None: as soon as possible


class Undelivered(BaseModel):
    action_id: str
    kind: ActionKind
    clock: str | None
    fired_at: datetime
    attempts: int
    last_error: str | None
