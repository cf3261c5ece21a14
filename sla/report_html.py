"""Report pages of an assessment cycle: JSON, Markdown and one self-contained HTML page with SVG charts.

Pure, a `CycleReport` in and text out, so `cxsla report` re-renders a past cycle without the worker and the
activity only writes files. The HTML comes from the Jinja2 templates in `sla/templates/` (package data) with
autoescaping on: a contract, a plan id or a policy text is always data, never markup; StrictUndefined makes a
misspelt name in a template an error rather than an empty cell. The page carries its own CSS and SVG charts and
references nothing outside itself: a report is mailed, archived and opened years later, offline.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from sla.kpi import DEFINITIONS, KpiName, KpiValue, Target, Unit
from sla.reporting import (
    LEGEND,
    CycleReport,
    KpiRow,
    TrendPoint,
    format_n,
    format_seconds,
    format_target,
    format_value,
    kpi_rows,
)

Format = Literal["json", "md", "html"]
FORMATS: tuple[Format, ...] = ("json", "md", "html")

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


def _rows(report: CycleReport) -> list[KpiRow]:
    """The verdicts every view shows (`cycle show` too): computed once, by sla.reporting.kpi_rows."""
    return report.kpis or kpi_rows(report.result.assessment)


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
        ["KPI", "what the agreements ask", "value", "target", "met", "n", "variant", "sources"],
        ([k.label, k.obligation, k.value, k.target, k.mark, format_n(k), k.variant, k.sources] for k in _rows(report)),
    )
    out += ["", LEGEND, ""]
    if report.trends:
        periods = _trend_periods(report.trends)
        out += ["### Trends", ""]
        out += _table(
            ["KPI", *periods],
            ([_label(name), *(_trend_cell(name, points, p) for p in periods)]
             for name, points in report.trends.items()),
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
    for breach_class, ids in report.breach_complaints.items():
        if ids:
            out += ["", f"Complaints with a {breach_class} breach: {_text(', '.join(ids))}"]
    if a.by_category:
        out += ["", "### By category", ""]
        out += _table(CATEGORY_COLUMNS, _category_rows(report))
    out += ["", "## Problems", ""]
    out += [f"- {_text(line)}" for line in report.problems] or ["- None found."]
    out += ["", "## Suggestions", ""]
    out += [f"- {_text(line)}" for line in report.suggestions] or ["- None."]
    out += ["", "## Improvement plans", ""]
    for plan in report.plans:
        version = f"version {plan.version}" if plan.version else "not submitted yet"
        out += [f"### {_cell(plan.plan_id)}: {_cell(_label(plan.kpi))}, {plan.state.replace('_', ' ')}, {version}", ""]
        out += _table(["measure", "owner", "due", "state"],
                      ([m.action, m.owner, m.due.isoformat(), m.state] for m in plan.measures)) if plan.measures \
            else ["No measures yet."]
        out.append("")
    if not report.plans:
        out += ["No open improvement plans.", ""]
    return "\n".join(out).rstrip("\n") + "\n"


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
    rows += [("pending at period end", a.pending)] if a.pending else []
    rows += [(f"severity {s.value}", n) for s, n in a.by_severity.items()]
    rows += [(f"{c.value} breaches", n) for c, n in a.breaches.items()]
    rows += [("verified at fault", a.at_fault)] if a.at_fault else []
    rows += [(f"remedy {m.value}", n) for m, n in a.remedies.items()]
    rows += [("at fault without a remedy", a.at_fault_without_remedy)] if a.at_fault_without_remedy else []
    if a.inquiries:
        rows += [("inquiries (not in the figures above)", a.inquiries),
                 ("inquiries answered late (first response)", a.inquiry_acknowledge.breached)]
    rows += [("service interruptions", a.interruptions)]
    return rows


CATEGORY_COLUMNS = ["category", "received", "resolved", "with a breach"]


def _category_rows(report: CycleReport) -> list[tuple[str, int, int, int]]:
    """Complaints by nature (002 §1.3), in the category's name order."""
    return [(name, c.complaints, c.resolved, c.breached)
            for name, c in report.result.assessment.by_category.items()]


# ---- templates ------------------------------------------------------------------------------------------------
_ENV = Environment(
    loader=PackageLoader("sla", "templates"),
    autoescape=select_autoescape(enabled_extensions=("html", "svg", "css"), default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["f1"] = "{:.1f}".format  # SVG coordinates: a tenth of a pixel is finer than any screen shows
_ENV.globals.update(MET=MET, MISSED=MISSED, NO_DATA=NO_DATA, TRACK=TRACK, INK=INK, LINE=LINE, Unit=Unit,
                    format_value=format_value, format_target=format_target, LEGEND=LEGEND,
                    format_n=format_n)


def _template(name: str, **context: object) -> Markup:
    """A rendered template is trusted markup: everything in it that came from the context was escaped."""
    return Markup(_ENV.get_template(name).render(**context))


# ---- SVG charts -----------------------------------------------------------------------------------------------
# Axis ends for durations: whole minutes and hours, never "5h 33m 20s".
_SECOND_STEPS = (60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 14400, 21600, 43200, 86400)

# Label widths in em of DejaVu Sans, the page's font and among the widest sans faces a fallback could be, each
# rounded up so a label given room by them is never cut; letters beyond Latin (CJK is a whole em) count as wide.
_NARROW, _WIDE = set(" .,:;'|()[]/ijlft"), set("mwMW%@#&+=<>~^≤≥")


def _text_width(text: str, size: float) -> float:
    """How wide a chart label draws at font `size`, at most: the SVG is laid out before a browser measures."""
    return size * sum(0.4 if ch in _NARROW else 1.0 if ch in _WIDE or ord(ch) > 0x24F else
                      0.8 if ch.isupper() else 0.65 for ch in text)


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


def bar_svg(kpi: KpiValue) -> Markup:
    """The KPI's value as a horizontal bar on its scale, with the target as a dark marker."""
    width, height, left, right = 560, 50, 8, 8
    lo, hi = _bar_domain(kpi.name, kpi.value, kpi.target)
    right_edge = width - right
    span = right_edge - left

    def x(v: float) -> float:
        return left + span * (min(max(v, lo), hi) - lo) / (hi - lo)

    bar = None
    if kpi.value is not None:
        origin = x(0.0) if lo < 0 < hi else x(lo)
        a, b = sorted((origin, x(kpi.value)))
        bar = {"x": a, "width": max(b - a, 2), "fill": _colour(kpi.met, kpi.value)}
    target = _target_value(kpi.target)
    return _template(
        "bar.svg", width=width, height=height, left=left, span=span, right_edge=right_edge, bar=bar,
        target_x=None if target is None else x(target), zero_x=x(0) if lo < 0 < hi else None,
        lo=_tick(kpi.unit, lo), hi=_tick(kpi.unit, hi),
        desc=f"{kpi.label}: {format_value(kpi.unit, kpi.value)}, target {format_target(kpi.unit, kpi.target)}",
    )


TICK_SIZE, MUTED_SIZE = 11, 12  # font sizes of the .tick/.val and .muted classes in report.css


def trend_svg(name: KpiName, points: list[TrendPoint], target: Target | None) -> Markup:
    """The KPI over the cycles as a line; each point coloured by that cycle's verdict; the target dashed.

    The y axis is as wide as its widest label and the first and last points stand far enough in from the plot's
    edges for their labels, so no label is cut at the edge of the drawing (a 222-hour duration included)."""
    unit = _unit(name)
    width, height = 420, 200
    right, top, bottom = 8, 22, 30
    ticks = _trend_domain(name, [p.value for p in points], target)
    lo, hi = ticks[0], ticks[-1]
    step = ticks[1] - ticks[0]
    tick_labels = [_tick(unit, v, step) for v in ticks]
    gap = 6  # between a tick label and the axis
    left = max(64, math.ceil(max(_text_width(t, TICK_SIZE) for t in tick_labels)) + gap + 4)
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [None if p.value is None else format_value(unit, p.value) for p in points]
    # First and last points keep their labels clear of the axis and the edge.
    half = max((_text_width(t, TICK_SIZE) / 2 for t in [*(p.period for p in points), *filter(None, values)]),
               default=0.0)
    if None in values:
        half = max(half, _text_width("no data", MUTED_SIZE) / 2)
    inset = max(30, math.ceil(half) + 2)

    def y(v: float) -> float:
        return top + plot_h * (1 - (min(max(v, lo), hi) - lo) / (hi - lo))

    def x(i: int) -> float:
        if len(points) == 1:
            return left + plot_w / 2
        return left + inset + (plot_w - 2 * inset) * i / (len(points) - 1)

    segments: list[list[str]] = [[]]
    for i, p in enumerate(points):
        if p.value is None:
            segments.append([])
        else:
            segments[-1].append(f"{x(i):.1f},{y(p.value):.1f}")
    dots = []
    for i, (p, text) in enumerate(zip(points, values, strict=True)):
        dot = {"x": x(i), "period": p.period, "text": text}
        if p.value is not None:
            below = y(p.value) < top + 16  # a label below a point high in the plot stays inside the chart
            dot |= {"y": y(p.value), "text_y": y(p.value) + (18 if below else -9), "fill": _colour(p.met, p.value)}
        dots.append(dot)
    tv = _target_value(target)
    return _template(
        "trend.svg", width=width, height=height, left=left, top=top, plot_w=plot_w, plot_h=plot_h, gap=gap,
        ticks=[(y(v), label) for v, label in zip(ticks, tick_labels, strict=True)],
        target_y=None if tv is None else y(tv),
        lines=[" ".join(seg) for seg in segments if len(seg) > 1], dots=dots,
        desc=f"{_label(name)} over " + ", ".join(f"{p.period} {format_value(unit, p.value)}" for p in points),
    )


# ---- HTML -----------------------------------------------------------------------------------------------------
def _trend_caption(name: KpiName, target: Target | None) -> str:
    return "" if target is None else f"(dashed: target {format_target(_unit(name), target)})"


def render_html(report: CycleReport) -> str:
    r = report.result
    a = r.assessment
    targets = {k.name: k.target for k in a.kpis}
    return _ENV.get_template("report.html").render(
        title=f"Assessment report: {r.contract}, {r.period}", result=r, summary=_summary(report),
        bars=[(k, bar_svg(k)) for k in _assessed(report)],
        trends=[(_label(name), _trend_caption(name, targets.get(name)), trend_svg(name, points, targets.get(name)))
                for name, points in report.trends.items()],
        kpis=_rows(report), channels=a.channels, complaints=_complaint_rows(report),
        problems=report.problems, suggestions=report.suggestions, method=report.method, plans=report.plans,
        kpi_label=_label,
        breach_complaints={k: v for k, v in report.breach_complaints.items() if v},
        categories=_category_rows(report), category_columns=CATEGORY_COLUMNS,
    )
