"""Business calendar: CN official working days, deadline arithmetic in working time, provisional years, the
calendar as data (what a clock carries), and years an operator publishes in the policy."""

from __future__ import annotations

import functools
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla.calendar import BusinessCalendar, CalendarData, CalendarError, CalendarUpdate, compiled
from sla.durations import parse_duration
from sla.official_calendar import official_horizon, resolve, resolve_at
from sla.policy import CalendarSpec, PolicyError, load_policy, parse_policy
from sla.vocabulary import ClockName, Severity
from tests.helpers.calendars import calendar_from, calendar_of, last_published_cn_year

SH = ZoneInfo("Asia/Shanghai")
UTC = timezone.utc


@pytest.fixture(scope="module")
def cn() -> BusinessCalendar:
    return calendar_of(load_policy().contract("default"))


@pytest.fixture(scope="module")
def always() -> BusinessCalendar:
    return calendar_of(load_policy().contract("always-on"))


def sh(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=SH)


# ---- the two required facts -----------------------------------------------------------------------------------
def test_default_calendar_is_cn_standard():
    contract = load_policy().contract("default")
    assert contract.calendar_name == "cn-standard"


def test_acknowledge_over_national_day(cn):
    """Tue 2025-09-30 17:00: one working hour that day, then the 1-8 October holiday, then 09:00-10:00 on the 9th."""
    contract = load_policy().contract("default")
    target = contract.target(ClockName.ACKNOWLEDGE, Severity.NORMAL)
    assert str(target) == "2 working hours"
    deadline = cn.add(sh(2025, 9, 30, 17, 0), target)
    assert deadline == sh(2025, 10, 9, 10, 0)
    assert deadline.astimezone(SH).isoformat() == "2025-10-09T10:00:00+08:00"


def test_acknowledge_on_saturday_before_make_up_sunday(cn):
    """Sat 2025-09-27 10:00 is off; Sun 2025-09-28 is an official make-up workday: 09:00 + 2h = 11:00."""
    deadline = cn.add(sh(2025, 9, 27, 10, 0), parse_duration("2 working hours"))
    assert deadline == sh(2025, 9, 28, 11, 0)


# ---- official working days --------------------------------------------------------------------------------------
def test_cn_working_days_agree_with_chinesecalendar(cn):
    start, end = date(2024, 1, 1), date(2026, 12, 31)
    expected = []
    day = start
    while day <= end:
        if chinese_calendar.is_workday(day):
            expected.append(day)
        day += timedelta(days=1)
    assert cn.working_days(start, end) == expected
    # and day by day through is_working_day, naming the first disagreement if any
    day = start
    while day <= end:
        assert cn.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2025, 9, 27), False),  # Saturday
        (date(2025, 9, 28), True),  # Sunday make-up workday
        (date(2025, 9, 30), True),
        (date(2025, 10, 1), False),  # National Day
        (date(2025, 10, 8), False),
        (date(2025, 10, 9), True),
        (date(2025, 10, 11), True),  # Saturday make-up workday
        (date(2025, 1, 26), True),  # Sunday before Spring Festival
        (date(2025, 1, 29), False),  # Spring Festival
        (date(2026, 1, 1), False),
    ],
)
def test_known_cn_days(cn, day, working):
    assert cn.is_working_day(day) is working


def test_working_days_range_is_inclusive(cn):
    assert cn.working_days(date(2025, 9, 26), date(2025, 9, 28)) == [date(2025, 9, 26), date(2025, 9, 28)]
    assert cn.working_days(date(2025, 10, 1), date(2025, 10, 7)) == []
    assert cn.working_days(date(2025, 10, 9), date(2025, 10, 9)) == [date(2025, 10, 9)]


def test_an_unpublished_year_is_provisional_not_refused(cn):
    last = last_published_cn_year()
    first_unknown = date(last + 1, 3, 1)
    assert cn.is_provisional(first_unknown) and not cn.is_provisional(date(last, 6, 1))
    # the weekly pattern answers meanwhile: Monday works, Saturday does not, New Year's Day is a weekday
    assert cn.is_working_day(date(last + 1, 3, 1)) is (date(last + 1, 3, 1).weekday() < 5)
    assert cn.is_working_day(date(last + 1, 1, 1)) is (date(last + 1, 1, 1).weekday() < 5)
    # deadline arithmetic runs into the unknown year and says so
    start = sh(last, 12, 31, 17, 0)
    deadline = cn.add(start, parse_duration("2 working hours"))
    assert deadline.date() > start.date() and cn.provisional_between(start, deadline)
    assert not cn.provisional_between(sh(last, 3, 2, 9), sh(last, 3, 4, 9))


def test_a_calendar_without_official_schedule_is_never_provisional(always):
    assert not always.is_provisional(date(2099, 1, 1))
    assert not always.provisional_between(datetime(2030, 1, 1, tzinfo=UTC), datetime(2040, 1, 1, tzinfo=UTC))


def test_extra_holidays_and_workdays_override():
    spec = CalendarSpec(
        timezone="Asia/Shanghai",
        hours=("09:00-12:00", "13:00-18:00"),
        workdays=("mon", "tue", "wed", "thu", "fri"),
        holidays="CN",
        extra_holidays=(date(2025, 9, 29),),
        extra_workdays=(date(2025, 10, 2),),
    )
    cal = calendar_from(spec, "custom")
    assert not cal.is_working_day(date(2025, 9, 29))
    assert cal.is_working_day(date(2025, 10, 2))
    # extra days decide even in a year with no published schedule
    spec_2031 = CalendarSpec(holidays="CN", extra_holidays=(date(2031, 1, 6),))
    assert not calendar_from(spec_2031, "x", range(2031, 2032)).is_working_day(date(2031, 1, 6))


def test_naive_instant_is_refused(cn):
    with pytest.raises(CalendarError, match="time zone"):
        cn.add_business(datetime(2025, 3, 3, 10), timedelta(hours=1))


# ---- working days -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (sh(2025, 3, 3, 10, 30), 1, sh(2025, 3, 4, 10, 30)),  # Mon -> Tue, same position
        (sh(2025, 3, 3, 10, 30), 5, sh(2025, 3, 10, 10, 30)),  # over a weekend
        (sh(2025, 3, 7, 15, 0), 1, sh(2025, 3, 10, 15, 0)),  # Fri -> Mon
        (sh(2025, 3, 3, 9, 0), 1, sh(2025, 3, 4, 9, 0)),
        (sh(2025, 3, 3, 17, 59), 1, sh(2025, 3, 4, 17, 59)),
        (sh(2025, 9, 30, 17, 0), 1, sh(2025, 10, 9, 17, 0)),  # over National Day
        (sh(2025, 9, 26, 11, 0), 1, sh(2025, 9, 28, 11, 0)),  # Fri -> make-up Sunday
    ],
)
def test_working_days_keep_the_working_clock_position(cn, start, days, expected):
    assert cn.add(start, parse_duration(f"{days} working days")) == expected


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (sh(2025, 3, 3, 7, 0), sh(2025, 3, 4, 9, 0)),  # before opening: from Mon 09:00
        (sh(2025, 3, 3, 18, 0), sh(2025, 3, 5, 9, 0)),  # at closing: from Tue 09:00
        (sh(2025, 3, 3, 20, 0), sh(2025, 3, 5, 9, 0)),  # evening: from Tue 09:00
        (sh(2025, 3, 8, 10, 0), sh(2025, 3, 11, 9, 0)),  # Saturday: from Mon 09:00
        (sh(2025, 10, 3, 10, 0), sh(2025, 10, 10, 9, 0)),  # holiday: from Thu 9 Oct 09:00
    ],
)
def test_off_hours_start_counts_from_the_next_opening(cn, start, expected):
    assert cn.add(start, parse_duration("1 working day")) == expected


def test_lunch_break_start_counts_from_the_afternoon_opening(cn):
    start = sh(2025, 3, 3, 12, 30)
    deadline = cn.add(start, parse_duration("1 working day"))
    # exactly one working day of working time (8 h) later; 3 h into Tuesday is the morning close
    assert cn.business_between(start, deadline) == timedelta(hours=8)
    assert deadline == sh(2025, 3, 4, 12, 0)


def test_working_hours_skip_breaks_nights_and_weekends(cn):
    assert cn.add(sh(2025, 3, 3, 11, 0), parse_duration("2 working hours")) == sh(2025, 3, 3, 14, 0)
    assert cn.add(sh(2025, 3, 7, 17, 0), parse_duration("2 working hours")) == sh(2025, 3, 10, 10, 0)
    assert cn.add(sh(2025, 3, 3, 9, 0), parse_duration("24 working hours")) == sh(2025, 3, 5, 18, 0)
    assert cn.add(sh(2025, 3, 3, 9, 0), parse_duration("30 working minutes")) == sh(2025, 3, 3, 9, 30)


def test_wall_clock_durations_ignore_the_calendar(cn):
    start = sh(2025, 10, 1, 3, 0)
    assert cn.add(start, parse_duration("PT30S")) == start + timedelta(seconds=30)
    assert cn.add(start, parse_duration("14 days")) == start + timedelta(days=14)


def test_zero_duration_is_the_instant_itself_even_off_hours(cn):
    start = sh(2025, 10, 1, 3, 0)
    assert cn.add(start, parse_duration("0 working hours")) == start
    assert cn.add(start, parse_duration("PT0S")) == start


def test_results_are_utc(cn):
    for duration in ("2 working hours", "1 working day", "0 working hours", "48h"):
        deadline = cn.add(sh(2025, 3, 3, 10, 0), parse_duration(duration))
        assert deadline.utcoffset() == timedelta(0), duration
    assert cn.add_business(sh(2025, 3, 3, 10, 0), timedelta(0)).utcoffset() == timedelta(0)
    assert cn.next_opening(sh(2025, 3, 3, 10, 0)).utcoffset() == timedelta(0)


def test_business_between(cn):
    assert cn.business_between(sh(2025, 3, 3, 8, 0), sh(2025, 3, 3, 20, 0)) == timedelta(hours=8)
    assert cn.business_between(sh(2025, 3, 7, 17, 0), sh(2025, 3, 10, 10, 0)) == timedelta(hours=2)
    assert cn.business_between(sh(2025, 3, 10, 10, 0), sh(2025, 3, 7, 17, 0)) == -timedelta(hours=2)
    assert cn.business_between(sh(2025, 10, 1, 0, 0), sh(2025, 10, 8, 23, 0)) == timedelta(0)


def test_next_opening(cn):
    assert cn.next_opening(sh(2025, 3, 3, 10, 0)) == sh(2025, 3, 3, 10, 0)
    assert cn.next_opening(sh(2025, 3, 3, 12, 0)) == sh(2025, 3, 3, 13, 0)
    assert cn.next_opening(sh(2025, 9, 30, 18, 0)) == sh(2025, 10, 9, 9, 0)


def test_negative_business_duration_is_refused(cn):
    with pytest.raises(CalendarError):
        cn.add_business(sh(2025, 3, 3, 10, 0), -timedelta(hours=1))


# ---- 24x7 --------------------------------------------------------------------------------------------------------
def test_24x7_working_hour_is_an_hour_and_working_day_is_24h(always):
    start = datetime(2025, 10, 1, 3, 17, 5, tzinfo=UTC)  # a CN holiday and a Wednesday night: irrelevant here
    assert always.add(start, parse_duration("2 working hours")) == start + timedelta(hours=2)
    assert always.add(start, parse_duration("1 working day")) == start + timedelta(hours=24)
    assert always.add(start, parse_duration("5 working days")) == start + timedelta(days=5)
    saturday = datetime(2025, 9, 27, 23, 30, tzinfo=UTC)
    assert always.add(saturday, parse_duration("1 working hour")) == saturday + timedelta(hours=1)
    assert always.business_between(start, start + timedelta(hours=37)) == timedelta(hours=37)
    assert always.is_working_day(date(2025, 10, 1))
    assert always.is_working_day(date(2030, 1, 1))  # no official schedule needed


# ---- properties ----------------------------------------------------------------------------------------------------
_PROPS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

instants = st.builds(
    lambda naive, tz: naive.replace(tzinfo=tz),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2026, 6, 30)),
    st.sampled_from([SH, UTC, ZoneInfo("America/New_York")]),
)
lengths = st.integers(min_value=0, max_value=400 * 60).map(lambda minutes: timedelta(minutes=minutes))


def _in_working_time_or_window_end(cal: BusinessCalendar, instant: datetime) -> bool:
    local = cal.local(instant)
    if not cal.is_working_day(local.date()):
        return False
    seconds = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return any(open_s <= seconds <= close_s for open_s, close_s in cal.data.windows)


@_PROPS
@given(start=instants, length=lengths)
def test_add_then_between_gives_the_length(cn, start, length):
    end = cn.add_business(start, length)
    assert cn.business_between(start, end) == length
    assert end >= start


@_PROPS
@given(start=instants, a=lengths, b=lengths)
def test_add_is_monotonic(cn, start, a, b):
    small, large = sorted((a, b))
    assert cn.add_business(start, small) <= cn.add_business(start, large)


@_PROPS
@given(start=instants, length=lengths)
def test_result_is_in_working_time_or_at_a_window_end(cn, start, length):
    assert _in_working_time_or_window_end(cn, cn.add_business(start, length))


@_PROPS
@given(start=instants, days=st.integers(min_value=1, max_value=40))
def test_working_days_result_is_in_working_time_and_span_whole_days(cn, start, days):
    deadline = cn.add(start, parse_duration(f"{days} working days"))
    assert _in_working_time_or_window_end(cn, deadline)
    assert cn.business_between(start, deadline) == timedelta(hours=8 * days)


@_PROPS
@given(points=st.lists(instants, min_size=3, max_size=3))
def test_business_between_is_additive(cn, points):
    a, b, c = sorted(points)
    assert cn.business_between(a, c) == cn.business_between(a, b) + cn.business_between(b, c)
    assert cn.business_between(c, a) == -cn.business_between(a, c)


@_PROPS
@given(start=instants, length=lengths)
def test_24x7_add_is_plain_addition(always, start, length):
    utc_start = start.astimezone(UTC)  # aware arithmetic in one zone is wall-clock: compare in UTC
    assert always.add_business(start, length) == utc_start + length
    assert always.business_between(start, utc_start + length) == length


# ---- calendar months -------------------------------------------------------------------------------------------------
BERLIN = ZoneInfo("Europe/Berlin")


def _wall_calendar(tz: ZoneInfo) -> BusinessCalendar:
    return calendar_from(CalendarSpec(timezone=str(tz)), str(tz))


@pytest.mark.parametrize(
    ("start", "months", "expected"),
    [
        (sh(2026, 1, 31, 10, 0), 1, sh(2026, 2, 28, 10, 0)),  # 31 Jan + 1 month = 28 Feb
        (sh(2028, 1, 31, 10, 0), 1, sh(2028, 2, 29, 10, 0)),  # leap year: 29 Feb
        (sh(2026, 3, 31, 23, 30), 1, sh(2026, 4, 30, 23, 30)),
        (sh(2026, 8, 31, 9, 0), 6, sh(2027, 2, 28, 9, 0)),  # across the year end, clamped
        (sh(2026, 3, 15, 9, 30), 6, sh(2026, 9, 15, 9, 30)),
        (sh(2026, 12, 31, 0, 0), 13, sh(2028, 1, 31, 0, 0)),
        (sh(2026, 5, 20, 14, 0), 12, sh(2027, 5, 20, 14, 0)),
        (sh(2026, 5, 20, 14, 0), 0, sh(2026, 5, 20, 14, 0)),
    ],
)
def test_add_months_keeps_the_local_date_and_time(cn, start, months, expected):
    assert cn.add_months(start, months) == expected
    assert cn.add(start, parse_duration(f"{months} months")) == expected


def test_add_months_in_shanghai_keeps_the_utc_time_too(cn):
    # No daylight saving time in Shanghai: the same local time is the same UTC time of day.
    start = datetime(2026, 1, 15, 1, 30, tzinfo=UTC)  # 09:30 in Shanghai
    moved = cn.add_months(start, 6)
    assert moved == datetime(2026, 7, 15, 1, 30, tzinfo=UTC)
    assert moved.tzinfo is UTC
    assert moved.astimezone(SH).time() == time(9, 30)


def test_add_months_uses_the_calendar_zone_not_the_callers(cn):
    # 31 Jan 20:00 UTC is already 1 Feb 04:00 in Shanghai: one month later is 1 Mar 04:00 there.
    assert cn.add_months(datetime(2026, 1, 31, 20, tzinfo=UTC), 1) == sh(2026, 3, 1, 4, 0)


def test_add_months_across_daylight_saving_time_keeps_local_time():
    berlin = _wall_calendar(BERLIN)
    winter = datetime(2026, 1, 15, 12, tzinfo=BERLIN)  # CET, 11:00Z
    summer = berlin.add_months(winter, 6)
    assert summer == datetime(2026, 7, 15, 10, tzinfo=UTC)  # 12:00 CEST
    assert summer.astimezone(BERLIN).time() == time(12)


def test_add_months_ignores_working_time(cn):
    # Calendar months are wall-clock: 20:00 on a working Monday lands on 20:00 of National Day, a holiday.
    assert cn.add_months(sh(2025, 9, 1, 20, 0), 1) == sh(2025, 10, 1, 20, 0)


def test_add_months_refuses_naive_instants(cn):
    with pytest.raises(CalendarError, match="no time zone"):
        cn.add_months(datetime(2026, 1, 1), 1)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(start=instants, months=st.integers(min_value=0, max_value=36))
def test_add_months_lands_on_the_same_or_last_day_at_the_same_time(cn, start, months):
    local = start.astimezone(SH)
    moved = cn.add_months(start, months).astimezone(SH)
    assert (moved.year * 12 + moved.month) - (local.year * 12 + local.month) == months
    assert moved.time() == local.time()
    if moved.day != local.day:
        assert moved.day < local.day
        assert (moved + timedelta(days=1)).month != moved.month  # clamped to the month's last day


# ---- the calendar as data: what a clock carries -------------------------------------------------------------------
CN_2027 = {  # the State Council's 2027 schedule as an operator would publish it (dates are this test's own)
    "holidays": ["2027-01-01", "2027-02-05", "2027-02-08", "2027-02-09", "2027-02-10", "2027-02-11"],
    "workdays": ["2027-02-06", "2027-02-20"],
}


def _policy_with_2027() -> CalendarSpec:
    raw = load_policy().model_dump(mode="json")
    raw["calendars"]["cn-standard"]["years"] = {"2027": CN_2027}
    return parse_policy(raw).calendars["cn-standard"]


def test_resolved_data_carries_only_days_that_change_the_weekly_answer():
    data = resolve("cn-standard", load_policy().calendars["cn-standard"], range(2025, 2026))
    year = data.years[2025]
    assert year.source == "package"
    assert date(2025, 10, 1) in year.holidays  # Wednesday, National Day
    assert date(2025, 10, 4) not in year.holidays  # a Saturday holiday changes nothing
    assert date(2025, 9, 28) in year.workdays  # make-up Sunday
    assert data.offsets == ((datetime(2025, 1, 1, tzinfo=UTC), 8 * 3600),)
    assert data.windows == ((9 * 3600, 12 * 3600), (13 * 3600, 18 * 3600))
    # the data alone answers as the package did, with nothing looked up later
    again = BusinessCalendar(CalendarData.model_validate_json(data.model_dump_json()))
    assert again.working_days(date(2025, 9, 26), date(2025, 10, 12)) == [
        date(2025, 9, 26), date(2025, 9, 28), date(2025, 9, 29), date(2025, 9, 30), date(2025, 10, 9),
        date(2025, 10, 10), date(2025, 10, 11)]


def test_a_year_published_in_the_policy_wins_over_the_package_and_is_not_provisional():
    spec = _policy_with_2027()
    data = resolve_at("cn-standard", spec, sh(2026, 12, 28, 10))
    assert data.years[2027].source == "policy" and data.years[2026].source == "package"
    cal = compiled(data)
    assert not cal.is_provisional(date(2027, 2, 8))
    assert not cal.is_working_day(date(2027, 2, 8))  # a Monday off
    assert cal.is_working_day(date(2027, 2, 6))  # a Saturday worked
    # 2028 is known to nobody: provisional
    assert cal.is_provisional(date(2028, 1, 3))


def test_policy_years_are_checked_where_the_file_is_read():
    raw = load_policy().model_dump(mode="json")
    raw["calendars"]["cn-standard"]["years"] = {"2027": {"holidays": ["2028-01-01"]}}
    with pytest.raises(PolicyError, match=r"calendars\.cn-standard\.years.*2028-01-01.*not in 2027"):
        parse_policy(raw)
    raw["calendars"]["cn-standard"]["years"] = {"2027": {"holidays": ["2027-02-06"], "workdays": ["2027-02-06"]}}
    with pytest.raises(PolicyError, match="both holidays and workdays"):
        parse_policy(raw)
    raw["calendars"]["cn-standard"]["years"] = {}
    raw["calendars"]["cn-standard"]["holidays"] = "XX"
    with pytest.raises(PolicyError, match="unknown holiday country 'XX'"):
        parse_policy(raw)


def test_an_update_merges_new_years_and_keeps_the_ones_a_clock_started_in():
    old = resolve("cn-standard", load_policy().calendars["cn-standard"], range(2025, 2028))
    new = resolve("cn-standard", _policy_with_2027(), range(2026, 2029))
    merged = CalendarUpdate.of(new).apply(old)
    assert sorted(merged.years) == [2025, 2026, 2027]  # 2025 kept, 2027 added; 2028 is known to nobody
    assert merged.years[2027].source == "policy"
    assert CalendarUpdate.of(new).apply(merged) == merged  # the same update twice changes nothing
    assert merged.offsets == old.offsets and merged.windows == old.windows  # zone and hours stay as started


def test_the_horizon_says_how_far_a_calendar_is_known_and_from_where():
    today = date(2026, 12, 4)
    last = last_published_cn_year()
    until, source = official_horizon(load_policy().calendars["cn-standard"], today)
    assert until == date(last, 12, 31) and source.startswith("holidays package")
    if last == 2026:
        until, source = official_horizon(_policy_with_2027(), today)
        assert until == date(2027, 12, 31) and source == "policy"
    assert official_horizon(load_policy().calendars["24x7"], today) == (None, "weekly pattern")


@settings(max_examples=300, deadline=None)
@given(instant=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2036, 12, 31)),
       zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Asia/Shanghai"]))
def test_carried_offsets_agree_with_tzdata(instant, zone):
    """The zone travels as UTC offsets: converting with them matches zoneinfo in both directions (for a local time
    that occurs twice, the earlier instant, as zoneinfo's fold=0)."""
    cal = _zone_calendar(zone)
    tz = ZoneInfo(zone)
    utc = instant.replace(tzinfo=UTC)
    assert cal.local(utc) == utc.astimezone(tz).replace(tzinfo=None)
    local = instant.replace(fold=0)
    assert cal.to_utc(local) == local.replace(tzinfo=tz).astimezone(UTC)


@functools.lru_cache
def _zone_calendar(zone: str) -> BusinessCalendar:
    return BusinessCalendar(resolve("z", CalendarSpec(timezone=zone), range(2025, 2026)))
