"""`calendar refresh` against a real dev server: it reaches this deployment's live clocks (its task queue), leaves
another deployment's alone, and reports a clock whose worker is gone after a bounded wait instead of hanging."""

from __future__ import annotations

from datetime import timedelta

from sla.commands import OpenComplaint
from sla.policy import load_policy
from starter.client.calendars import refresh_calendar
from starter.client.complaints import ComplaintClient
from tests.helpers.temporal import cxsla_worker


async def test_refresh_reaches_its_own_queue_and_reports_a_clock_nobody_answers_for(dev_env):
    client, policy = dev_env.client, load_policy()
    async with cxsla_worker(client) as live:
        await ComplaintClient(client, task_queue=live, policy=policy).open(
            OpenComplaint(id="refresh-live", contract="always-on", severity="normal"))
        async with cxsla_worker(client) as gone:
            await ComplaintClient(client, task_queue=gone, policy=policy).open(
                OpenComplaint(id="refresh-gone", contract="always-on", severity="normal"))
        # `gone`'s worker has stopped: its complaint is running but nothing will run its workflow tasks.

        answered = await refresh_calendar(client, policy, "24x7", task_queue=live, by="ops")
        assert (answered.workflows, answered.unchanged, answered.failed) == (1, 1, 0), answered

        unanswered = await refresh_calendar(client, policy, "24x7", task_queue=gone, by="ops",
                                            answer_within=timedelta(seconds=2))
        assert (unanswered.workflows, unanswered.failed) == (1, 1), unanswered
        [failure] = unanswered.failures
        assert failure.startswith("complaint-refresh-gone: no answer within 2 s"), failure
