"""Reports: the words of build_report on a hand-made cycle, the three renderers, and write_report through a real
worker on the dev server reading earlier cycles from Temporal for the trends."""

from __future__ import annotations

import json
import random
import re
import uuid
from datetime import date, datetime, timedelta, timezone
from html.parser import HTMLParser
from pathlib import Path
from xml.etree import ElementTree

import pytest
from markupsafe import escape
from rich.console import Console
from temporalio import workflow
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker

from activities.reports import ReportActivities, report_paths
from sla.cycles import CycleStatus
from sla.kpi import DEFINITIONS, Assessment, ChannelSummary, KpiName, KpiValue, Target
from sla.periods import Cadence
from sla.report_html import MET, MISSED, MUTED_SIZE, TICK_SIZE, _text_width, bar_svg, render, trend_svg
from sla.reporting import (
    SUGGESTIONS,
    CycleReport,
    CycleResult,
    TrendPoint,
    Verdict,
    build_report,
    format_seconds,
    format_value,
    in_words,
)
from sla.surveys import SurveyChannel
from sla.vocabulary import BreachClass, Severity
from starter.cli.cycle import _cycle_table
from tests.helpers.temporal import task_queue

DEJAVU = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")  # Debian's fonts-dejavu-core, which chromium uses
START = datetime(2026, 6, 30, 16, tzinfo=timezone.utc)
END = datetime(2026, 9, 30, 16, tzinfo=timezone.utc)

ASSESSED = [KpiName.CSAT, KpiName.RESOLUTION_RATE, KpiName.FIRST_RESPONSE_P90, KpiName.COMPLIANCE_RESOLVE,
            KpiName.FCR]


def kpi(name: KpiName, value: float | None, n: int, target: Target | None = None,
        met: bool | None = None) -> KpiValue:
    label, unit, variant = DEFINITIONS[name]
    return KpiValue(name=name, label=label, unit=unit, variant=variant, value=value, n=n, target=target, met=met)


def cycle(period: str = "2026-Q3", *, contract: str = "acme", csat: float = 78.4, cadence: Cadence = Cadence.QUARTERLY,
          plans: list[str] | None = None, late: bool = False) -> CycleResult:
    """A cycle missing CSAT, first response p90 and resolve compliance; FCR has too little data to judge."""
    kpis = [
        kpi(KpiName.CSAT, csat, 240, Target(min=85), csat >= 85),
        kpi(KpiName.NPS, 12.0, 180),
        kpi(KpiName.RESOLUTION_RATE, 0.97, 200, Target(min=0.95), True),
        kpi(KpiName.FIRST_RESPONSE_P90, 9000.0, 200, Target(max=7200), False),
        kpi(KpiName.COMPLIANCE_RESOLVE, 0.9, 150, Target(min=0.95), False),
        kpi(KpiName.FCR, 0.5, 3, Target(min=0.7, min_n=10), None),
        kpi(KpiName.MAJOR_BREACHES, 2, 200),
    ]
    assessment = Assessment(
        contract=contract, period=period, start=START, end=END, computed_at=END + timedelta(days=1), kpis=kpis,
        channels=[ChannelSummary(channel=SurveyChannel.EMAIL, batches=2, responses=180, csat=80.0, nps=12, ces=None),
                  ChannelSummary(channel=SurveyChannel.SMS, batches=1, responses=60, csat=70.0, nps=None, ces=5.5)],
        complaints=206, withdrawn=6, resolved=194, by_severity={Severity.MAJOR: 10, Severity.NORMAL: 196},
        remedies={}, breaches={BreachClass.MAJOR: 2, BreachClass.MINOR: 11}, interruptions=1, assessed=ASSESSED,
    )
    return CycleResult(
        contract=contract, period=period, cadence=cadence, policy_version="v7", assessment=assessment,
        report_due=END + timedelta(days=7), report_late=late, plans_started=plans or [],
    )


# ---- build_report ---------------------------------------------------------------------------------------------
def test_formats_in_each_unit():
    assert format_seconds(9000) == "2h 30m"
    assert format_seconds(7200) == "2h"
    assert format_seconds(3725) == "1h 02m 05s"
    assert format_seconds(45) == "45s"
    assert format_value(DEFINITIONS[KpiName.CSAT][1], 78.44) == "78.4"
    assert format_value(DEFINITIONS[KpiName.RESOLUTION_RATE][1], 0.9) == "90.0 %"
    assert format_value(DEFINITIONS[KpiName.NPS][1], -7.0) == "-7"
    assert format_value(DEFINITIONS[KpiName.MAJOR_BREACHES][1], 2) == "2"
    assert format_value(DEFINITIONS[KpiName.AHT][1], None) == "no data"


def test_problems_name_each_missed_kpi_with_value_and_target():
    report = build_report(cycle(late=True), [])
    problems = report.problems
    expected = {
        "Customer satisfaction (CSAT)": ("78.4", "≥ 85.0"),
        "First response, p90 (working time)": ("2h 30m", "≤ 2h"),
        "SLA compliance: resolve": ("90.0 %", "≥ 95.0 %"),
    }
    for label, (value, target) in expected.items():
        [line] = [p for p in problems if p.startswith(label)]
        assert value in line and target in line and "missed" in line
    assert not any(p.startswith("Resolution rate") for p in problems)  # met
    assert any("2 major breaches" in p for p in problems)
    assert any("late" in p and "due" in p for p in problems)
    [fcr] = [p for p in problems if p.startswith("First-contact resolution")]
    assert "too little data" in fcr and "n = 3" in fcr and "10" in fcr


def test_no_late_or_major_lines_when_there_are_none():
    result = cycle()
    result.assessment.breaches = {BreachClass.MINOR: 3}
    problems = build_report(result, []).problems
    assert not any("major breach" in p or "late" in p for p in problems)


def test_one_suggestion_per_missed_kpi_and_the_plans_started():
    report = build_report(cycle(plans=["plan-acme-2026-Q3-csat"]), [])
    missed = [KpiName.CSAT, KpiName.FIRST_RESPONSE_P90, KpiName.COMPLIANCE_RESOLVE]
    for name in missed:
        assert sum(SUGGESTIONS[name] in s for s in report.suggestions) == 1
    assert not any(SUGGESTIONS[KpiName.RESOLUTION_RATE] in s for s in report.suggestions)
    assert "An improvement plan was started: plan-acme-2026-Q3-csat." in report.suggestions
    by_kpi = {label: next(s for s in report.suggestions if s.startswith(label)) for label in (
        "Customer satisfaction (CSAT)", "First response, p90 (working time)", "SLA compliance: resolve")}
    assert "root-cause review" in by_kpi["Customer satisfaction (CSAT)"]
    assert "staffing" in by_kpi["First response, p90 (working time)"]
    assert "route the queue" in by_kpi["First response, p90 (working time)"]
    assert "escalate earlier" in by_kpi["SLA compliance: resolve"]
    assert "supervisor review of ageing complaints" in by_kpi["SLA compliance: resolve"]


def test_all_met_says_so():
    result = cycle(csat=90.0)
    for k in result.assessment.kpis:
        if k.met is False:
            k.met = True
    report = build_report(result, [])
    assert [p for p in report.problems if "missed" in p] == []
    assert any("was met" in s for s in report.suggestions)


def test_method_states_sources_cohort_and_each_variant():
    method = build_report(cycle(), []).method
    text = "\n".join(method)
    assert "206 complaints" in text and "Temporal" in text
    assert "email: 180 responses in 2 batches" in text and "sms: 60 responses" in text
    assert "Cohort: complaints received in the period" in text
    assert "1 reported" in text  # interruptions
    for k in cycle().assessment.kpis:
        assert f"{k.label}: {in_words(k.variant)}." in method
    assert "§" not in text  # clause numbers go only in the sources column


def test_trends_earlier_cycles_oldest_first_then_this_one():
    earlier = [cycle("2026-Q2", csat=86.0), cycle("2025-Q4", csat=88.0), cycle("2026-Q1", csat=84.0)]
    noise = [
        cycle("2026-Q1", contract="other", csat=10.0),  # another contract
        cycle("2026-06", cadence=Cadence.MONTHLY, csat=11.0),  # another cadence
        cycle("2026-Q4", csat=12.0),  # later
    ]
    mixed = earlier + noise
    random.Random(3).shuffle(mixed)
    report = build_report(cycle(), mixed)
    assert list(report.trends) == [*ASSESSED, KpiName.NPS]  # assessed, then csat/nps/resolution_rate always
    csat = report.trends[KpiName.CSAT]
    assert [p.period for p in csat] == ["2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
    assert [p.value for p in csat] == [88.0, 84.0, 86.0, 78.4]
    assert [p.met for p in csat] == [True, False, True, False]


def test_trend_of_a_kpi_an_earlier_cycle_lacks_is_a_gap():
    old = cycle("2026-Q2")
    old.assessment.kpis = [k for k in old.assessment.kpis if k.name is not KpiName.FCR]
    points = build_report(cycle(), [old]).trends[KpiName.FCR]
    assert [(p.period, p.value) for p in points] == [("2026-Q2", None), ("2026-Q3", 0.5)]


# ---- renderers ------------------------------------------------------------------------------------------------
def sample() -> CycleReport:
    return build_report(cycle(plans=["plan-acme-2026-Q3-csat"]), [cycle("2026-Q2", csat=86.0), cycle("2026-Q1")])


def test_json_is_the_report_model():
    report = sample()
    text = render(report, "json")
    assert CycleReport.model_validate_json(text) == report
    assert json.loads(text)["result"]["contract"] == "acme"


def test_markdown_has_a_row_per_kpi_and_the_sections():
    report = sample()
    md = render(report, "md")
    for row in report.kpis:
        [line] = [line for line in md.splitlines() if line.startswith(f"| {row.label} | {row.obligation} |")]
        assert f"| {row.mark} |" in line and f"| {row.n} |" in line and f"| {row.sources} |" in line
    assert ("| Customer satisfaction (CSAT) | customer satisfaction at or above the agreed score | 78.4 | ≥ 85.0 | ✗ "
            "| 240 |") in md
    for section in ("## Method", "## Results", "## Problems", "## Suggestions", "### Trends", "### Survey channels"):
        assert section in md
    assert "| email | 2 | 180 | 80.0 | +12 | no data |" in md
    for line in report.problems + report.suggestions:
        assert f"- {line}" in md


def test_one_verdict_per_kpi_shared_by_the_table_the_problems_and_cycle_show():
    """A KPI whose target this cadence does not check is shown blank everywhere (CSAT met in a monthly report was
    ✓ in the report and blank in `cycle show`); every ✗ is a problem (a missed compliance was ✗ in the table but
    absent from Problems); every – says why it was not judged."""
    result = cycle()
    result.assessment.assessed = [KpiName.RESOLUTION_RATE, KpiName.COMPLIANCE_RESOLVE, KpiName.FCR]
    result.assessment.kpis[0].met = True  # CSAT met, but not a target of this cadence
    report = build_report(result, [])
    verdicts = {row.name: row.verdict for row in report.kpis}
    assert verdicts[KpiName.CSAT] is Verdict.NOT_CHECKED and verdicts[KpiName.NPS] is Verdict.NOT_CHECKED
    assert verdicts[KpiName.FIRST_RESPONSE_P90] is Verdict.NOT_CHECKED  # missed its target, but not checked
    assert verdicts[KpiName.RESOLUTION_RATE] is Verdict.MET
    assert verdicts[KpiName.COMPLIANCE_RESOLVE] is Verdict.MISSED and verdicts[KpiName.FCR] is Verdict.NOT_JUDGED
    for row in report.kpis:
        named = [p for p in report.problems if p.startswith(f"{row.label}")]
        assert bool(named) is (row.verdict in (Verdict.MISSED, Verdict.NOT_JUDGED)), row.label
    md = render(report, "md")
    assert ("| Customer satisfaction (CSAT) | customer satisfaction at or above the agreed score | 78.4 | ≥ 85.0 |  "
            "|") in md
    console = Console(record=True, width=200)
    console.print(_cycle_table(CycleStatus(
        id="cycle-acme-2026-Q3", contract="acme", period="2026-Q3", cadence=Cadence.QUARTERLY, phase="done",
        policy_version="v7", batches=[], responses=0, report_notices=[], assessment=result.assessment)))
    shown = {line.split("│")[1].strip(): line.split("│")[4].strip()
             for line in console.export_text().splitlines() if line.count("│") >= 6}
    assert {row.label: f"{row.mark} {row.verdict.value}".strip() if row.mark else "" for row in report.kpis} == {
        label: shown[label] for label in shown if label != "KPI"}


def test_report_texts_name_obligations_in_words_and_clauses_only_as_sources():
    report = sample()
    for fmt in ("md", "html"):
        text = render(report, fmt)
        body = [line for line in text.splitlines() if "§" in line]
        assert all(any(row.sources in line for row in report.kpis) for line in body), body
    assert all("§" not in line for line in report.problems + report.suggestions + report.method)
    assert all("§" in row.sources and "§" not in row.variant for row in report.kpis)


def test_pending_complaints_are_stated_next_to_the_resolution_rate_in_every_format():
    result = cycle()
    rate = result.assessment.kpi(KpiName.RESOLUTION_RATE)
    result.assessment.kpis[result.assessment.kpis.index(rate)] = rate.model_copy(update={"n": 198, "pending": 2})
    result.assessment.pending = 2
    report = build_report(result, [])
    assert "2 complaints still within the deadline are reported as pending" in "\n".join(report.method)
    md = render(report, "md")
    assert ("| Resolution rate | complaints resolved at the agreed rate | 97.0 % | ≥ 95.0 % | ✓ | 198 (+2 pending) |"
            in md)
    assert "| pending at period end | 2 |" in md
    html = render(report, "html")
    assert "198 (+2 pending)" in html and "pending at period end" in html
    none_pending = render(build_report(cycle(), []), "md")
    assert "(+" not in none_pending and "pending at period end" not in none_pending


def test_reports_break_complaints_down_by_category():
    from sla.kpi import CategoryCounts

    result = cycle()
    result.assessment.by_category = {"billing": CategoryCounts(complaints=120, resolved=115, breached=7),
                                     "<b>de|livery</b>": CategoryCounts(complaints=86, resolved=79, breached=4)}
    report = build_report(result, [])
    md = render(report, "md")
    assert "### By category" in md and "| billing | 120 | 115 | 7 |" in md
    assert "| &lt;b&gt;de\\|livery&lt;/b&gt; | 86 | 79 | 4 |" in md  # a desk's category name is escaped
    html = render(report, "html")
    assert "<h3>By category</h3>" in html and "<td>billing</td>" in html and "<b>de|livery</b>" not in html
    assert "By category" not in render(build_report(cycle(), []), "md")


def test_reports_count_at_fault_complaints_remedies_and_those_without_one():
    from sla.vocabulary import Remedy

    result = cycle()
    result.assessment.at_fault, result.assessment.at_fault_without_remedy = 5, 1
    result.assessment.remedies = {Remedy.COMPENSATION: 3, Remedy.REPLACEMENT: 1}
    report = build_report(result, [])
    assert "1 complaint verified as our fault was resolved without a remedy for the customer." in report.problems
    md = render(report, "md")
    for row in ("| verified at fault | 5 |", "| remedy compensation | 3 |", "| remedy replacement | 1 |",
                "| at fault without a remedy | 1 |"):
        assert row in md
    assert "verified at fault" not in render(build_report(cycle(), []), "md")


def test_markdown_cells_escape_pipes_and_html():
    md = render(build_report(cycle(contract="a|b<script>"), []), "md")
    assert "a\\|b&lt;script&gt;" in md and "<script>" not in md


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += attrs


def test_html_is_self_contained_with_one_svg_per_chart():
    report = sample()
    page = render(report, "html")
    assert "http://" not in page and "https://" not in page
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags and "link" not in parser.tags and "img" not in parser.tags
    assert not any(name in ("src", "href") for name, _ in parser.attrs)
    bars = len(report.result.assessment.assessed)
    assert page.count("<svg") == parser.tags.count("svg") == bars + len(report.trends)
    assert page.count('<svg class="bar"') == bars
    assert page.count('<svg class="trend"') == len(report.trends)
    assert f'fill="{MET}"' in page and f'fill="{MISSED}"' in page  # resolution rate met, CSAT missed
    for line in report.problems:
        assert escape(line) in page


def test_html_escapes_every_text():
    evil = "<script>alert('x')</script>"
    result = cycle(contract=evil, plans=[f"plan-{evil}"])
    result.policy_version = evil
    result.assessment.kpis[1].variant = f"note: {evil}"  # free text from the policy, shown as the KPI's variant
    page = render(build_report(result, [cycle("2026-Q2", contract=evil)]), "html")
    assert "<script" not in page
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;"
    assert f"plan-{escaped}" in page
    assert f"policy {escaped}" in page
    assert f"note: {escaped}" in page
    assert f"<title>Assessment report: {escaped}, 2026-Q3</title>" in page
    parser = _Tags()
    parser.feed(page)
    assert "script" not in parser.tags


def _extent(text: ElementTree.Element, width: float) -> tuple[float, float]:
    """Where a text element's ink starts and ends along x, from its anchor and its width."""
    x = float(text.get("x", "0"))
    shift = {"start": 0.0, "middle": width / 2, "end": width}[text.get("text-anchor", "start")]
    return x - shift, x - shift + width


def _label_width(text: str, size: float) -> float:
    """The label as Chromium draws it in DejaVu Sans where that font is installed, else the renderer's own
    estimate; where both exist the estimate must not be the smaller (the layout trusts it)."""
    if not DEJAVU.exists():
        return _text_width(text, size)
    from PIL import ImageFont

    drawn = ImageFont.truetype(str(DEJAVU), size).getlength(text)
    assert _text_width(text, size) >= drawn, f"{text!r} at {size}px is {drawn}px wide, estimated narrower"
    return drawn


def _assert_texts_inside(svg: str) -> list[str]:
    root = ElementTree.fromstring(svg)
    _, _, width, _ = map(float, root.get("viewBox", "").split())
    sizes = {"tick": TICK_SIZE, "val": TICK_SIZE, "muted": MUTED_SIZE}
    texts = list(root.iter("text"))
    assert texts
    for text in texts:
        start, end = _extent(text, _label_width(text.text or "", sizes[text.get("class", "")]))
        assert 0 <= start and end <= width, f"{text.text!r} spans {start:.1f}..{end:.1f} of 0..{width}"
    return [text.text or "" for text in texts]


def test_trend_chart_keeps_long_duration_labels_whole():
    """First responses near 139 hours: the axis ends at 222h 13m 20s, which once lost its first digits."""
    points = [TrendPoint(period="2026-Q1", value=120_000.0, met=False),
              TrendPoint(period="2026-Q2", value=None, met=None),
              TrendPoint(period="2026-Q3", value=500_000.0, met=False)]
    labels = _assert_texts_inside(trend_svg(KpiName.FIRST_RESPONSE_P90, points, Target(max=7200)))
    assert "222h 13m 20s" in labels  # the widest y-axis label
    assert "138h 53m 20s" in labels  # the last point's value, at the right edge
    assert "no data" in labels


def test_bar_and_usual_trend_labels_stay_inside_their_charts():
    report = sample()
    targets = {k.name: k.target for k in report.result.assessment.kpis}
    for name, points in report.trends.items():
        _assert_texts_inside(trend_svg(name, points, targets.get(name)))
    for k in report.result.assessment.kpis:
        _assert_texts_inside(bar_svg(k))
    _assert_texts_inside(bar_svg(kpi(KpiName.AHT, 800_000.0, 10, Target(max=1800), False)))


def test_report_paths_stay_inside_the_report_dir(tmp_path):
    paths = report_paths(tmp_path, "../../etc/x", "2026-Q3")
    for path in paths.values():
        assert path.resolve().is_relative_to(tmp_path.resolve())
        assert path.parent.parent == tmp_path
    assert [p.suffix for p in paths.values()] == [".json", ".md", ".html"]


# ---- write_report through a worker ----------------------------------------------------------------------------
@workflow.defn(name="CxSlaReportSeedCycle", sandboxed=False)
class SeedCycle:
    """Stands in for an earlier AssessmentCycleWorkflow: write_report reads only its id and result."""

    @workflow.run
    async def run(self, result: CycleResult) -> CycleResult:
        return result


@workflow.defn(name="CxSlaReportPendingCycle", sandboxed=False)
class PendingCycle:
    """An earlier cycle still running: no result to read, so no trend point."""

    @workflow.run
    async def run(self) -> None:
        await workflow.wait_condition(lambda: False)


@workflow.defn(name="CxSlaReportOtherCycle", sandboxed=False)
class OtherCycle:
    """An earlier workflow under a cycle id whose result is not a CycleResult (say, from an older version)."""

    @workflow.run
    async def run(self) -> dict:
        return {"contract": 1}


@workflow.defn(name="CxSlaReportWriter", sandboxed=False)
class WriteReport:
    @workflow.run
    async def run(self, result: CycleResult) -> list[str]:
        return await workflow.execute_activity(
            "cxsla.write_report", result, result_type=list[str], start_to_close_timeout=timedelta(seconds=30)
        )


def plain_client(dev_env) -> Client:
    """The session server without CxSlaPlugin: a plugin on the client would put its own write_report (and its
    report directory) on every worker; this test wants only the activity under test."""
    base = dev_env.client
    return Client(base.service_client, namespace=base.namespace, data_converter=pydantic_data_converter)


async def test_write_report_reads_earlier_cycles_from_temporal(dev_env, tmp_path):
    client = plain_client(dev_env)
    contract = f"rep-{uuid.uuid4().hex[:8]}"
    queue = task_queue()
    async with Worker(client, task_queue=queue, workflows=[SeedCycle, PendingCycle, OtherCycle, WriteReport],
                      activities=[ReportActivities(tmp_path).write_report]):
        # Going back from 2026-Q3: Q2 and Q1 completed, 2025-Q4 running, 2025-Q3 unreadable; 2025-Q2 is a
        # fifth period back, past the four looked at.
        for period, csat in (("2026-Q2", 86.0), ("2026-Q1", 88.0), ("2025-Q2", 99.0)):
            await client.execute_workflow(SeedCycle.run, cycle(period, contract=contract, csat=csat),
                                          id=f"cycle-{contract}-{period}", task_queue=queue)
        await client.execute_workflow(OtherCycle.run, id=f"cycle-{contract}-2025-Q3", task_queue=queue)
        pending = await client.start_workflow(PendingCycle.run, id=f"cycle-{contract}-2025-Q4", task_queue=queue)
        try:
            result = cycle(contract=contract)
            paths = await client.execute_workflow(WriteReport.run, result, id=f"write-{contract}-1",
                                                  task_queue=queue)
            expected = report_paths(tmp_path, contract, "2026-Q3")
            assert paths == [str(p) for p in expected.values()]
            first = {p: Path(p).read_bytes() for p in paths}

            report = CycleReport.model_validate_json(first[str(expected["json"])])
            csat_trend = report.trends[KpiName.CSAT]
            assert [(p.period, p.value) for p in csat_trend] == [
                ("2026-Q1", 88.0), ("2026-Q2", 86.0), ("2026-Q3", 78.4)]
            page = first[str(expected["html"])].decode()
            assert page.count('<svg class="trend"') == len(report.trends)
            assert "2026-Q1" in page and "2025-Q2" not in page
            md = first[str(expected["md"])].decode()
            assert re.search(r"\| Customer satisfaction \(CSAT\) \| [^|]+ \| 78\.4 \|", md)

            again = await client.execute_workflow(WriteReport.run, result, id=f"write-{contract}-2",
                                                  task_queue=queue)
            assert again == paths
            assert {p: Path(p).read_bytes() for p in paths} == first  # idempotent
            assert sorted(f.name for f in expected["json"].parent.iterdir()) == sorted(
                p.name for p in expected.values())  # no temp files left behind
        finally:
            await pending.terminate("test over")


async def test_write_report_without_earlier_cycles(dev_env, tmp_path):
    from temporalio.testing import ActivityEnvironment

    contract = f"rep-{uuid.uuid4().hex[:8]}"
    env = ActivityEnvironment(client=dev_env.client)
    paths = await env.run(ReportActivities(tmp_path / "reports").write_report, cycle(contract=contract))
    report = CycleReport.model_validate_json(Path(paths[0]).read_text())
    assert report.trends  # all() of nothing would pass
    assert all(len(points) == 1 for points in report.trends.values())


@pytest.mark.parametrize("fmt", ["pdf"])
def test_unknown_format_is_refused(fmt):
    with pytest.raises(ValueError, match="json, md, html"):
        render(sample(), fmt)


def test_the_report_shows_each_open_plans_measures_with_owner_due_date_and_state():
    """001 §5.2: the monthly report covers the execution of the improvement measures."""
    from sla.plans import (
        Measure,
        Miss,
        PlanRevised,
        PlanSubmitted,
        ProgressReported,
        Trigger,
        new_plan_run,
        plan_status,
    )
    from sla.policy import load_policy

    policy = load_policy().assessment("default")
    at = datetime(2026, 7, 3, 2, tzinfo=timezone.utc)
    run = new_plan_run(policy=policy, kpi=KpiName.CSAT, at=at,
                       miss=Miss(trigger=Trigger.CYCLE, period="2026-Q2", value=80.0, target=Target(min=85)))
    run.events += [
        PlanSubmitted(at=at + timedelta(days=3), root_cause="slow", expected_effect="85",
                      measures=[Measure(action="old measure", owner="desk", due=date(2026, 8, 1))]),
        PlanRevised(at=at + timedelta(days=20), root_cause="slow | unclear", expected_effect="85", reason="review",
                    measures=[Measure(action="callbacks <4h>", owner="desk lead", due=date(2026, 8, 15)),
                              Measure(action="scripts", owner="quality", due=date(2026, 12, 1)),
                              Measure(action="training", owner="hr", due=date(2026, 9, 1))]),
        ProgressReported(at=at + timedelta(days=40), summary="x", measures_done=[2]),
    ]
    closed = new_plan_run(policy=policy, kpi=KpiName.FCR, at=at,
                          miss=Miss(trigger=Trigger.CYCLE, period="2026-Q2", value=0.5, target=Target(min=0.7)))
    from sla.plans import CycleResultRecorded
    closed.events.append(CycleResultRecorded(at=at + timedelta(days=5), period="2026-07", value=0.8, met=True))
    report = build_report(cycle(), [], [plan_status(run, None), plan_status(closed, None)])
    [plan] = report.plans  # the effective FCR plan is not open
    assert (plan.plan_id, plan.state, plan.version) == ("plan-default-csat", "in_progress", 2)
    assert [(m.action, m.owner, m.due.isoformat(), m.state) for m in plan.measures] == [
        ("callbacks <4h>", "desk lead", "2026-08-15", "overdue"),  # the report is of 1 October
        ("scripts", "quality", "2026-12-01", "open"),
        ("training", "hr", "2026-09-01", "done")]
    md = render(report, "md")
    assert "### plan-default-csat: Customer satisfaction (CSAT), in progress, version 2" in md
    assert "| callbacks &lt;4h&gt; | desk lead | 2026-08-15 | overdue |" in md
    html = render(report, "html")
    assert "callbacks &lt;4h&gt;" in html and ">overdue<" in html and "plan-default-fcr" not in html
