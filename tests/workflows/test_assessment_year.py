"""A whole year of assessment on the shipped `default` contract, with nobody starting a cycle.

The time-skipping test server does not implement Schedules (CreateSchedule answers "unimplemented"; the Java test
server will not get them: temporalio/sdk-java#1954), so this test plays the Schedules' part: it builds each
Schedule exactly as the worker creates it (`cycle_schedule`), computes when its calendar spec fires in the
contract's time zone, and at each such instant starts the cycle the Schedule's action would start: the period
containing that instant (`Period.containing`, what `ScheduledCycleWorkflow` computes), under its canonical id. The
launcher workflow itself is not used here: a cycle that completes as the child of a launcher that has already
completed stalls this server for about 30 s of real time each (17 times a year); a real Schedule starting the
launcher and its cycle is tested on the dev server
(tests/starter/test_assessment_dev.py::test_schedules_are_idempotent_and_a_triggered_one_starts_the_current_cycle).
Everything after the start runs by itself: the cycles wait for their period to end, assess, write and deliver their
reports to an SMTP server (aiosmtpd) and a webhook receiver, open the plan, and record the missing third-party
survey as a breach. People do only what people do: import a survey batch, submit, revise and report on the plan.

Not in this run: the plan closing as effective. The plan is a child of the first quarter's cycle, and when a child
of a closed workflow completes this server stops skipping for ~30 s of real time and then drops the connection.
A plan closed as effective after a revision is the golden history `plan-v2-revised` (tests/histories/record.py,
replayed by tests/workflows/test_replay.py); one closed by a later figure, tests/workflows/test_third_party.py and
tests/workflows/test_assessment_workflows.py.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from activities.email import IDEMPOTENCY_HEADER
from sla.kpi import KpiName
from sla.periods import Cadence, Period
from sla.plans import Measure, PlanState, ReportProgress, RevisePlan, SubmitPlan, plan_id
from sla.reporting import CycleResult, cycle_workflow_id
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel
from sla.vocabulary import BreachClass
from starter.client.assessment import AssessmentClient, cycle_schedule
from tests.activities.test_email import smtp_server
from tests.activities.test_webhook import Receiver, receiver  # noqa: F401 - `receiver` is a fixture
from tests.helpers.assessment import KnownWorkflows, assessment_worker, result_of
from tests.helpers.policies import default_raw, write_policy
from tests.workflows.test_report_delivery import DESK, mail_and_webhook

CONTRACT = "default"
YEAR = 2027
CLIENT_CX = "cx-lead@client.example.cn"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def fire_times(schedule, year: int) -> list[datetime]:
    """When a Schedule's calendar spec fires in `year` (each listed month, on its day, hour, minute, second)."""
    spec = schedule.spec.calendars[0]
    zone = ZoneInfo(schedule.spec.time_zone_name)

    def values(ranges) -> list[int]:
        return [v for r in ranges for v in range(r.start, (r.end or r.start) + 1, r.step or 1)]

    return [datetime(year, month, day, hour, minute, second, tzinfo=zone)
            for month in values(spec.month) for day in values(spec.day_of_month) for hour in values(spec.hour)
            for minute in values(spec.minute) for second in values(spec.second)]


async def skip_to(env, instant: datetime) -> None:
    now = await env.get_current_time()
    if instant > now:
        await env.sleep(instant - now)


def csat(counts: dict[int, int], batch_id: str) -> SurveyBatch:
    return SurveyBatch(batch_id=batch_id, channel=SurveyChannel.EMAIL,
                       csat=ScoreHistogram(scale=Scale.CSAT, counts=counts))


async def test_a_year_of_cycles_runs_from_the_schedules_and_reports_to_the_other_party(
        own_time_skipping_env, tmp_path, receiver: Receiver):  # noqa: F811 - the imported fixture
    env = own_time_skipping_env
    raw = default_raw()
    raw["contracts"][CONTRACT]["report_to"] = {"email": [CLIENT_CX], "webhook": True}
    path, parsed = write_policy(raw, tmp_path / "policy.toml")
    policy = parsed.assessment(CONTRACT)
    async with smtp_server() as mail:
        async with assessment_worker(env.client, policy_path=path, report_dir=tmp_path / "r",
                                     sink=mail_and_webhook(mail, receiver),
                                     known=KnownWorkflows(env.client, [])) as (queue, _):
            cycles = AssessmentClient(env.client, task_queue=queue, policy=parsed)
            launches = sorted((at, cadence, cycle_schedule(policy, cadence, queue)) for cadence in policy.cycles
                              for at in fire_times(cycle_schedule(policy, cadence, queue), YEAR))
            assert [c for _, c, _ in launches].count(Cadence.MONTHLY) == 12
            assert [c for _, c, _ in launches].count(Cadence.QUARTERLY) == 4
            assert [c for _, c, _ in launches].count(Cadence.ANNUAL) == 1
            pid = plan_id(CONTRACT, KpiName.CSAT)
            people = {  # what people do, at these instants (Shanghai time)
                datetime(YEAR, 2, 10, 10, tzinfo=SHANGHAI): "import Q1 surveys",
                datetime(YEAR, 4, 13, 10, tzinfo=SHANGHAI): "submit and revise the plan",
                datetime(YEAR, 5, 10, 10, tzinfo=SHANGHAI): "report progress",
                datetime(YEAR, 10, 20, 10, tzinfo=SHANGHAI): "report progress again",
            }
            steps = sorted([(at, "launch", (cadence, schedule)) for at, cadence, schedule in launches]
                           + [(at, what, None) for at, what in people.items()], key=lambda step: step[0])
            for at, what, launch in steps:
                await skip_to(env, at)
                if launch is not None:
                    cadence, _ = launch
                    period = str(Period.containing(at, cadence, SHANGHAI))
                    status, created = await cycles.start_cycle(CONTRACT, period)
                    assert created and status.phase == "accepting_surveys", (period, status.phase)
                elif what == "import Q1 surveys":  # 70 of 100 answer 4 or 5: CSAT 70 misses 85
                    await cycles.import_survey(CONTRACT, f"{YEAR}-Q1", csat({5: 30, 4: 40, 3: 20, 2: 10}, "q1-mail"))
                elif what == "submit and revise the plan":
                    opened = await cycles.plan_status(pid)
                    assert opened.state is PlanState.AWAITING_PLAN and opened.misses[0].period == f"{YEAR}-Q1"
                    due = datetime(YEAR, 6, 30).date()
                    await cycles.submit_plan(pid, SubmitPlan(
                        root_cause="callbacks wait a day", expected_effect="CSAT 85 again",
                        measures=[Measure(action="callback within 4 working hours", owner="desk lead", due=due)]))
                    await cycles.revise_plan(pid, RevisePlan(
                        root_cause="callbacks wait a day; refund script unclear", expected_effect="CSAT 85 again",
                        reason="quarterly review with the client asked for the script too",
                        measures=[Measure(action="callback within 4 working hours", owner="desk lead", due=due),
                                  Measure(action="rewrite the refund script", owner="quality", due=due)]))
                elif what == "report progress":
                    await cycles.report_progress(pid, ReportProgress(summary="script rewritten", measures_done=[1]))
                else:
                    await cycles.report_progress(pid, ReportProgress(summary="callbacks within 4 h", measures_done=[0]))
            await skip_to(env, datetime(YEAR + 1, 2, 20, tzinfo=SHANGHAI))  # every period's grace and report
            periods = [f"{YEAR}-{m:02d}" for m in range(1, 13)] + [f"{YEAR}-Q{q}" for q in range(1, 5)] + [str(YEAR)]
            results = {p: await result_of(env, cycle_workflow_id(CONTRACT, p), CycleResult) for p in periods}
            plan = await cycles.plan_status(pid)

    assert all(r.report_delivered_at is not None and not r.report_late for r in results.values())
    # the first quarter missed CSAT and opened the plan, revised after the review, its measures reported done;
    # no later quarter had answers to judge CSAT by, so its 3 months to rectify passed: a minor breach for CSAT
    assert results[f"{YEAR}-Q1"].plans_started == [pid]
    assert plan.state is PlanState.IN_PROGRESS and plan.version == 2
    assert [m.done for m in plan.measures] == [True, True]
    rectified = [b for b in plan.breaches if b.clock == "plan_rectification"]
    assert [(b.breach_class.value, b.deadline.year) for b in rectified] == [("minor", YEAR)]
    assert all(b.breach_class.value == "minor" for b in plan.breaches)
    assert [r.reason for r in plan.revisions] == ["quarterly review with the client asked for the script too"]
    assert [(r.period, r.met) for r in plan.cycle_results] == [(f"{YEAR}-Q{q}", None) for q in (2, 3, 4)]
    q4 = next(m for m in mail.accepted() if m.header("Subject").endswith(f"-{YEAR}-Q4"))
    q4_md = next(p for p in q4.message.iter_attachments() if p.get_content_type() == "text/markdown").get_content()
    assert "| rewrite the refund script | quality | 2027-06-30 | done |" in q4_md  # the open plan, in the report
    # the year had no third-party score: a major breach, notified, and a problem of the annual report
    annual = results[str(YEAR)]
    assert len(annual.missed_duties) == 1 and "major breach" in annual.missed_duties[0]
    breach = [d.json for d in receiver.accepted() if d.json.get("clock") == "third_party_survey"]
    assert [(b["kind"], b["breach_class"]) for b in breach] == [("breach", BreachClass.MAJOR.value)]
    assert [m for m in mail.accepted() if m.rcpt_tos == [DESK] and "third_party_survey" in m.header("Subject")]
    # every report reached the other party once: e-mail with HTML and Markdown, webhook with the JSON
    mailed = [m for m in mail.accepted() if m.rcpt_tos == [CLIENT_CX]]
    assert sorted(m.header("Subject").rsplit(" ", 1)[1] for m in mailed) == sorted(
        cycle_workflow_id(CONTRACT, p) for p in periods)
    assert all({part.get_content_type() for part in m.message.iter_attachments()} == {"text/html", "text/markdown"}
               for m in mailed)
    posted = {d.headers["idempotency-key"]: d.json for d in receiver.accepted() if d.json["kind"] == "deliver_report"}
    assert sorted(body["report"]["result"]["period"] for body in posted.values()) == sorted(periods)
    assert {m.header(IDEMPOTENCY_HEADER) for m in mailed} == set(posted)
    q1_md = next(m for m in mailed if m.header("Subject").endswith(f"-{YEAR}-Q1"))
    markdown = next(p for p in q1_md.message.iter_attachments() if p.get_content_type() == "text/markdown")
    assert "Customer satisfaction (CSAT) | customer satisfaction at or above the agreed score | 70.0 | ≥ 85.0 | ✗" in (
        markdown.get_content())
    june = results[f"{YEAR}-06"]
    assert june.assessment.kpi(KpiName.CSAT).value is None  # the monthly report reads no survey imports of quarters
    late = [d.json["action_id"] for d in receiver.accepted()
            if d.json.get("clock") == "report_delivery" and d.json["kind"] in ("breach", "escalate")]
    assert late == [], "a report was late"
