"""How ComplaintWorkflow ran before its engine moved into workflow code: kept so that runs recorded then replay.

A run whose first task did not record the `engine-in-workflow` patch marker (every complaint started by an earlier
release, until it continues as new) runs this code: a local activity evaluates the engine at every step, each
notification is its own activity, and the loop sleeps on a fresh timer each time. Its commands must stay exactly
as they were recorded; change nothing here but what cannot affect them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

from workflows.legacy.engine_loop import RETRY_SUMMARY, evaluate_recorded, sleep_until

with workflow.unsafe.imports_passed_through():
    from activities.assessment import AssessmentActivities
    from activities.evaluation import EvaluateRequest, evaluate_complaint
    from activities.notifications import Notice, NotificationActivities
    from sla import events as ev
    from sla import lifecycle
    from sla.commands import Command, Extend, RecordFeedback, to_event
    from sla.complaint_run import ComplaintRun
    from sla.engine import Action, ActionKind, Evaluation, check_extension
    from sla.kpi import KpiName
    from sla.outcomes import MEMO_KEY, outcome_of
    from sla.plans import FeedbackPlanRequest, Miss, OpenPlanRequest, Trigger
    from sla.simulation import RecordedComplaint, without_personal_data
    from sla.status import ComplaintStatus, build_status
    from sla.vocabulary import BreachClass, ClockName, ClockState
    from workflows import metrics as m
    from workflows import search_attributes as sa

ENGINE_RETRY_AFTER = timedelta(hours=1)
DELIVERY_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=5))
DELIVERY_GIVE_UP_AFTER = timedelta(days=1)
OUTCOME_MEMO_PATCH = "outcome-memo"  # the KPI outcome rides in the memo for assessment cycles
PLAN_ON_MAJOR_BREACH_PATCH = "plan-on-major-breach"  # a major resolve breach opens an improvement plan
PLAN_ON_NEGATIVE_FEEDBACK_PATCH = "plan-on-negative-feedback"  # significantly negative feedback opens one too


class LegacyComplaint:
    def __init__(self, run: ComplaintRun) -> None:
        self._run = run
        self._facts = lifecycle.replay(run.events)
        self._evaluation: Evaluation | None = None
        self._evaluated_events = 0
        self._events_at_start = len(run.events)
        self._engine_error: str | None = None
        self._outbox: list[Notice | OpenPlanRequest | FeedbackPlanRequest] = []
        self._outcome_memo: dict | None = None
        self._memo_outcomes = self._plans_on_breach = self._plans_on_feedback = False  # set by run(): patches
        self._search_attributes: dict[str, Any] = {}
        self._metrics = m.WorkflowMetrics(enabled=not run.imported)  # silent during replay
        self._counted = set(run.counted)

    # ---- main loop ----------------------------------------------------------------------------------------
    async def run(self) -> ComplaintStatus:
        # Decided once, in the run's first activation: a patch asked for later could land in a different
        # workflow task on replay than when it was recorded (a local activity may finish after its task).
        self._memo_outcomes = workflow.patched(OUTCOME_MEMO_PATCH)
        self._plans_on_breach = workflow.patched(PLAN_ON_MAJOR_BREACH_PATCH)
        self._plans_on_feedback = workflow.patched(PLAN_ON_NEGATIVE_FEEDBACK_PATCH)
        if self._run.run == 1:
            received = self._run.events[0]
            channel = getattr(received, "channel", None)
            self._metrics.count(m.OPENED, {**self._labels(), "channel": channel.value if channel else "unspecified"})
        outbox = asyncio.create_task(self._deliver_outbox())
        while True:
            await self._evaluate()
            self._count_clock_outcomes()
            if self._due():
                assert self._evaluation is not None  # _due() saw one
                self._fire(self._evaluation.due)
                continue  # re-evaluate so status shows what just fired
            self._upsert_search_attributes()
            if self._facts.state.terminal:
                break
            if self._should_continue_as_new():
                if await self._ready_to_hand_over():
                    outbox.cancel()
                    workflow.continue_as_new(
                        self._run.model_copy(update={"run": self._run.run + 1, "counted": sorted(self._counted)})
                    )
                continue  # a command or a due instant came first: handle it, then try again
            await self._sleep()
        await self._drain()
        outbox.cancel()
        self._metrics.count(m.CLOSED, self._labels())
        return self.status()

    async def _evaluate(self) -> None:
        count = len(self._run.events)
        self._evaluation, self._engine_error = await evaluate_recorded(
            evaluate_complaint,
            EvaluateRequest(policy=self._run.policy, events=self._run.events, fired=self._run.fired,
                            now=workflow.now()),
            "engine", self._evaluation,
        )
        self._evaluated_events = count

    def _wake_up(self) -> tuple[str, timedelta | None]:
        if self._engine_error:
            return RETRY_SUMMARY, ENGINE_RETRY_AFTER
        if self._evaluation and self._evaluation.next_due_at:
            summary = f"{self._evaluation.next_action} at {self._evaluation.next_due_at.isoformat()}"
            return summary, self._evaluation.next_due_at - workflow.now()
        return "next command", None

    def _new_events(self) -> bool:
        return len(self._run.events) > self._evaluated_events

    async def _sleep(self) -> None:
        summary, timeout = self._wake_up()
        await sleep_until(timeout, summary, self._new_events)

    async def _ready_to_hand_over(self) -> bool:
        summary, timeout = self._wake_up()
        drained = lambda: not self._outbox and workflow.all_handlers_finished()  # noqa: E731
        if not await sleep_until(timeout, summary, lambda: drained() or self._new_events()):
            return False
        return drained() and not self._new_events()

    def _fire(self, actions: list[Action]) -> None:
        now = workflow.now()
        for action in actions:
            self._run.fired[action.id] = now
            self._count(action)
            if action.kind is ActionKind.CLOSE:
                self._append(ev.Closed(at=now, reason=action.detail or "closed"))
            else:
                self._outbox.append(self._notification(action, now))
            if (action.kind is ActionKind.BREACH and action.clock == ClockName.RESOLVE.value
                    and action.breach_class is BreachClass.MAJOR and self._plans_on_breach):
                self._outbox.append(OpenPlanRequest(
                    contract=self._run.policy.name, kpi=KpiName.MAJOR_RESOLVED_IN_TIME.value, at=now,
                    miss=Miss(trigger=Trigger.COMPLAINT, complaint_id=self._run.complaint_id),
                    task_queue=workflow.info().task_queue,
                ))

    async def _deliver_outbox(self) -> None:
        while True:
            await workflow.wait_condition(lambda: bool(self._outbox))
            item = self._outbox[0]
            if isinstance(item, OpenPlanRequest | FeedbackPlanRequest):
                await self._open_plan(item)
                self._outbox.pop(0)
                continue
            try:
                if item.kind is ActionKind.SEND_SURVEY:
                    channel = await workflow.execute_activity_method(
                        NotificationActivities.send_survey, item, start_to_close_timeout=timedelta(seconds=30),
                        schedule_to_close_timeout=DELIVERY_GIVE_UP_AFTER, retry_policy=DELIVERY_RETRY,
                    )
                    self._append(ev.SurveySent(at=workflow.now(), channel=channel))
                else:
                    await workflow.execute_activity_method(
                        NotificationActivities.notify, item, start_to_close_timeout=timedelta(seconds=30),
                        schedule_to_close_timeout=DELIVERY_GIVE_UP_AFTER, retry_policy=DELIVERY_RETRY,
                    )
            except ActivityError as err:
                labels = {**self._labels(), "clock": item.clock or ""}
                self._metrics.count(m.NOTIFICATION_FAILURES, labels)
                if item.kind is ActionKind.ESCALATE:
                    self._metrics.count(m.ESCALATION_FAILURES, {**labels, "level": str(item.level)})
                workflow.logger.warning("gave up delivering %s: %s", item.action_id, err)
            self._outbox.pop(0)

    async def _open_plan(self, request: OpenPlanRequest | FeedbackPlanRequest) -> None:
        opener: Callable[[AssessmentActivities, Any], Awaitable[Any]] = (
            AssessmentActivities.open_plan_for_complaint if isinstance(request, OpenPlanRequest)
                  else AssessmentActivities.open_plans_for_feedback)
        try:
            await workflow.execute_activity_method(
                opener, request, start_to_close_timeout=timedelta(seconds=30),
                schedule_to_close_timeout=DELIVERY_GIVE_UP_AFTER, retry_policy=DELIVERY_RETRY,
            )
        except ActivityError as err:
            workflow.logger.warning("gave up opening an improvement plan for %s: %s",
                                    self._run.complaint_id, err)

    async def _drain(self) -> None:
        await workflow.wait_condition(lambda: not self._outbox and workflow.all_handlers_finished())

    def _should_continue_as_new(self) -> bool:
        limit = self._run.continue_as_new_after_events
        if limit is not None and len(self._run.events) - self._events_at_start >= limit:
            return True
        return workflow.info().is_continue_as_new_suggested()

    # ---- commands -----------------------------------------------------------------------------------------
    def validate(self, name: str, command: Command) -> None:
        try:
            event = to_event(name, command, workflow.now())
            lifecycle.check(self._facts, name, event)
            if isinstance(command, Extend) and self._evaluation is not None:
                check_extension(self._evaluation, command.clock, command.until, workflow.now())
        except ApplicationError:
            raise
        except Exception as exc:  # noqa: BLE001 - every refusal must reach the caller as a message
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None

    async def command(self, name: str, command: Command) -> ComplaintStatus:
        try:
            self._append(to_event(name, command, workflow.now()))
        except Exception as exc:  # noqa: BLE001 - never fail the workflow task on bad input
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        recorded = len(self._run.events)
        if name == "record_feedback" and self._plans_on_feedback:
            assert isinstance(command, RecordFeedback)  # the record_feedback update takes only this command
            self._outbox.append(FeedbackPlanRequest(
                contract=self._run.policy.name, complaint_id=self._run.complaint_id, csat=command.csat,
                nps=command.nps, at=workflow.now(), task_queue=workflow.info().task_queue,
            ))
        await workflow.wait_condition(lambda: self._evaluated_events >= recorded and not self._due())
        return self.status()

    def _due(self) -> bool:
        return self._engine_error is None and self._evaluation is not None and bool(self._evaluation.due)

    def _append(self, event: ev._Event) -> None:
        self._run.events.append(cast("ev.Event", event))  # to_event makes one of the union's members
        self._facts = lifecycle.apply(self._facts, event)

    # ---- views --------------------------------------------------------------------------------------------
    def recorded(self) -> RecordedComplaint:
        return RecordedComplaint(complaint_id=self._run.complaint_id, policy=self._run.policy,
                                 events=without_personal_data(self._run.events), fired=self._run.fired)

    def status(self) -> ComplaintStatus:
        evaluation = self._evaluation or Evaluation(
            state=self._facts.state, severity=self._facts.severity, clocks=[], due=[], next_due_at=None,
            next_deadline=None, breaches=[], escalations=[], breached=False, at_risk=False,
        )
        return build_status(
            complaint_id=self._run.complaint_id, contract=self._run.policy.name,
            policy_version=self._run.policy.version, events=self._run.events, evaluation=evaluation,
            engine_error=self._engine_error,
        )

    def _labels(self) -> dict[str, str]:
        return {"contract": self._run.policy.name, "severity": self._facts.severity.value}

    def _count(self, action: Action) -> None:
        labels = self._labels()
        if action.clock is not None:
            labels["clock"] = action.clock
        if action.kind is ActionKind.BREACH:
            assert action.breach_class is not None  # the engine classes every breach
            self._metrics.count(m.BREACHES, {**labels, "class": action.breach_class.value})
            workflow.logger.warning("breach %s (%s)", action.id, action.breach_class.value)
        elif action.kind is ActionKind.ESCALATE:
            self._metrics.count(m.ESCALATIONS, {**labels, "level": str(action.level)})
        elif action.kind is ActionKind.WARN:
            self._metrics.count(m.WARNINGS, labels)

    def _count_clock_outcomes(self) -> None:
        if self._evaluation is None or self._engine_error:
            return
        for clock in self._evaluation.clocks:
            key = f"{clock.name.value}#{clock.instance}"
            labels = {**self._labels(), "clock": clock.name.value}
            if key not in self._counted and clock.state in (ClockState.MET, ClockState.BREACHED):
                self._counted.add(key)
                outcome = "met" if clock.state is ClockState.MET else "breached"
                self._metrics.count(m.CLOCK_OUTCOMES, {**labels, "outcome": outcome})
            timed = {ClockName.ACKNOWLEDGE: (m.TIME_TO_ACK, m.TIME_TO_ACK_BUSINESS),
                     ClockName.RESOLVE: (m.TIME_TO_RESOLVE, m.TIME_TO_RESOLVE_BUSINESS)}.get(clock.name)
            if timed and clock.met_at is not None and f"{key}:met" not in self._counted:
                self._counted.add(f"{key}:met")
                wall, business = timed
                self._metrics.observe(wall, (clock.met_at - clock.started_at).total_seconds(), self._labels())
                if clock.met_after_business_seconds is not None:
                    self._metrics.observe(business, clock.met_after_business_seconds, self._labels())

    def _notification(self, action: Action, fired_at: datetime) -> Notice:
        return Notice(
            idempotency_key=f"{workflow.info().workflow_id}/{action.id}", action_id=action.id, kind=action.kind,
            subject="complaint", subject_id=self._run.complaint_id, complaint_id=self._run.complaint_id,
            contract=self._run.policy.name, severity=self._facts.severity.value, clock=action.clock,
            level=action.level, to=action.to, breach_class=action.breach_class, deadline=action.deadline,
            due_at=action.due_at, fired_at=fired_at, detail=action.detail,
        )

    def _upsert_outcome(self) -> None:
        if not self._memo_outcomes or self._evaluation is None or self._engine_error:
            return
        outcome = outcome_of(self._run.events, self._evaluation).model_dump(mode="json")
        if self._memo_outcomes and outcome != self._outcome_memo:
            self._outcome_memo = outcome
            workflow.upsert_memo({MEMO_KEY: outcome})

    def _upsert_search_attributes(self) -> None:
        self._upsert_outcome()
        evaluation = self._evaluation
        wanted: dict[str, tuple[Any, Any]] = {
            sa.STATE.name: (sa.STATE, self._facts.state.value),
            sa.SEVERITY.name: (sa.SEVERITY, self._facts.severity.value),
        }
        if evaluation is not None:
            wanted[sa.BREACHED.name] = (sa.BREACHED, evaluation.breached)
            wanted[sa.AT_RISK.name] = (sa.AT_RISK, evaluation.at_risk and not self._facts.state.terminal)
            wanted[sa.NEXT_DEADLINE.name] = (
                sa.NEXT_DEADLINE, None if self._facts.state.terminal else evaluation.next_deadline
            )
        changes = []
        for name, (key, value) in wanted.items():
            if self._search_attributes.get(name, ...) != value:
                self._search_attributes[name] = value
                changes.append(key.value_unset() if value is None else key.value_set(value))
        if changes:
            workflow.upsert_search_attributes(changes)
