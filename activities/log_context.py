"""A worker interceptor that binds each activity's identity to structlog's contextvars while it runs.

So every log line an activity (or the sink it calls) writes carries the complaint, workflow, run, activity and
attempt, without passing them around. Workflow code needs nothing of the kind: workflow.logger already carries the
workflow's ids and stays silent on replay.
"""

from __future__ import annotations

from typing import Any

import structlog
from temporalio import activity
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from sla import names


class LogContextInterceptor(Interceptor):
    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _BindActivityContext(next)


class _BindActivityContext(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        fields = {
            "workflow_id": info.workflow_id, "run_id": info.workflow_run_id, "activity_type": info.activity_type,
            "activity_id": info.activity_id, "attempt": info.attempt,
        }
        complaint_id = names.complaint_id_of(info.workflow_id)
        if complaint_id is not None:
            fields["complaint_id"] = complaint_id
        with structlog.contextvars.bound_contextvars(**fields):
            return await super().execute_activity(input)
