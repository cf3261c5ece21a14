"""Render a sample assessment report and photograph it in headless Chromium, for a human to look at.

    .venv/bin/python -m bench.report_screenshot     -> bench/results/report.html, report.md, report.png

The sample is four quarterly cycles of the `default` contract computed by the real KPI engine from made-up
tallies and survey histograms (no personal data exists in them): the latest misses CSAT, first response and
resolve compliance, so the page shows met, missed and not-judged bars and trends that cross their targets.
tests/system/test_report_browser.py uses the same sample and `screenshot()` to check that the charts render.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sla.kpi import KpiName, PeriodTally, Target, assess
from sla.outcomes import ClockTally
from sla.periods import Cadence, Period
from sla.report_html import render
from sla.reporting import CycleReport, CycleResult, build_report
from sla.surveys import Scale, ScoreHistogram, SurveyBatch, SurveyChannel
from sla.vocabulary import BreachClass, ClockName, Remedy, Severity

CHROMIUM = Path("/usr/bin/chromium")
RESULTS = Path(__file__).parent / "results"
TZ = ZoneInfo("Asia/Shanghai")

TARGETS = {
    KpiName.CSAT: Target(min=85),
    KpiName.RESOLUTION_RATE: Target(min=0.95),
    KpiName.MAJOR_RESOLVED_IN_TIME: Target(min=1.0),
    KpiName.FIRST_RESPONSE_P90: Target(max=7200),
    KpiName.AHT: Target(max=1800),
    KpiName.FCR: Target(min=0.7),
    KpiName.COMPLIANCE_ACKNOWLEDGE: Target(min=0.95),
    KpiName.COMPLIANCE_RESOLVE: Target(min=0.95),
    KpiName.NPS: Target(min=30, min_n=500),  # an unchecked-by-volume target: shows "too little data"
}
ASSESSED = [KpiName.CSAT, KpiName.RESOLUTION_RATE, KpiName.MAJOR_RESOLVED_IN_TIME, KpiName.FIRST_RESPONSE_P90,
            KpiName.AHT, KpiName.FCR, KpiName.COMPLIANCE_ACKNOWLEDGE, KpiName.COMPLIANCE_RESOLVE, KpiName.NPS]


# Per quarter: (unresolved, major late, slow first responses, AHT s, FCR %, ack breaches, resolve breaches,
# happy survey answers): the latest quarter keeps resolution and acknowledgment up but misses the rest.
SHAPES: dict[str, tuple[int, int, int, int, int, int, int, int]] = {
    "2025-Q4": (9, 0, 10, 1500, 72, 6, 6, 20),
    "2026-Q1": (3, 0, 4, 1380, 75, 3, 4, 30),
    "2026-Q2": (6, 1, 20, 1900, 66, 8, 10, 10),
    "2026-Q3": (6, 0, 26, 2150, 61, 7, 18, 0),
}


def _tally(period: str) -> PeriodTally:
    """A quarter's complaints, made up but internally consistent (resolved <= received, and so on)."""
    unresolved, major_late, slow, aht, fcr, ack_breached, resolve_breached, happy = SHAPES[period]
    complaints, withdrawn = 200, 4
    resolved = complaints - withdrawn - unresolved
    return PeriodTally(
        complaints=complaints, withdrawn=withdrawn, resolved=resolved, first_contact=resolved * fcr // 100,
        handled=resolved, handling_seconds=resolved * aht,
        major_complaints=12, major_decided=12, major_in_time=12 - major_late,
        first_response_business={1800: complaints - 2 * slow, 5400: slow, 9000: slow},
        first_response_wall={2400: complaints - 2 * slow, 7200: slow, 30000: slow},
        by_severity={Severity.CRITICAL: 3, Severity.MAJOR: 9, Severity.NORMAL: complaints - 40, Severity.LOW: 28},
        remedies={Remedy.COMPENSATION: 6, Remedy.REPLACEMENT: 3},
        clocks={
            ClockName.ACKNOWLEDGE: ClockTally(met=complaints - ack_breached, breached=ack_breached),
            ClockName.RESOLVE: ClockTally(met=resolved - resolve_breached, breached=resolve_breached),
        },
        breaches={BreachClass.MINOR: ack_breached + resolve_breached, BreachClass.MAJOR: major_late},
        feedback_csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 40 + happy, 4: 20, 3: 8, 2: 3, 1: 2}),
    )


def _batches(period: str) -> list[SurveyBatch]:
    happy = SHAPES[period][-1]
    return [
        SurveyBatch(batch_id=f"email-{period}", channel=SurveyChannel.EMAIL,
                    csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 70 + 2 * happy, 4: 40, 3: 14, 2: 5, 1: 4}),
                    nps=ScoreHistogram(scale=Scale.NPS, counts={10: 40 + happy, 9: 30, 8: 25, 7: 15, 5: 12, 2: 6})),
        SurveyBatch(batch_id=f"sms-{period}", channel=SurveyChannel.SMS,
                    csat=ScoreHistogram(scale=Scale.CSAT, counts={5: 25 + happy, 4: 20, 3: 9, 1: 3}),
                    ces=ScoreHistogram(scale=Scale.CES, counts={7: 20, 6: 22, 5: 10, 3: 6, 2: 3})),
    ]


def sample_cycle(period: str, *, contract: str = "default",
                 plans_started: list[str] | None = None) -> CycleResult:
    p = Period.parse(period)
    start, end = p.start(TZ), p.end(TZ)
    now = end + timedelta(days=1)
    a = assess(contract=contract, period=period, start=start, end=end, now=now, tally=_tally(period),
               batches=_batches(period), interruptions=[], targets=TARGETS, assessed=ASSESSED)
    return CycleResult(contract=contract, period=period, cadence=Cadence.QUARTERLY, policy_version="sample-1",
                       assessment=a, report_due=end + timedelta(days=7), plans_started=plans_started or [])


def sample_report(contract: str = "default") -> CycleReport:
    """2026-Q3 after three earlier quarters (good, better, worse)."""
    previous = [sample_cycle(period, contract=contract) for period in ("2025-Q4", "2026-Q1", "2026-Q2")]
    latest = sample_cycle("2026-Q3", contract=contract,
                          plans_started=[f"plan-{contract}-2026-Q3-csat",
                                         f"plan-{contract}-2026-Q3-compliance_resolve"])
    return build_report(latest, previous)


def screenshot(html_path: Path, png_path: Path, *, timeout: float = 90) -> None:
    """Photograph a local HTML file in headless Chromium, with everything that would reach a network off."""
    with tempfile.TemporaryDirectory(prefix="cxsla-chromium-") as profile:
        subprocess.run(
            [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", f"--user-data-dir={profile}", "--window-size=1280,2000",
             f"--screenshot={png_path}", html_path.resolve().as_uri()],
            check=True, capture_output=True, timeout=timeout,
        )
    if not png_path.exists():
        raise RuntimeError(f"chromium wrote no screenshot to {png_path}")


def main() -> int:
    RESULTS.mkdir(parents=True, exist_ok=True)
    report = sample_report()
    html_path, md_path, png_path = RESULTS / "report.html", RESULTS / "report.md", RESULTS / "report.png"
    html_path.write_text(render(report, "html"), encoding="utf-8")
    md_path.write_text(render(report, "md"), encoding="utf-8")
    print(f"wrote {html_path} and {md_path}")
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        print("chromium not found (make tools installs it as root): no screenshot", file=sys.stderr)
        return 1
    screenshot(html_path, png_path)
    print(f"wrote {png_path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
