"""Engine evaluation as a local activity, so each result is recorded in history.

Recording it means a newer engine, `holidays` release or tzdata can ship without breaking the replay of
complaints that are already running: replay reads the recorded answer instead of recomputing it.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from sla.calendar import CalendarError
from sla.engine import Evaluation, evaluate
from sla.events import Event
from sla.policy import ContractPolicy


class EvaluateRequest(BaseModel):
    policy: ContractPolicy
    events: list[Event]
    fired: dict[str, datetime]
    now: datetime


@activity.defn(name="cxsla.evaluate_complaint")
async def evaluate_complaint(request: EvaluateRequest) -> Evaluation:
    """Async on purpose: a few milliseconds of pure CPU, no executor needed by plugin users."""
    try:
        return evaluate(request.policy, request.events, request.now, request.fired)
    except (CalendarError, ValueError) as exc:
        # Retrying cannot help until the deployment changes; the workflow records it and retries later.
        raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from exc
