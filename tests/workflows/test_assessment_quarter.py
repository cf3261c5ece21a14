"""A whole quarter under the time-skipping server: 100 complaints of mixed severities and outcomes, survey batches
and an outage; the cycle's KPIs equal the ones computed here from the same script, each missed target starts
exactly one improvement plan, and the next quarter's cycle closes the satisfaction plan as effective.

The time-skipping server lacks ListWorkflowExecutions, so the cycle reads the complaints' memos by describing the
known workflows (tests/helpers/assessment.KnownWorkflows); the visibility query itself is tested on the dev
server (tests/starter/test_assessment_dev.py).
"""

from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from fractions import Fraction

import pytest

from sla import commands as cmd
from sla.commands import OpenComplaint
from sla.interruptions import ReportInterruption, Restore
from sla.kpi import KpiName
from sla.plans import PlanState, PlanStatus, plan_id
from sla.reporting import CycleResult, cycle_workflow_id
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel
from sla.vocabulary import Severity
from starter.client.assessment import AssessmentClient
from starter.client.complaints import ComplaintClient, workflow_id
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy

CONTRACT = "always-on"  # the shipped numbers on a 24x7 UTC calendar: a working hour is an hour
Q1_START = datetime(2027, 1, 1, tzinfo=timezone.utc)
Q1_COLLECT = datetime(2027, 4, 2, tzinfo=timezone.utc)  # period end + 1 working day of grace
RESOLVE_TARGET_H = {Severity.CRITICAL: 48, Severity.MAJOR: 120, Severity.NORMAL: 240, Severity.LOW: 360}
SEVERITIES = [Severity.NORMAL, Severity.LOW, Severity.MAJOR, Severity.NORMAL, Severity.CRITICAL]
H = timedelta(hours=1)
# Every command lands 7 minutes past a whole hour: a complaint's own timers fall on whole hours and their 50 %/80 %
# marks (:00, :12, :24, :36, :48), and the time-skipping server rejects a workflow task that cancels a timer
# firing at that very instant ("invalid history builder state for action"; the real server handles it).
M = timedelta(minutes=7)


@dataclass
class Script:
    """What the test does to one complaint, and so what it expects of it."""

    i: int
    severity: Severity
    received: datetime | None = None  # when the test opens it
    ack_h: int = 1
    withdraw: bool = False
    resolve_h: int | None = None
    reopen: bool = False
    first_contact: bool = False
    handling: int = 0
    feedback: int | None = None

    @property
    def id(self) -> str:
        return f"q-{self.i:03d}"

    @property
    def resolve_instances(self) -> list[tuple[datetime, datetime | None]]:
        """(start, met_at) of each resolve clock instance."""
        received = self.received
        assert received is not None, "the complaint is opened before its clocks are asked for"
        if self.withdraw:
            return []
        if self.resolve_h is None:
            return [(received, None)]
        first = (received, received + self.resolve_h * H + M)
        if self.reopen:
            return [first, (received + 40 * H + M, received + 44 * H + M)]
        return [first]


COMPLAINTS = 100  # every pattern below (i % 50 the rarest) occurs at least twice


def script(i: int) -> Script:
    s = Script(i=i, severity=SEVERITIES[i % 5])
    s.ack_h = 3 if i % 10 == 0 else 1  # 3 h misses the 2 working hours target
    s.withdraw = i % 25 == 24
    if not s.withdraw and i % 20 != 19:  # i % 20 == 19 stays open
        s.resolve_h = {0: 24, 1: 24, 2: 24, 3: 72, 4: 130}[i % 5]
        s.first_contact = i % 3 == 0
        s.handling = 600 + (i % 7) * 60
        s.reopen = s.resolve_h == 24 and i % 50 == 1
        if s.resolve_h == 24 and not s.reopen:
            s.feedback = 5 if i % 4 else 2
    return s


@dataclass
class Clock:
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))

    def __call__(self) -> datetime:
        return self.now


def pct(counts: dict[int, int], p: int) -> int:
    values = sorted(v for v, n in counts.items() for _ in range(n))
    return values[max(1, math.ceil(p / 100 * len(values))) - 1]


EMAIL = SurveyBatch(batch_id="q1-email", channel=SurveyChannel.EMAIL,
                    csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 30, 4: 20, 3: 15, 2: 10, 1: 5}),
                    nps=ScoreHistogram(scale=Scale.NPS, counts={10: 20, 9: 10, 8: 15, 7: 5, 5: 20, 2: 10}))
SMS = SurveyBatch(batch_id="q1-sms", channel=SurveyChannel.SMS,
                  csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 12, 4: 6, 2: 2}),
                  ces=ScoreHistogram(scale=Scale.CES, counts={7: 5, 6: 5, 5: 4, 3: 4, 1: 2}))


def expected_kpis(scripts: list[Script], outage_hours: float) -> dict[KpiName, float | None]:
    """The quarter's KPIs computed from the script alone (the cycle never sees this)."""
    cohort = scripts
    kept = [s for s in cohort if not s.withdraw]
    resolved = [s for s in kept if s.resolve_h is not None]
    fcr = [s for s in resolved if s.first_contact and not s.reopen]
    ack_met = sum(1 for s in cohort if s.ack_h <= 2)
    resolve_met = resolve_breached = 0
    major_decided = major_in_time = 0
    for s in kept:
        target = RESOLVE_TARGET_H[s.severity] * H
        outcomes = []
        for start, met_at in s.resolve_instances:
            deadline = start + (target if start == s.received else RESOLVE_TARGET_H[s.severity] * H)
            if met_at is not None and met_at <= deadline:
                outcomes.append("met")
            elif deadline <= Q1_COLLECT:
                outcomes.append("breached")
        resolve_met += outcomes.count("met")
        resolve_breached += outcomes.count("breached")
        if s.severity in (Severity.CRITICAL, Severity.MAJOR):
            if "breached" in outcomes:
                major_decided += 1
            elif s.resolve_h is not None:
                major_decided += 1
                major_in_time += 1
    assert EMAIL.csat is not None and EMAIL.nps is not None and SMS.csat is not None and SMS.ces is not None
    csat = {**{}, **EMAIL.csat.counts}
    for score, n in SMS.csat.counts.items():
        csat[score] = csat.get(score, 0) + n
    for s in cohort:
        if s.feedback is not None:
            csat[s.feedback] = csat.get(s.feedback, 0) + 1
    answers = sum(csat.values())
    nps_n = EMAIL.nps.n
    promoters = sum(n for v, n in EMAIL.nps.counts.items() if v >= 9)
    detractors = sum(n for v, n in EMAIL.nps.counts.items() if v <= 6)
    first_response: dict[int, int] = {}
    for s in cohort:
        seconds = int((s.ack_h * H + M).total_seconds())
        first_response[seconds] = first_response.get(seconds, 0) + 1
    quarter = (datetime(2027, 4, 1, tzinfo=timezone.utc) - Q1_START).total_seconds()
    return {
        KpiName.CSAT: 100 * sum(n for v, n in csat.items() if v >= 4) / answers,
        KpiName.NPS: round(100 * (promoters - detractors) / nps_n),
        KpiName.CES: float(Fraction(sum(v * n for v, n in SMS.ces.counts.items()), SMS.ces.n)),
        KpiName.FCR: len(fcr) / len(resolved),
        KpiName.AHT: sum(s.handling for s in resolved) / len(resolved),
        KpiName.FIRST_RESPONSE_P50: pct(first_response, 50),
        KpiName.FIRST_RESPONSE_P90: pct(first_response, 90),
        KpiName.RESOLUTION_RATE: len(resolved) / len(kept),
        KpiName.MAJOR_RESOLVED_IN_TIME: major_in_time / major_decided,
        KpiName.COMPLIANCE_ACKNOWLEDGE: ack_met / len(cohort),
        KpiName.COMPLIANCE_RESOLVE: resolve_met / (resolve_met + resolve_breached),
        KpiName.AVAILABILITY: 1 - outage_hours * 3600 / quarter,
        KpiName.MAJOR_BREACHES: resolve_breached_major(kept),
    }


def resolve_breached_major(kept: list[Script]) -> int:
    """Major-class breaches: missed resolve deadlines of critical and major complaints (the only major clocks)."""
    count = 0
    for s in kept:
        if s.severity not in (Severity.CRITICAL, Severity.MAJOR):
            continue
        for start, met_at in s.resolve_instances:
            deadline = start + RESOLVE_TARGET_H[s.severity] * H
            if (met_at is None or met_at > deadline) and deadline <= Q1_COLLECT:
                count += 1
    return count


@pytest.fixture
def quarter_policy(tmp_path):
    raw = default_raw()
    # Four months to rectify, so the next quarter's report (at the same instant as three months) decides it.
    raw["contracts"][CONTRACT]["improvement"]["rectify_within"] = "4 months"
    return write_policy(raw, tmp_path / "policy.toml")


async def test_a_quarter_of_complaints_and_surveys_gives_the_kpis_computed_independently(
    own_time_skipping_env, tmp_path, quarter_policy,
):
    env = own_time_skipping_env
    policy_path, policy = quarter_policy
    clock = Clock(await env.get_current_time())
    known = KnownWorkflows(env.client, [])

    async def skip_to(instant: datetime) -> None:
        now = await env.get_current_time()
        if instant > now:
            await env.sleep(instant - now)
        clock.now = await env.get_current_time()

    async with assessment_worker(env.client, policy_path=policy_path, report_dir=tmp_path / "reports",
                                 known=known) as (queue, sink):
        complaints = ComplaintClient(env.client, task_queue=queue, policy=policy, clock=clock)
        cycles = AssessmentClient.of(complaints)

        # Outside the cohort: received before the quarter.
        for n in range(3):
            await complaints.open(OpenComplaint(id=f"q-early-{n}", contract=CONTRACT, severity="normal"))
            known.add(workflow_id(f"q-early-{n}"))
        status, created = await cycles.start_cycle(CONTRACT, "2027-Q1")
        assert created and status.phase == "accepting_surveys" and status.collect_at == Q1_COLLECT
        assert (await cycles.import_survey(CONTRACT, "2027-Q1", EMAIL)).duplicate is False

        scripts = [script(i) for i in range(COMPLAINTS)]
        batches = [scripts[b:b + 15] for b in range(0, COMPLAINTS, 15)]
        outage_at = datetime(2027, 2, 1, 2, tzinfo=timezone.utc)
        for b, batch in enumerate(batches):
            t0 = Q1_START + timedelta(days=6 * b, hours=1)
            await skip_to(t0)
            await asyncio.gather(*(complaints.open(OpenComplaint(
                id=s.id, contract=CONTRACT, severity=s.severity, channel="phone", received_at=t0)) for s in batch))
            for s in batch:
                s.received = t0
                known.add(workflow_id(s.id))
            await run_batch(complaints, batch, t0, skip_to)
            if t0 < outage_at < t0 + timedelta(days=6):
                await skip_to(outage_at)
                await cycles.report_outage(ReportInterruption(id="q1-db", contract=CONTRACT, summary="database",
                                                              started_at=outage_at))
                known.add("outage-q1-db")
                await skip_to(outage_at + 5 * H)
                restored = await cycles.restore_outage("q1-db", Restore(restored_at=outage_at + 5 * H))
                assert restored.major_breach and restored.duration_seconds == 5 * 3600
            if b == 6:
                assert (await cycles.import_survey(CONTRACT, "2027-Q1", SMS)).duplicate is False
                assert (await cycles.import_survey(CONTRACT, "2027-Q1", SMS)).duplicate is True

        result = await result_of(env, cycle_workflow_id(CONTRACT, "2027-Q1"), CycleResult)

        got = {k.name: k for k in result.assessment.kpis}
        expected = expected_kpis(scripts, outage_hours=5)
        for name, value in expected.items():
            # first responses are whole seconds measured on a clock that also runs while the test works
            tolerance = 2 if got[name].unit.value == "seconds" and name is not KpiName.AHT else 1e-9
            assert got[name].value == pytest.approx(value, abs=tolerance), name
        assert result.assessment.complaints == COMPLAINTS and result.assessment.interruptions == 1
        assert result.assessment.withdrawn == sum(s.withdraw for s in scripts)

        # Each missed target: exactly one plan. The major in-time plan was already opened by the complaints'
        # own major breaches, so the cycle informed it rather than starting another.
        missed = {k.name for k in result.assessment.missed}
        assert {KpiName.CSAT, KpiName.COMPLIANCE_ACKNOWLEDGE, KpiName.MAJOR_RESOLVED_IN_TIME} <= missed
        major_plan = plan_id(CONTRACT, KpiName.MAJOR_RESOLVED_IN_TIME)
        assert major_plan in result.plans_informed and major_plan not in result.plans_started
        assert sorted(result.plans_started) == sorted(plan_id(CONTRACT, k) for k in missed - {
            KpiName.MAJOR_RESOLVED_IN_TIME})
        for pid in result.plans_started + [major_plan]:
            plan = await cycles.plan_status(pid)
            assert plan.state is PlanState.AWAITING_PLAN
        major = await cycles.plan_status(major_plan)
        assert len([m for m in major.misses if m.trigger.value == "complaint"]) == expected[KpiName.MAJOR_BREACHES]
        assert [r.period for r in major.cycle_results] == ["2027-Q1"]
        assert result.report_files and not result.report_late

        # The next quarter meets the satisfaction target: its plan closes as effective.
        csat_plan = plan_id(CONTRACT, KpiName.CSAT)
        await cycles.start_cycle(CONTRACT, "2027-Q2")
        await cycles.import_survey(CONTRACT, "2027-Q2", SurveyBatch(
            batch_id="q2-web", channel=SurveyChannel.WEB, csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 40, 4: 2})))
        q2 = await result_of(env, cycle_workflow_id(CONTRACT, "2027-Q2"), CycleResult)
        assert q2.assessment.kpi(KpiName.CSAT).met is True and csat_plan in q2.plans_informed
        closed = await result_of(env, csat_plan, PlanStatus)
        assert closed.state is PlanState.EFFECTIVE and closed.cycle_results[-1].period == "2027-Q2"
        still_open = await cycles.plan_status(plan_id(CONTRACT, KpiName.COMPLIANCE_ACKNOWLEDGE))
        assert still_open.state is PlanState.AWAITING_PLAN  # Q2 had no complaints: nothing to judge it by


async def run_batch(complaints: ComplaintClient, batch: list[Script], t0: datetime, skip_to) -> None:
    """Play one batch's script: acknowledgments, withdrawals, triage, resolutions, reopenings, feedback."""

    async def each(predicate, name, command_of):
        await asyncio.gather(*(complaints.command(s.id, name, command_of(s)) for s in batch if predicate(s)))

    await skip_to(t0 + 1 * H + M)
    await each(lambda s: s.ack_h == 1, "acknowledge", lambda s: cmd.Acknowledge())
    await skip_to(t0 + 3 * H + M)
    await each(lambda s: s.ack_h == 3, "acknowledge", lambda s: cmd.Acknowledge())
    await skip_to(t0 + 4 * H + M)
    await each(lambda s: s.withdraw, "withdraw", lambda s: cmd.Withdraw(reason="customer withdrew"))
    await each(lambda s: not s.withdraw, "triage", lambda s: cmd.Triage(category="billing"))
    for hours in (24, 72, 130):
        await skip_to(t0 + hours * H + M)
        await each(lambda s, hours=hours: s.resolve_h == hours, "resolve", lambda s: cmd.Resolve(
            resolution="fixed", first_contact=s.first_contact, handling_seconds=s.handling))
        if hours == 24:
            await skip_to(t0 + 30 * H + M)
            await each(lambda s: s.feedback is not None, "record_feedback",
                       lambda s: cmd.RecordFeedback(csat=s.feedback))
            await skip_to(t0 + 40 * H + M)
            await each(lambda s: s.reopen, "reopen", lambda s: cmd.Reopen(reason="still broken"))
            await skip_to(t0 + 44 * H + M)
            await each(lambda s: s.reopen, "resolve", lambda s: cmd.Resolve(
                resolution="fixed again", first_contact=s.first_contact, handling_seconds=0))
