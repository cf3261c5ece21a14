"""ComplaintRun: a complaint's whole state, the workflow's input and what continue-as-new carries forward.

Its own module, imported by the workflow with pass-through: the sandbox re-imports the workflow module for every
run, which rebuilt this model's pydantic schema each time (about 7 ms) and kept a copy per cached run (about 49 KB
of worker memory per open complaint, bench/lifecycle).
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from sla import events as ev
from sla.policy import ContractPolicy


class ComplaintRun(BaseModel):
    """All of a complaint's state: the workflow input, and what continue-as-new carries forward."""

    complaint_id: str
    policy: ContractPolicy
    events: list[ev.Event]
    fired: dict[str, datetime] = Field(default_factory=dict)
    continue_as_new_after_events: int | None = None  # None: when the server suggests it
    run: int = 1
    # Metric facts already counted ("acknowledge#1" outcome, "acknowledge#1:met" time), so a later run after
    # continue-as-new never counts them again.
    counted: list[str] = Field(default_factory=list)
    # Imported history (ComplaintClient.import_history): it happened elsewhere, so it adds to no live counter.
    imported: bool = False
