"""The HTML report opens in a real browser and shows its charts: headless Chromium takes a screenshot and the
met and missed bar colours must cover real areas of it (an SVG that failed to render leaves none)."""

from __future__ import annotations

import pytest

from bench.report_screenshot import CHROMIUM, sample_report, screenshot
from sla.report_html import MET, MISSED, render

pytestmark = [pytest.mark.e2e, pytest.mark.skipif(
    not CHROMIUM.exists(), reason=f"{CHROMIUM} missing: `make tools` installs Debian's chromium as root"
)]
Image = pytest.importorskip("PIL.Image", reason="Pillow missing: pip install -e '.[dev]'")


def _rgb(colour: str) -> tuple[int, int, int]:
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _pixels_near(image, colour: str, tolerance: int = 12) -> int:
    """Pixels within `tolerance` per channel of `colour` (anti-aliased edges and colour profiles shift a little)."""
    target = _rgb(colour)
    return sum(
        count for count, rgb in image.getcolors(maxcolors=1 << 24)
        if all(abs(a - b) <= tolerance for a, b in zip(rgb, target, strict=False))  # RGB of RGBA
    )


def test_report_html_shows_the_charts_in_chromium(tmp_path):
    report = sample_report(contract="<b>browser</b>")
    html_path, png_path = tmp_path / "report.html", tmp_path / "report.png"
    html_path.write_text(render(report, "html"), encoding="utf-8")

    screenshot(html_path, png_path)

    with Image.open(png_path) as shot:
        image = shot.convert("RGB")
    assert image.size == (1280, 2000)
    # Without the SVGs (checked by hand: charts stripped) these colours cover about 150 pixels (legend, marks).
    met, missed = (_pixels_near(image, c) for c in (MET, MISSED))
    assert met > 5000, f"met colour {MET} in {met} pixels only: bars or trend points did not render"
    assert missed > 5000, f"missed colour {MISSED} in {missed} pixels only: bars or trend points did not render"
    # The page is not one colour block: the bars are a small part of it (white background dominates).
    white = _pixels_near(image, "#ffffff", tolerance=2)
    assert white > image.size[0] * image.size[1] // 2
