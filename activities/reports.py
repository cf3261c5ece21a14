"""Report artefacts of an assessment cycle: JSON, Markdown and one self-contained HTML page with charts.

The renderers are pure (a `CycleReport` in, text out) so `cxsla report` can re-render a past cycle without the
worker. The HTML page carries its own CSS and SVG charts and references nothing outside itself: a report is
mailed, archived and opened years later, offline. `ReportActivities.write_report` is the activity the cycle
workflow calls; it reads the earlier cycles of the same contract and cadence from Temporal for the trends.
"""

from __future__ import annotations

import asyncio
import html
import math
import os
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal

import structlog
from temporalio import activity
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from sla.kpi import DEFINITIONS, KpiName, KpiValue, Target, Unit
from sla.periods import Period, PeriodError
from sla.reporting import (
    CycleReport,
    CycleResult,
    TrendPoint,
    build_report,
    cycle_workflow_id,
    format_seconds,
    format_target,
    format_value,
)

log = structlog.get_logger("cxsla.reports")

Format = Literal["json", "md", "html"]
FORMATS: tuple[Format, ...] = ("json", "md", "html")
TREND_CYCLES = 4  # earlier cycles shown beside this one

# Chart colours; tests look for MET and MISSED pixels in a browser screenshot, so they are named once here.
MET = "#2e7d32"
MISSED = "#c62828"
NO_DATA = "#9e9e9e"
TRACK = "#eceff1"
INK = "#212121"
LINE = "#1565c0"


def render(report: CycleReport, fmt: Format) -> str:
    if fmt == "json":
        return report.model_dump_json(indent=2) + "\n"
    if fmt == "md":
        return render_markdown(report)
    if fmt == "html":
        return render_html(report)
    raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")


def _mark(kpi: KpiValue) -> str:
    return "✓" if kpi.met else "✗" if kpi.met is False else "–"


def _colour(met: bool | None, value: float | None) -> str:
    if value is None or met is None:
        return NO_DATA
    return MET if met else MISSED


def _summary(report: CycleReport) -> str:
    r = report.result
    a = r.assessment
    missed = len(a.missed)
    checked = len(a.assessed)
    return (f"{a.complaints} complaints received, {a.resolved} resolved; {checked} targets checked, "
            f"{missed} missed; report due {r.report_due.isoformat()}"
            + (" (late)" if r.report_late else ""))


def _assessed(report: CycleReport) -> list[KpiValue]:
    a = report.result.assessment
    by_name = {k.name: k for k in a.kpis}
    return [by_name[n] for n in a.assessed if n in by_name]


def _label(name: KpiName) -> str:
    return DEFINITIONS[name][0]


def _unit(name: KpiName) -> Unit:
    return DEFINITIONS[name][1]


# ---- Markdown -------------------------------------------------------------------------------------------------
def _text(text: object) -> str:
    """Markdown text: most viewers pass raw HTML through, so angle brackets and entities are neutralised."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cell(text: object) -> str:
    """A Markdown table cell: pipes and line breaks would end the cell or the row."""
    return _text(text).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _row(cells: Iterable[object]) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> list[str]:
    return [_row(header), "|" + "|".join("---" for _ in header) + "|", *(_row(r) for r in rows)]


def render_markdown(report: CycleReport) -> str:
    r = report.result
    a = r.assessment
    out = [f"# Assessment report: {_cell(r.contract)}, {_cell(r.period)}", "",
           f"{r.cadence.value} cycle · policy {_cell(r.policy_version)} · {_cell(_summary(report))}", ""]
    out += ["## Method", "", *(f"- {_text(line)}" for line in report.method), ""]
    out += ["## Results", ""]
    out += _table(
        ["KPI", "value", "target", "met", "n", "variant"],
        ([k.label, format_value(k.unit, k.value), format_target(k.unit, k.target), _mark(k), k.n, k.variant]
         for k in a.kpis),
    )
    out += ["", "✓ met · ✗ missed · – no target checked, or too little data", ""]
    if report.trends:
        periods = _trend_periods(report.trends)
        out += ["### Trends", ""]
        out += _table(
            ["KPI", *periods],
            ([_label(name), *(_trend_cell(name, points, p) for p in periods)] for name, points in report.trends.items()),
        )
        out.append("")
    if a.channels:
        out += ["### Survey channels", ""]
        out += _table(
            ["channel", "batches", "responses", "CSAT", "NPS", "CES"],
            ([c.channel.value, c.batches, c.responses, format_value(Unit.SCORE, c.csat),
              format_value(Unit.NPS, c.nps), format_value(Unit.SCORE, c.ces)] for c in a.channels),
        )
        out.append("")
    out += ["### Complaints", ""]
    out += _table(["", "count"], _complaint_rows(report))
    out += ["", "## Problems", ""]
    out += [f"- {_text(line)}" for line in report.problems] or ["- None found."]
    out += ["", "## Suggestions", ""]
    out += [f"- {_text(line)}" for line in report.suggestions] or ["- None."]
    return "\n".join(out) + "\n"


def _trend_periods(trends: dict[KpiName, list[TrendPoint]]) -> list[str]:
    seen: dict[str, None] = {}
    for points in trends.values():
        for p in points:
            seen.setdefault(p.period, None)
    return list(seen)


def _trend_cell(name: KpiName, points: list[TrendPoint], period: str) -> str:
    point = next((p for p in points if p.period == period), None)
    return "–" if point is None else format_value(_unit(name), point.value)


def _complaint_rows(report: CycleReport) -> list[tuple[str, int]]:
    a = report.result.assessment
    rows = [("received", a.complaints), ("resolved", a.resolved), ("withdrawn", a.withdrawn)]
    rows += [(f"severity {s.value}", n) for s, n in a.by_severity.items()]
    rows += [(f"{c.value} breaches", n) for c, n in a.breaches.items()]
    rows += [(f"remedy {m.value}", n) for m, n in a.remedies.items()]
    rows += [("service interruptions", a.interruptions)]
    return rows


# ---- SVG charts -----------------------------------------------------------------------------------------------
def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


# Axis ends for durations: whole minutes and hours, never "5h 33m 20s".
_SECOND_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400)


def _nice_step(x: float, unit: Unit) -> float:
    """The smallest readable step at or above x: 1, 2 or 5 times a power of ten, or a round duration."""
    if x <= 0:
        return 1.0
    if unit is Unit.SECONDS and x <= _SECOND_STEPS[-1]:
        return float(next(step for step in _SECOND_STEPS if step >= x - 1e-9))
    power = 10 ** math.floor(math.log10(x))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= x - 1e-12 * power)


def _natural(name: KpiName) -> tuple[float, float | None]:
    """The KPI's own scale; None: unbounded above (durations, counts)."""
    unit = _unit(name)
    if unit is Unit.RATIO:
        return 0.0, 1.0
    if unit is Unit.NPS:
        return -100.0, 100.0
    if unit is Unit.SCORE:
        return (1.0, 7.0) if name is KpiName.CES else (0.0, 100.0)
    return 0.0, None


def _bar_domain(name: KpiName, value: float | None, target: Target | None) -> tuple[float, float]:
    """A bar is drawn on the KPI's whole scale, so its length stays honest; unbounded scales end past both."""
    lo, hi = _natural(name)
    if hi is not None:
        return lo, hi
    top = max([v for v in (value, _target_value(target)) if v is not None], default=0.0) * 1.15
    return lo, _nice_step(top / 4, _unit(name)) * 4 if top > 0 else 1.0


def _trend_domain(name: KpiName, values: Iterable[float | None], target: Target | None) -> list[float]:
    """Gridline values of a trend chart: zoomed on the data and the target (a line need not start at zero),
    in round steps, within the KPI's scale."""
    unit = _unit(name)
    lo_bound, hi_bound = _natural(name)
    seen = [v for v in (*values, _target_value(target)) if v is not None]
    if not seen:
        return [lo_bound, hi_bound if hi_bound is not None else 1.0]
    vmin, vmax = min(seen), max(seen)
    if hi_bound is None:
        vmin = lo_bound  # durations and counts start at zero
    scale = (hi_bound - lo_bound) if hi_bound is not None else max(vmax, 1.0)
    pad = max(vmax - vmin, scale * 0.04) * 0.25
    step = _nice_step((vmax - vmin + 2 * pad) / 4, unit)
    lo = max(lo_bound, math.floor((vmin - pad) / step) * step)
    hi = math.ceil((vmax + pad) / step) * step
    if hi_bound is not None:
        hi = min(hi_bound, hi)
    if hi <= lo:
        hi = lo + step
    ticks = [lo]
    while ticks[-1] + step < hi - 1e-9:
        ticks.append(ticks[-1] + step)
    return [*ticks, hi]


def _tick(unit: Unit, value: float, step: float | None = None) -> str:
    if unit is Unit.RATIO:
        return f"{value * 100:.1f}%" if step is not None and step < 0.01 else f"{value * 100:.0f}%"
    if unit is Unit.SECONDS:
        return format_seconds(value)
    return f"{value:.1f}" if step is not None and step < 1 else f"{value:.0f}"


def _target_value(target: Target | None) -> float | None:
    if target is None:
        return None
    return target.min if target.min is not None else target.max


def bar_svg(kpi: KpiValue) -> str:
    """The KPI's value as a horizontal bar on its scale, with the target as a dark marker."""
    width, height, left, right = 560, 50, 8, 8
    lo, hi = _bar_domain(kpi.name, kpi.value, kpi.target)
    right_edge = width - right
    span = right_edge - left

    def x(v: float) -> float:
        return left + span * (min(max(v, lo), hi) - lo) / (hi - lo)

    parts = [f'<rect x="{left}" y="10" width="{span}" height="22" rx="3" fill="{TRACK}"/>']
    if kpi.value is None:
        parts.append(f'<text x="{left + span / 2:.1f}" y="26" text-anchor="middle" class="muted">no data</text>')
    else:
        origin = x(0.0) if lo < 0 < hi else x(lo)
        end = x(kpi.value)
        a, b = sorted((origin, end))
        parts.append(f'<rect x="{a:.1f}" y="10" width="{max(b - a, 2):.1f}" height="22" rx="3" '
                     f'fill="{_colour(kpi.met, kpi.value)}"/>')
    target = _target_value(kpi.target)
    if target is not None:
        tx = x(target)
        parts.append(f'<line x1="{tx:.1f}" y1="4" x2="{tx:.1f}" y2="38" stroke="{INK}" stroke-width="3"/>')
    parts.append(f'<text x="{left}" y="48" class="tick">{_e(_tick(kpi.unit, lo))}</text>')
    parts.append(f'<text x="{right_edge}" y="48" text-anchor="end" class="tick">{_e(_tick(kpi.unit, hi))}</text>')
    if lo < 0 < hi:
        parts.append(f'<text x="{x(0):.1f}" y="48" text-anchor="middle" class="tick">0</text>')
    desc = f"{kpi.label}: {format_value(kpi.unit, kpi.value)}, target {format_target(kpi.unit, kpi.target)}"
    return (f'<svg class="bar" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{_e(desc)}">' + "".join(parts) + "</svg>")


def trend_svg(name: KpiName, points: list[TrendPoint], target: Target | None) -> str:
    """The KPI over the cycles as a line; each point coloured by that cycle's verdict; the target dashed."""
    unit = _unit(name)
    width, height = 420, 200
    left, right, top, bottom = 64, 8, 22, 30
    ticks = _trend_domain(name, [p.value for p in points], target)
    lo, hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0]
    plot_w, plot_h = width - left - right, height - top - bottom

    def y(v: float) -> float:
        return top + plot_h * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))

    inset = 30  # first and last points keep their labels clear of the axis and the edge

    def x(i: int) -> float:
        if len(points) == 1:
            return left + plot_w / 2
        return left + inset + (plot_w - 2 * inset) * i / (len(points) - 1)

    parts = [f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fafafa" stroke="#cfd8dc"/>']
    for v in ticks:
        parts.append(f'<line x1="{left}" y1="{y(v):.1f}" x2="{left + plot_w}" y2="{y(v):.1f}" stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">'
                     f"{_e(_tick(unit, v, step))}</text>")
    tv = _target_value(target)
    if tv is not None:
        parts.append(f'<line x1="{left}" y1="{y(tv):.1f}" x2="{left + plot_w}" y2="{y(tv):.1f}" stroke="{INK}" '
                     'stroke-width="1.5" stroke-dasharray="6 4"/>')
    segments: list[list[str]] = [[]]
    for i, p in enumerate(points):
        if p.value is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(i):.1f},{y(p.value):.1f}")
    for seg in segments:
        if len(seg) > 1:
            parts.append(f'<polyline points="{" ".join(seg)}" fill="none" stroke="{LINE}" stroke-width="2.5"/>')
    for i, p in enumerate(points):
        parts.append(f'<text x="{x(i):.1f}" y="{height - 8}" text-anchor="middle" class="tick">{_e(p.period)}</text>')
        if p.value is None:
            parts.append(f'<text x="{x(i):.1f}" y="{top + plot_h / 2:.1f}" text-anchor="middle" class="muted">'
                         "no data</text>")
            continue
        # Labels go below a point in the upper part of the plot, so they stay inside the chart.
        below = y(p.value) < top + 16
        parts.append(f'<circle cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="5" fill="{_colour(p.met, p.value)}" '
                     'stroke="#ffffff" stroke-width="1.5"/>')
        parts.append(f'<text x="{x(i):.1f}" y="{y(p.value) + (18 if below else -9):.1f}" text-anchor="middle" '
                     f'class="val">{_e(format_value(unit, p.value))}</text>')
    desc = f"{_label(name)} over " + ", ".join(f"{p.period} {format_value(unit, p.value)}" for p in points)
    return (f'<svg class="trend" viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
            f'aria-label="{_e(desc)}">' + "".join(parts) + "</svg>")


# ---- HTML -----------------------------------------------------------------------------------------------------
_CSS = f"""
body{{font-family:"DejaVu Sans",system-ui,sans-serif;color:{INK};margin:24px 32px;max-width:1200px;font-size:14px}}
h1{{font-size:24px;margin:0 0 4px}} h2{{font-size:18px;margin:28px 0 10px;border-bottom:1px solid #cfd8dc;
padding-bottom:4px}} .sub{{color:#546e7a;margin:0 0 12px}}
.legend span{{display:inline-block;margin-right:16px}} .sw{{display:inline-block;width:12px;height:12px;
border-radius:2px;vertical-align:-1px;margin-right:4px}}
.bars{{display:grid;grid-template-columns:repeat(auto-fill,minmax(520px,1fr));gap:8px 40px}}
svg.bar{{width:100%;height:auto;display:block}}
.barbox .head{{display:flex;justify-content:space-between;font-size:13px}} .barbox .fig{{font-weight:bold}}
.trends{{display:grid;grid-template-columns:repeat(auto-fill,minmax(380px,1fr));gap:16px}}
svg.trend{{width:100%;max-width:420px;height:auto;display:block}} .tgt{{font-weight:normal;color:#546e7a}}
figure{{margin:0}} figcaption{{font-size:13px;font-weight:bold;margin-bottom:2px}}
svg text{{font-family:"DejaVu Sans",sans-serif}} .tick{{font-size:11px;fill:#546e7a}}
.val{{font-size:11px;fill:{INK}}} .muted{{font-size:12px;fill:#757575}}
table{{border-collapse:collapse;margin:6px 0 12px;font-size:13px}} th,td{{border:1px solid #cfd8dc;
padding:4px 8px;text-align:left;vertical-align:top}} th{{background:#eceff1}} td.num{{text-align:right}}
td.variant{{color:#546e7a;max-width:460px}} .ok{{color:{MET};font-weight:bold}} .ko{{color:{MISSED};
font-weight:bold}} .na{{color:{NO_DATA}}} li{{margin:3px 0}}
"""


def _trend_caption(name: KpiName, target: Target | None) -> str:
    return "" if target is None else f"(dashed: target {format_target(_unit(name), target)})"


def _met_cell(kpi: KpiValue) -> str:
    cls = "ok" if kpi.met else "ko" if kpi.met is False else "na"
    return f'<td class="{cls}">{_mark(kpi)}</td>'


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Rows hold ready cells (`<td>...</td>`); the header is plain text."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _td(text: object, cls: str | None = None) -> str:
    return f'<td class="{cls}">{_e(text)}</td>' if cls else f"<td>{_e(text)}</td>"


def _list(lines: Sequence[str], empty: str) -> str:
    return "<ul>" + "".join(f"<li>{_e(line)}</li>" for line in (lines or [empty])) + "</ul>"


def render_html(report: CycleReport) -> str:
    r = report.result
    a = r.assessment
    by_name = {k.name: k for k in a.kpis}
    legend = ('<p class="legend">'
              f'<span><i class="sw" style="background:{MET}"></i>met</span>'
              f'<span><i class="sw" style="background:{MISSED}"></i>missed</span>'
              f'<span><i class="sw" style="background:{NO_DATA}"></i>not judged (no target or too little data)</span>'
              f'<span><i class="sw" style="background:{INK}"></i>target</span></p>')
    bars = "".join(
        '<div class="barbox"><div class="head">'
        f"<span>{_e(k.label)}</span><span><span class=\"fig\">{_e(format_value(k.unit, k.value))}</span> "
        f"· target {_e(format_target(k.unit, k.target))} · n = {k.n}</span></div>{bar_svg(k)}</div>"
        for k in _assessed(report)
    ) or "<p>No targets were checked this cycle.</p>"
    trends = "".join(
        f"<figure><figcaption>{_e(_label(name))} <span class=\"tgt\">"
        f"{_e(_trend_caption(name, by_name[name].target if name in by_name else None))}</span></figcaption>"
        f"{trend_svg(name, points, by_name[name].target if name in by_name else None)}</figure>"
        for name, points in report.trends.items()
    )
    kpi_table = _html_table(
        ["KPI", "value", "target", "met", "n", "variant"],
        ([_td(k.label), _td(format_value(k.unit, k.value), "num"), _td(format_target(k.unit, k.target)),
          _met_cell(k), _td(k.n, "num"), _td(k.variant, "variant")] for k in a.kpis),
    )
    channels = _html_table(
        ["channel", "batches", "responses", "CSAT", "NPS", "CES"],
        ([_td(c.channel.value), _td(c.batches, "num"), _td(c.responses, "num"),
          _td(format_value(Unit.SCORE, c.csat), "num"), _td(format_value(Unit.NPS, c.nps), "num"),
          _td(format_value(Unit.SCORE, c.ces), "num")] for c in a.channels),
    ) if a.channels else "<p>No survey answers this period.</p>"
    complaints = _html_table(["", "count"], ([_td(k), _td(n, "num")] for k, n in _complaint_rows(report)))
    title = f"Assessment report: {r.contract}, {r.period}"
    return "".join([
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width,initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(r.cadence.value)} cycle · policy {_e(r.policy_version)} · {_e(_summary(report))}</p>',
        "<h2>Results against targets</h2>", legend, f'<div class="bars">{bars}</div>',
        "<h2>Problems</h2>", _list(report.problems, "None found."),
        "<h2>Suggestions</h2>", _list(report.suggestions, "None."),
        "<h2>Trends over the cycles</h2>",
        f'<div class="trends">{trends}</div>' if trends else "<p>No trends.</p>",
        "<h2>All KPIs</h2>", kpi_table,
        "<h2>Survey channels</h2>", channels,
        "<h2>Complaints</h2>", complaints,
        "<h2>Method</h2>", _list(report.method, "–"),
        "</body></html>\n",
    ])


# ---- the activity ---------------------------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^\w.@+=,-]")


def _component(name: str) -> str:
    """A contract or period as one path component: no separators, no `..`, nothing hidden."""
    safe = _UNSAFE.sub("_", name).lstrip(".")
    return safe or "_"


def report_paths(report_dir: str | Path, contract: str, period: str) -> dict[Format, Path]:
    """Where a cycle's reports live: `{report_dir}/{contract}/{period}.{json,md,html}`."""
    folder = Path(report_dir) / _component(contract)
    return {fmt: folder / f"{_component(period)}.{fmt}" for fmt in FORMATS}


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old report or the new one, never half of one (temp file in the same folder, replace)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(report: CycleReport, report_dir: str | Path) -> list[str]:
    paths = report_paths(report_dir, report.result.contract, report.result.period)
    for fmt, path in paths.items():
        _write_atomically(path, render(report, fmt))
    return [str(path) for path in paths.values()]


class ReportActivities:
    """Writes a cycle's reports under `report_dir`; rewriting the same cycle gives the same files."""

    def __init__(self, report_dir: str | Path) -> None:
        self.report_dir = Path(report_dir)

    @activity.defn(name="cxsla.write_report")
    async def write_report(self, result: CycleResult) -> list[str]:
        previous = await previous_cycles(activity.client(), result)
        report = build_report(result, previous)
        return await asyncio.to_thread(write_reports, report, self.report_dir)


async def previous_cycles(client: Client, result: CycleResult) -> list[CycleResult]:
    """Up to `TREND_CYCLES` completed earlier cycles; a missing, running or unreadable one is left out."""
    try:
        period = Period.parse(result.period)
    except PeriodError:
        return []
    found: list[CycleResult] = []
    for _ in range(TREND_CYCLES):
        period = period.previous()
        handle = client.get_workflow_handle(cycle_workflow_id(result.contract, str(period)), result_type=CycleResult)
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.COMPLETED:
                continue
            found.append(await handle.result())
        except RPCError as exc:
            log.debug("no earlier cycle", cycle=handle.id, error=str(exc)[:200])
        except ValueError as exc:  # a result this version cannot read (pydantic): no trend point
            log.warning("earlier cycle unreadable", cycle=handle.id, error=str(exc)[:200])
    return found
