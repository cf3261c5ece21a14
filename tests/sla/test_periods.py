"""Assessment periods: reading and writing `2026-11` / `2026-Q3` / `2026`, and their bounds in a contract's zone."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla.periods import Cadence, Period, PeriodError

UTC = timezone.utc
SH = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


# ---- reading and writing ------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "period"),
    [
        ("2026-11", Period(2026, Cadence.MONTHLY, 11)),
        ("2026-01", Period(2026, Cadence.MONTHLY, 1)),
        ("2026-Q3", Period(2026, Cadence.QUARTERLY, 3)),
        ("2026-Q1", Period(2026, Cadence.QUARTERLY, 1)),
        ("2026", Period(2026, Cadence.ANNUAL, 1)),
    ],
)
def test_parse_and_str_round_trip(text, period):
    assert Period.parse(text) == period
    assert str(period) == text
    assert Period.parse(str(period)) == period


def test_parse_tolerates_surrounding_space_and_a_lower_case_q():
    assert Period.parse(" 2026-q4 ") == Period(2026, Cadence.QUARTERLY, 4)
    assert str(Period.parse(" 2026-q4 ")) == "2026-Q4"


@pytest.mark.parametrize(
    "text",
    ["2026-13", "2026-00", "2026-1", "2026-Q0", "2026-Q5", "2026Q3", "26", "2026-11-01", "", "Q3-2026",
     "2026-H1", "november", "2026-11\n2026-12"],
)
def test_bad_periods_are_refused_with_the_accepted_forms(text):
    with pytest.raises(PeriodError) as info:
        Period.parse(text)
    message = str(info.value)
    assert repr(text) in message
    assert "2026-11" in message and "2026-Q3" in message and "2026" in message


@pytest.mark.parametrize("text", ["1969", "0001-Q1", "3000-01"])
def test_years_out_of_range_are_refused(text):
    with pytest.raises(PeriodError, match="year out of range"):
        Period.parse(text)


def test_a_non_string_period_is_a_period_error():
    # An unquoted `period = 2026` in TOML or JSON arrives as an int.
    with pytest.raises(PeriodError, match="2026"):
        Period.parse(2026)  # type: ignore[arg-type]


def test_period_error_is_a_value_error():
    assert issubclass(PeriodError, ValueError)


# ---- bounds ---------------------------------------------------------------------------------------------------------
def test_shanghai_quarter_bounds_are_local_midnights():
    q3 = Period.parse("2026-Q3")
    # 1 July 00:00 +08:00 = 30 June 16:00Z; 1 October 00:00 +08:00 = 30 September 16:00Z.
    assert q3.start(SH) == utc(2026, 6, 30, 16)
    assert q3.end(SH) == utc(2026, 9, 30, 16)
    assert q3.start(SH).tzinfo is UTC and q3.end(SH).tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("2026-11", utc(2026, 10, 31, 16), utc(2026, 11, 30, 16)),
        ("2026-12", utc(2026, 11, 30, 16), utc(2026, 12, 31, 16)),
        ("2026-02", utc(2026, 1, 31, 16), utc(2026, 2, 28, 16)),
        ("2028-02", utc(2028, 1, 31, 16), utc(2028, 2, 29, 16)),  # leap year
        ("2026", utc(2025, 12, 31, 16), utc(2026, 12, 31, 16)),
        ("2026-Q4", utc(2026, 9, 30, 16), utc(2026, 12, 31, 16)),
    ],
)
def test_shanghai_bounds(text, start, end):
    period = Period.parse(text)
    assert (period.start(SH), period.end(SH)) == (start, end)


def test_utc_bounds():
    assert Period.parse("2026-Q3").start(ZoneInfo("UTC")) == utc(2026, 7, 1)
    assert Period.parse("2026-Q3").end(ZoneInfo("UTC")) == utc(2026, 10, 1)


def test_bounds_follow_daylight_saving_time():
    # Berlin: CET (+01:00) in winter, CEST (+02:00) from the last Sunday of March to the last Sunday of October.
    q2 = Period.parse("2026-Q2")
    assert q2.start(BERLIN) == utc(2026, 3, 31, 22)
    assert q2.end(BERLIN) == utc(2026, 6, 30, 22)
    q4 = Period.parse("2026-Q4")
    assert q4.start(BERLIN) == utc(2026, 9, 30, 22)
    assert q4.end(BERLIN) == utc(2026, 12, 31, 23)


def test_first_day():
    assert str(Period.parse("2026-Q3").first_day()) == "2026-07-01"
    assert str(Period.parse("2026-11").first_day()) == "2026-11-01"
    assert str(Period.parse("2026").first_day()) == "2026-01-01"


# ---- next / previous ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "following"),
    [("2026-11", "2026-12"), ("2026-12", "2027-01"), ("2026-Q3", "2026-Q4"), ("2026-Q4", "2027-Q1"),
     ("2026", "2027")],
)
def test_next_and_previous_across_year_ends(text, following):
    assert str(Period.parse(text).next()) == following
    assert str(Period.parse(following).previous()) == text


def test_periods_tile_time_without_gaps():
    period = Period.parse("2025-11")
    for _ in range(30):
        assert period.end(SH) == period.next().start(SH)
        period = period.next()
    assert str(period) == "2028-05"


# ---- containing / contains ------------------------------------------------------------------------------------------
def test_containing_uses_the_local_date():
    # 30 June 16:00Z is already 1 July in Shanghai: the third quarter there, still the second in UTC.
    instant = utc(2026, 6, 30, 16)
    assert str(Period.containing(instant, Cadence.QUARTERLY, SH)) == "2026-Q3"
    assert str(Period.containing(instant, Cadence.QUARTERLY, ZoneInfo("UTC"))) == "2026-Q2"
    just_before = instant - timedelta(microseconds=1)
    assert str(Period.containing(just_before, Cadence.QUARTERLY, SH)) == "2026-Q2"
    assert str(Period.containing(instant, Cadence.MONTHLY, SH)) == "2026-07"
    assert str(Period.containing(utc(2026, 12, 31, 16), Cadence.ANNUAL, SH)) == "2027"
    assert str(Period.containing(utc(2026, 12, 31, 15, 59), Cadence.ANNUAL, SH)) == "2026"


def test_contains_is_half_open():
    q3 = Period.parse("2026-Q3")
    assert q3.contains(utc(2026, 6, 30, 16), SH)
    assert q3.contains(utc(2026, 9, 30, 15, 59, 59), SH)
    assert not q3.contains(utc(2026, 9, 30, 16), SH)
    assert not q3.contains(utc(2026, 6, 30, 15, 59, 59), SH)


ZONES = st.sampled_from([SH, BERLIN, ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Pacific/Kiritimati")])
INSTANTS = st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2998, 12, 1), timezones=st.just(UTC))


@settings(max_examples=150, deadline=None)
@given(INSTANTS, st.sampled_from(list(Cadence)), ZONES)
def test_the_containing_period_contains_the_instant(instant, cadence, tz):
    period = Period.containing(instant, cadence, tz)
    assert period.cadence is cadence
    assert period.contains(instant, tz)
    assert not period.next().contains(instant, tz)
    assert not period.previous().contains(instant, tz)
    assert Period.parse(str(period)) == period
    assert Period.containing(period.start(tz), cadence, tz) == period
