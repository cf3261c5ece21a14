"""ComplaintWorkflow: one complaint's clocks, enforced by one durable timer loop.

The workflow only orchestrates: updates append events, the pure engine (`sla.engine`) runs right here on the
events, policy and calendar data the workflow carries, due actions are recorded as fired (exactly once, by id) and
delivered by activities through the outbox, then the loop sleeps until the engine's next due instant or the next
command. Nothing in an evaluation is looked up or recorded: a replay recomputes the same answers from the same data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from activities.archive import ArchiveActivities
    from activities.assessment import AssessmentActivities
    from activities.notifications import Notice
    from sla import commands as cmd
    from sla import events as ev
    from sla import lifecycle, names
    from sla.archive import ArchiveComplaint
    from sla.calendar import BusinessCalendar, CalendarRefreshed, CalendarUpdate, compiled
    from sla.complaint_run import ComplaintRun
    from sla.deadlines import ActionKind, Due
    from sla.engine import Evaluation, check_extension, evaluate
    from sla.kpi import KpiName
    from sla.outcomes import MEMO_KEY, outcome_of
    from sla.plans import FeedbackPlanRequest, Miss, OpenPlanRequest, Trigger
    from sla.simulation import RecordedComplaint, without_personal_data
    from sla.status import ComplaintStatus, OpenAnswer, Opening, brief, build_status
    from sla.vocabulary import BreachClass, ClockName, ClockState, ComplaintState
    from workflows import metrics as m
    from workflows import search_attributes as sa
    from workflows.archiving import ARCHIVE_RETRY
    from workflows.calendar_data import fetch_calendar
    from workflows.clock_loop import ClockLoop, WakeTimer, backoff
    from workflows.legacy.complaint import LegacyComplaint
    from workflows.outbox import Outbox
    from workflows.patches import (
        ARCHIVE_ON_CLOSE_PATCH,
        CARRY_ELIDED_TEXT_PATCH,
        ENGINE_IN_WORKFLOW_PATCH,
        STALE_SURVEY_PATCH,
        UNDELIVERED_ATTRIBUTE_PATCH,
    )

# A quiet complaint whose history has grown this long continues as new, which bounds what a worker replays when it
# wakes an evicted complaint (every past evaluation of the run runs again).
CONTINUE_AS_NEW_HISTORY = 1_000
PLAN_REQUEST_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(seconds=30))


@workflow.defn(name=names.COMPLAINT_WORKFLOW, sandboxed=False)
class ComplaintWorkflow:
    @workflow.init
    def __init__(self, run: ComplaintRun) -> None:
        self._legacy = None if workflow.patched(ENGINE_IN_WORKFLOW_PATCH) else LegacyComplaint(run)
        self._run = run
        self._facts = lifecycle.replay(run.events)
        self._calendar: BusinessCalendar | None = compiled(run.calendar) if run.calendar else None
        self._evaluation: Evaluation | None = None
        self._memo: dict = {}  # answers for ended clock instances (sla.engine.evaluate)
        self.version = 0  # bumped by every event and calendar change: the clock loop re-evaluates on it
        self._events_at_start = len(run.events)
        self._metrics = m.WorkflowMetrics(enabled=not run.imported)  # silent during replay
        self._counted = set(run.counted)
        self._outcome_memo: dict | None = None
        self._search_attributes: dict[str, Any] = {}
        self._outbox = Outbox(subject="complaint", subject_id=run.complaint_id, contract=run.policy.name,
                              metrics=self._metrics, pending=run.pending, sequence=run.sequence,
                              on_delivered=self._delivered, on_settled=self._publish_undelivered,
                              wanted=self._still_wanted)
        self._loop: ClockLoop[Evaluation] = ClockLoop(self, what="complaint", contract=run.policy.name,
                                                      metrics=self._metrics)
        self._requests_in_flight = False
        self._request_error: str | None = None
        self._requests: asyncio.Task | None = None
        if self._legacy is None:
            self._remember_published()

    def _remember_published(self) -> None:
        """What the client (or the previous run) already published, so the first settle upserts only changes."""
        attributes = workflow.info().typed_search_attributes
        for key in (sa.STATE, sa.SEVERITY, sa.BREACHED, sa.AT_RISK, sa.NEXT_DEADLINE, sa.PROVISIONAL,
                    sa.OLDEST_UNDELIVERED, sa.UNDELIVERED, sa.ASSIGNEE):
            self._search_attributes[key.name] = attributes.get(key)
        try:
            self._outcome_memo = workflow.memo_value(MEMO_KEY, None, type_hint=dict)
        except Exception:  # noqa: BLE001 - an unreadable memo is simply written again
            self._outcome_memo = None

    # ---- main loop ----------------------------------------------------------------------------------------
    @workflow.run
    async def run(self, run: ComplaintRun) -> ComplaintStatus:
        if self._legacy is not None:
            return await self._legacy.run()
        if self._calendar is None:
            await self._fetch_calendar()
        if run.run == 1:
            received = run.events[0]
            channel = getattr(received, "channel", None)
            self._metrics.count(m.OPENED, {**self._labels(), "channel": channel.value if channel else "unspecified"})
        self._outbox.start()  # notices a previous run left undelivered
        self._start_plan_requests()
        if await self._loop.run(hand_over=self._should_continue_as_new, drained=self._drained):
            workflow.continue_as_new(self._carried())
        await workflow.wait_condition(lambda: self._drained() and not self._outbox.pending
                                      and not self._run.plan_requests)
        if workflow.patched(ARCHIVE_ON_CLOSE_PATCH):
            await self._archive()
        self._metrics.count(m.CLOSED, self._labels())
        return self._status()

    async def _fetch_calendar(self) -> None:
        """A run continued from one that started before calendars travelled with their clocks: resolve it once."""
        data = await fetch_calendar(self._run.policy, self._run.events[0].at)
        self._run.calendar = data
        self._calendar = compiled(data)

    # ---- the clock (what ClockLoop drives) ------------------------------------------------------------------
    def evaluate(self, now: datetime) -> Evaluation:
        assert self._calendar is not None  # run() fetches it before the clock loop starts
        self._evaluation = evaluate(self._run.policy, self._run.events, now, self._run.fired,
                                    calendar=self._calendar, memo=self._memo)
        return self._evaluation

    def fire(self, due: list[Due], now: datetime) -> None:
        for action in due:
            self._run.fired[action.id] = now
            self._count(action)
            if action.kind is ActionKind.CLOSE:
                self._append(ev.Closed(at=now, reason=action.detail or "closed"))
            else:
                self._outbox.fire(action, now, severity=self._facts.severity.value, assignee=self._facts.assignee,
                                  group=self._facts.group)
            if (action.kind is ActionKind.BREACH and action.clock == ClockName.RESOLVE.value
                    and action.breach_class is BreachClass.MAJOR):
                self._request_plan(KpiName.MAJOR_RESOLVED_IN_TIME, Trigger.COMPLAINT, None, now)

    def settle(self) -> None:
        # Not in a task that hands over to a new run: the server refuses that task's completion when a command
        # arrives meanwhile, and the retried task would count again. The next run counts what is left.
        if self._evaluation is not None and self._loop.failure is None and not self._should_continue_as_new():
            self._count_clock_outcomes()
        self._upsert_search_attributes()

    def finished(self) -> bool:
        return self._facts.state.terminal

    def _should_continue_as_new(self) -> bool:
        limit = self._run.continue_as_new_after_events
        if limit is not None and len(self._run.events) - self._events_at_start >= limit:
            return True
        info = workflow.info()
        return info.get_current_history_length() >= CONTINUE_AS_NEW_HISTORY or info.is_continue_as_new_suggested()

    def _drained(self) -> bool:
        """No activity in flight and no update still running: a quiet point to hand over or finish."""
        return (not self._outbox.in_flight and not self._requests_in_flight
                and workflow.all_handlers_finished())

    def _carried(self) -> ComplaintRun:
        """What the next run needs: long free text stays in this run's history (its input or the update that
        wrote it), so the next run's input stays bounded however many notes a complaint collects."""
        carried = {"run": self._run.run + 1, "counted": sorted(self._counted), "pending": self._outbox.pending,
                   "sequence": self._outbox.sequence}
        if workflow.patched(CARRY_ELIDED_TEXT_PATCH):
            where = f"the workflow history of run {self._run.run}"
            carried["events"] = [ev.with_text_elided(event, where) for event in self._run.events]
        return self._run.model_copy(update=carried)

    async def _archive(self) -> None:
        """The ended complaint to the archive (events, clocks, breaches, escalations, deliveries, outcome)."""
        info = workflow.info()
        status = self._status()
        assert self._evaluation is not None  # a complaint ends only from an evaluation
        item = ArchiveComplaint(
            complaint_id=self._run.complaint_id, workflow_id=info.workflow_id,
            first_run_id=info.first_execution_run_id, run_id=info.run_id, archived_at=workflow.now(),
            events=self._run.events, status=status, outcome=outcome_of(self._run.events, self._evaluation),
            fired=self._run.fired)
        await workflow.execute_activity_method(
            ArchiveActivities.archive_complaint, item, start_to_close_timeout=timedelta(minutes=1),
            retry_policy=ARCHIVE_RETRY)

    # ---- deliveries and plans -------------------------------------------------------------------------------
    def _delivered(self, notice: Notice, channel: str) -> None:
        if notice.kind is ActionKind.SEND_SURVEY:
            self._append(ev.SurveySent(at=workflow.now(), channel=channel, instance=_survey_instance(notice)))

    def _still_wanted(self, notice: Notice) -> bool:
        """A survey asks how a resolution went: once the complaint is reopened (or resolved again since), one not
        yet sent is taken back. One on its way when the reopen came is recorded on return as stale (sla.engine) and
        changes no clock."""
        if notice.kind is not ActionKind.SEND_SURVEY:
            return True
        current = (self._facts.state is ComplaintState.RESOLVED
                   and self._facts.resolutions == _survey_instance(notice))
        return current or not workflow.patched(STALE_SURVEY_PATCH)

    def _publish_undelivered(self) -> None:
        """CxOldestUndelivered / CxUndelivered: what the worker's collector turns into the undelivered gauges (read
        from visibility, so every worker replica exports the same value however the complaints move between them)."""
        oldest = self._outbox.oldest_undelivered()
        wanted = {sa.OLDEST_UNDELIVERED: sa.deadline_value(oldest),
                  sa.UNDELIVERED: len(self._outbox.undelivered()) if oldest else None}
        if all(self._search_attributes.get(k.name, ...) == v for k, v in wanted.items()):
            return
        if workflow.patched(UNDELIVERED_ATTRIBUTE_PATCH):
            sa.upsert_changed(self._search_attributes, wanted)

    def _request_plan(self, kpi: KpiName, trigger: Trigger, value: float | None, at: datetime) -> None:
        policy = self._run.policy
        if trigger is Trigger.COMPLAINT and policy.plan_on_major_breach is False:
            return
        self._run.plan_requests.append(OpenPlanRequest(
            contract=policy.name, kpi=kpi.value, at=at, task_queue=workflow.info().task_queue,
            miss=Miss(trigger=trigger, complaint_id=self._run.complaint_id, value=value),
            decided=policy.plan_on_major_breach is not None, policy=self._run.plan_policy,
        ))
        self._start_plan_requests()

    def _request_feedback_plans(self, command: cmd.RecordFeedback) -> None:
        thresholds = self._run.policy.plans_on_negative_feedback
        now = workflow.now()
        if thresholds is None:  # a snapshot from before complaints decided this: the worker's policy decides
            self._run.plan_requests.append(FeedbackPlanRequest(
                contract=self._run.policy.name, complaint_id=self._run.complaint_id, csat=command.csat,
                nps=command.nps, at=now, task_queue=workflow.info().task_queue))
            self._start_plan_requests()
            return
        answers = {KpiName.CSAT: command.csat, KpiName.NPS: command.nps}
        for kpi, at_most in thresholds.items():
            score = answers.get(kpi)
            if score is not None and score <= at_most:
                self._request_plan(kpi, Trigger.FEEDBACK, score, now)

    def _start_plan_requests(self) -> None:
        if self._run.plan_requests and (self._requests is None or self._requests.done()):
            self._requests = asyncio.create_task(self._send_plan_requests())

    async def _send_plan_requests(self) -> None:
        """Start or add to the plans this complaint asked for, in order, retrying until each is taken."""
        timer, failures = WakeTimer(), 0
        while self._run.plan_requests:
            request = self._run.plan_requests[0]
            opener: Callable[[AssessmentActivities, Any], Awaitable[Any]] = (
                AssessmentActivities.open_plans_for_feedback if isinstance(request, FeedbackPlanRequest)
                      else AssessmentActivities.open_plan_for_complaint)
            self._requests_in_flight = True
            try:
                await workflow.execute_activity_method(
                    opener, request, start_to_close_timeout=timedelta(seconds=30),
                    schedule_to_close_timeout=timedelta(minutes=5), retry_policy=PLAN_REQUEST_RETRY)
            except ActivityError as err:
                failures += 1
                self._request_error = str(err.cause or err)[:300]
                self._metrics.count(m.RETRIES, {"contract": self._run.policy.name, "what": "improvement_plan"})
                workflow.logger.warning("could not open an improvement plan (attempt %d): %s", failures,
                                        self._request_error)
                timer.aim(workflow.now() + backoff(failures), "retry opening an improvement plan")
                await workflow.wait_condition(lambda: timer.rang)
                continue
            finally:
                self._requests_in_flight = False
            failures, self._request_error = 0, None
            self._run.plan_requests.pop(0)

    # ---- commands -----------------------------------------------------------------------------------------
    @workflow.update
    async def acknowledge(self, command: cmd.Acknowledge) -> ComplaintStatus:
        return await self._command("acknowledge", command)

    @acknowledge.validator
    def _check_acknowledge(self, command: cmd.Acknowledge) -> None:
        self._validate("acknowledge", command)

    @workflow.update
    async def triage(self, command: cmd.Triage) -> ComplaintStatus:
        return await self._command("triage", command)

    @triage.validator
    def _check_triage(self, command: cmd.Triage) -> None:
        self._validate("triage", command)

    @workflow.update
    async def communicate_plan(self, command: cmd.CommunicatePlan) -> ComplaintStatus:
        return await self._command("communicate_plan", command)

    @communicate_plan.validator
    def _check_communicate_plan(self, command: cmd.CommunicatePlan) -> None:
        self._validate("communicate_plan", command)

    @workflow.update
    async def post_progress(self, command: cmd.PostProgress) -> ComplaintStatus:
        return await self._command("post_progress", command)

    @post_progress.validator
    def _check_post_progress(self, command: cmd.PostProgress) -> None:
        self._validate("post_progress", command)

    @workflow.update
    async def await_customer(self, command: cmd.AwaitCustomer) -> ComplaintStatus:
        return await self._command("await_customer", command)

    @await_customer.validator
    def _check_await_customer(self, command: cmd.AwaitCustomer) -> None:
        self._validate("await_customer", command)

    @workflow.update
    async def customer_responded(self, command: cmd.CustomerResponded) -> ComplaintStatus:
        return await self._command("customer_responded", command)

    @customer_responded.validator
    def _check_customer_responded(self, command: cmd.CustomerResponded) -> None:
        self._validate("customer_responded", command)

    @workflow.update
    async def extend(self, command: cmd.Extend) -> ComplaintStatus:
        return await self._command("extend", command)

    @extend.validator
    def _check_extend(self, command: cmd.Extend) -> None:
        self._validate("extend", command)

    @workflow.update
    async def reclassify(self, command: cmd.Reclassify) -> ComplaintStatus:
        return await self._command("reclassify", command)

    @reclassify.validator
    def _check_reclassify(self, command: cmd.Reclassify) -> None:
        self._validate("reclassify", command)

    @workflow.update
    async def resolve(self, command: cmd.Resolve) -> ComplaintStatus:
        return await self._command("resolve", command)

    @resolve.validator
    def _check_resolve(self, command: cmd.Resolve) -> None:
        self._validate("resolve", command)

    @workflow.update
    async def notify_result(self, command: cmd.NotifyResult) -> ComplaintStatus:
        return await self._command("notify_result", command)

    @notify_result.validator
    def _check_notify_result(self, command: cmd.NotifyResult) -> None:
        self._validate("notify_result", command)

    @workflow.update
    async def reopen(self, command: cmd.Reopen) -> ComplaintStatus:
        return await self._command("reopen", command)

    @reopen.validator
    def _check_reopen(self, command: cmd.Reopen) -> None:
        self._validate("reopen", command)

    @workflow.update
    async def record_feedback(self, command: cmd.RecordFeedback) -> ComplaintStatus:
        return await self._command("record_feedback", command)

    @record_feedback.validator
    def _check_record_feedback(self, command: cmd.RecordFeedback) -> None:
        self._validate("record_feedback", command)

    @workflow.update
    async def withdraw(self, command: cmd.Withdraw) -> ComplaintStatus:
        return await self._command("withdraw", command)

    @withdraw.validator
    def _check_withdraw(self, command: cmd.Withdraw) -> None:
        self._validate("withdraw", command)

    @workflow.update
    async def assign(self, command: cmd.Assign) -> ComplaintStatus:
        return await self._command("assign", command)

    @assign.validator
    def _check_assign(self, command: cmd.Assign) -> None:
        if self._legacy is not None:  # runs of the first release never learnt ownership
            raise ApplicationError(f"complaint {self._run.complaint_id} predates assignment; it cannot be assigned",
                                   type="InvalidTransition", non_retryable=True)
        self._validate("assign", command)

    def _validate(self, name: str, command: cmd.Command) -> None:
        """Refuse an invalid command before anything is recorded (raising here rejects only the update)."""
        if self._legacy is not None:
            self._legacy.validate(name, command)
            return
        try:
            now = workflow.now()
            event = cmd.to_event(name, command, now)
            lifecycle.check(self._facts, name, event)
            cmd.check_limits(command, self._run.policy.bounds, received_at=self._run.events[0].at,
                             events=len(self._run.events))
            cmd.check_policy(command, self._run.policy)
            if isinstance(command, cmd.Extend):
                self._check_extension(command, event, now)
        except ApplicationError:
            raise
        except Exception as exc:  # noqa: BLE001 - every refusal must reach the caller as a message
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None

    def _check_extension(self, command: cmd.Extend, event: ev._Event, now: datetime) -> None:
        """The extension must move a live deadline later, or replace the clock's extension (a supervisor
        correcting it, earlier too: the replacement is one more event), and the engine must be able to compute
        the result."""
        if self._evaluation is not None and not self._replaces_extension(command, now):
            check_extension(self._evaluation, command.clock, command.until, now)
        try:
            assert self._calendar is not None, "the contract calendar is not resolved yet"
            evaluate(self._run.policy, [*self._run.events, event], now, self._run.fired, calendar=self._calendar)
        except Exception as exc:  # noqa: BLE001 - refused with the reason instead of freezing the clocks
            raise ValueError(f"extension to {command.until.isoformat()} cannot be computed: {exc}") from None

    def _replaces_extension(self, command: cmd.Extend, now: datetime) -> bool:
        assert self._evaluation is not None  # asked only once the clocks were evaluated
        clocks = [c for c in self._evaluation.clocks if c.name is command.clock]
        current = clocks[-1] if clocks else None
        return (current is not None and current.extended_until is not None and command.until > now
                and current.state in (ClockState.RUNNING, ClockState.PAUSED))

    async def _command(self, name: str, command: cmd.Command) -> ComplaintStatus:
        if self._legacy is not None:
            return await self._legacy.command(name, command)
        try:
            self._append(cmd.to_event(name, command, workflow.now()))
        except Exception as exc:  # noqa: BLE001 - never fail the workflow task on bad input
            raise ApplicationError(str(exc), type=type(exc).__name__, non_retryable=True) from None
        if isinstance(command, cmd.RecordFeedback):
            self._request_feedback_plans(command)
        if isinstance(command, cmd.Reopen) and self._outbox.prune():
            self._publish_undelivered()
        # Answer once the command is evaluated and what it made due has fired (the answer shows it fired).
        version = self.version
        await workflow.wait_condition(lambda: self._loop.settled(version))
        return brief(self._status())

    def _append(self, event: ev._Event) -> None:
        self._run.events.append(cast("ev.Event", event))  # to_event makes one of the union's members
        self._facts = lifecycle.apply(self._facts, event)
        self.version += 1

    @workflow.update
    async def opened(self, opening: Opening) -> OpenAnswer:
        """The answer to an open (update-with-start): the complaint once its clocks are evaluated, and whether this
        request started it."""
        created = opening.nonce == self._run.open_nonce
        legacy = self._legacy
        if legacy is not None:
            await workflow.wait_condition(lambda: bool(legacy.status().clocks) or self._facts.state.terminal)
            return OpenAnswer(created=created, status=legacy.status())
        await workflow.wait_condition(lambda: self._loop.settled(0))
        return OpenAnswer(created=created, status=brief(self._status()))

    @opened.validator
    def _check_opened(self, opening: Opening) -> None:
        if opening.nonce == self._run.open_nonce:
            return
        received = self._run.events[0]
        assert isinstance(received, ev.Received)  # every complaint's log starts with its receipt
        asked = {"contract": opening.contract, "severity": opening.severity.value, "channel": opening.channel,
                 "customer_id": opening.customer_id}
        held = {"contract": received.contract, "severity": received.severity.value,
                "channel": received.channel.value if received.channel else None, "customer_id": received.customer_id}
        # a field the repeat leaves out is not a difference (a desk may resend only the id, contract, severity)
        differs = [f"{k} {held[k]!r} (asked {asked[k]!r})" for k in asked
                   if asked[k] is not None and asked[k] != held[k]]
        if differs:
            raise ApplicationError(
                f"complaint {self._run.complaint_id} exists with other content: {', '.join(differs)}",
                type="OpenConflict", non_retryable=True)

    @workflow.update
    async def refresh_calendar(self, update: CalendarUpdate) -> CalendarRefreshed:
        """Take newer calendar data (an official year published): recorded in the timeline, clocks recomputed.
        Fired actions stay fired; a deadline that moved into the past fires now. The same data twice changes
        nothing the second time."""
        complaint, current = self._run.complaint_id, self._run.calendar if self._legacy is None else None
        data = update.take(current, complaint, self._provisional)
        if isinstance(data, CalendarRefreshed):
            return data
        self._run.calendar = data
        self._calendar = compiled(data)
        self._append(ev.CalendarUpdated(at=workflow.now(), by=update.by, calendar=data.name, digest=data.digest,
                                        years=data.known_years()))
        version = self.version
        await workflow.wait_condition(lambda: self._loop.settled(version))
        return CalendarRefreshed(id=complaint, changed=True, provisional=self._provisional())

    @refresh_calendar.validator
    def _check_refresh_calendar(self, update: CalendarUpdate) -> None:
        if self._facts.state.terminal:
            raise ApplicationError(f"complaint {self._run.complaint_id} is {self._facts.state.value}",
                                   type="InvalidTransition", non_retryable=True)

    # ---- views --------------------------------------------------------------------------------------------
    @workflow.query
    def status(self) -> ComplaintStatus:
        return self._legacy.status() if self._legacy is not None else self._status()

    @workflow.query
    def recorded(self) -> RecordedComplaint:
        """Events (personal data removed), policy and fired actions: the input of what-if simulation."""
        if self._legacy is not None:
            return self._legacy.recorded()
        return RecordedComplaint(complaint_id=self._run.complaint_id, policy=self._run.policy,
                                 events=without_personal_data(self._run.events), fired=self._run.fired,
                                 calendar=self._run.calendar)

    def _provisional(self) -> bool:
        return bool(self._evaluation and self._evaluation.provisional)

    def _status(self) -> ComplaintStatus:
        evaluation = self._evaluation or Evaluation(
            state=self._facts.state, severity=self._facts.severity, clocks=[], due=[], next_due_at=None,
            next_deadline=None, breaches=[], escalations=[], breached=False, at_risk=False,
        )
        failure = self._loop.failure
        return build_status(
            complaint_id=self._run.complaint_id, contract=self._run.policy.name,
            policy_version=self._run.policy.version, events=self._run.events, evaluation=evaluation,
            engine_error=failure.message if failure else None, undelivered=self._outbox.undelivered(),
            calendar=self._run.calendar.name if self._run.calendar else self._run.policy.calendar_name,
            timezone=self._run.calendar.timezone if self._run.calendar else self._run.policy.calendar.timezone,
        )

    def _labels(self) -> dict[str, str]:
        return {"contract": self._run.policy.name, "severity": self._facts.severity.value}

    def _count(self, action: Due) -> None:
        self._metrics.fired(action.kind.value, contract=self._run.policy.name, severity=self._facts.severity.value,
                            clock=action.clock, level=action.level,
                            breach_class=action.breach_class.value if action.breach_class else None)
        if action.kind is ActionKind.BREACH:
            workflow.logger.warning("breach %s (%s)", action.id,
                                    action.breach_class.value if action.breach_class else None)

    def _count_clock_outcomes(self) -> None:
        """Count each clock instance once when it is decided (met in time, or breached), and the time it took to
        acknowledge or resolve once when met. Compliance = met / (met + breached) per clock."""
        assert self._evaluation is not None  # settle() counts only after an evaluation
        for clock in self._evaluation.clocks:
            key = f"{clock.name.value}#{clock.instance}"
            if key not in self._counted and clock.state in (ClockState.MET, ClockState.BREACHED):
                self._counted.add(key)
                outcome = "met" if clock.state is ClockState.MET else "breached"
                self._metrics.count(m.CLOCK_OUTCOMES, {**self._labels(), "clock": clock.name.value,
                                                       "outcome": outcome})
            timed = _TIMED.get(clock.name)
            if timed and clock.met_at is not None and f"{key}:met" not in self._counted:
                self._counted.add(f"{key}:met")
                wall, business = timed
                self._metrics.observe(wall, (clock.met_at - clock.started_at).total_seconds(), self._labels())
                if clock.met_after_business_seconds is not None:
                    self._metrics.observe(business, clock.met_after_business_seconds, self._labels())

    def _upsert_search_attributes(self) -> None:
        evaluation = self._evaluation
        if evaluation is None:
            return
        terminal = self._facts.state.terminal
        if terminal:  # open complaints are read by query (activities/assessment.py): one memo write, at the end
            outcome = outcome_of(self._run.events, evaluation).model_dump(mode="json")
            if outcome != self._outcome_memo:
                self._outcome_memo = outcome
                workflow.upsert_memo({MEMO_KEY: outcome})
        wanted = {
            sa.STATE: self._facts.state.value,
            sa.SEVERITY: self._facts.severity.value,
            sa.BREACHED: evaluation.breached,
            sa.AT_RISK: evaluation.at_risk and not terminal,
            sa.NEXT_DEADLINE: None if terminal else evaluation.next_deadline,
            sa.PROVISIONAL: evaluation.provisional and not terminal,
            # None until the first assign: runs that never had one upsert nothing new
            sa.ASSIGNEE: self._facts.assignee,
        }
        sa.upsert_changed(self._search_attributes, wanted)


def _survey_instance(notice: Notice) -> int:
    """`survey#<instance>:send` -> instance (the resolution it asks about)."""
    return int(notice.action_id.split("#", 1)[1].split(":", 1)[0])


_TIMED = {ClockName.ACKNOWLEDGE: (m.TIME_TO_ACK, m.TIME_TO_ACK_BUSINESS),
          ClockName.RESOLVE: (m.TIME_TO_RESOLVE, m.TIME_TO_RESOLVE_BUSINESS)}
