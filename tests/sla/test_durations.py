"""Policy durations: the accepted forms and the errors for everything else."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sla.durations import Duration, DurationError, DurationKind, parse_duration


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 working hours", Duration.working_hours(2)),
        ("1 working hour", Duration.working_hours(1)),
        ("24 working hours", Duration.working_hours(24)),
        ("0.5 working hours", Duration.working_hours(0.5)),
        ("30 working minutes", Duration.working_hours(0.5)),
        ("0 working hours", Duration.working_hours(0)),
        ("2 business hours", Duration.working_hours(2)),
        ("  2  Working  Hours ", Duration.working_hours(2)),
        ("5 working days", Duration.working_days(5)),
        ("1 working day", Duration.working_days(1)),
        ("PT30S", Duration.wall(timedelta(seconds=30))),
        ("PT2M", Duration.wall(timedelta(minutes=2))),
        ("PT1H30M", Duration.wall(timedelta(hours=1, minutes=30))),
        ("P1DT2H", Duration.wall(timedelta(days=1, hours=2))),
        ("pt0s", Duration.wall(timedelta(0))),
        ("48h", Duration.wall(timedelta(hours=48))),
        ("30s", Duration.wall(timedelta(seconds=30))),
        ("250ms", Duration.wall(timedelta(milliseconds=250))),
        ("15 min", Duration.wall(timedelta(minutes=15))),
        ("14 days", Duration.wall(timedelta(days=14))),
        ("1 day", Duration.wall(timedelta(days=1))),
        ("2w", Duration.wall(timedelta(weeks=2))),
        ("3 hours", Duration.wall(timedelta(hours=3))),
    ],
)
def test_accepted_forms(text, expected):
    assert parse_duration(text) == expected


def test_kinds():
    assert parse_duration("2 working hours").kind is DurationKind.WORKING_HOURS
    assert parse_duration("5 working days").kind is DurationKind.WORKING_DAYS
    assert parse_duration("5 working days").days == 5
    assert parse_duration("PT30S").kind is DurationKind.WALL
    assert parse_duration("48h").kind is DurationKind.WALL
    # plain "days" are calendar days, not working days
    assert parse_duration("14 days").kind is DurationKind.WALL


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("2 working hours", "2 working hours"),
        ("1 working hour", "1 working hour"),
        ("1.5 working hours", "1.5 working hours"),
        ("5 working days", "5 working days"),
        ("1 working day", "1 working day"),
        ("PT30S", "PT30S"),
        ("48h", "P2D"),
        ("PT1H30M", "PT1H30M"),
        ("PT0S", "PT0S"),
    ],
)
def test_str_is_readable_and_parses_back(text, shown):
    duration = parse_duration(text)
    assert str(duration) == shown
    assert parse_duration(str(duration)) == duration


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "soon",
        "2",
        "working hours",
        "2 working weeks",
        "2 hours working",
        "1.5 working days",  # working days must be whole
        "-5h",
        "5.5 months",  # calendar months are whole ("5 months" is accepted since months durations exist)
        "P",
        "PT",
        "PT-5S",
        "5 mins",
        "two working hours",
        "99999999999 days",  # does not fit a timedelta: still a DurationError, not OverflowError
        "99999999999999 working hours",
    ],
)
def test_malformed_durations_raise_duration_error_with_message(text):
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    message = str(info.value)
    assert message
    assert repr(text) in message


def test_unreadable_duration_message_lists_accepted_forms():
    with pytest.raises(DurationError, match="working hours.*working days.*PT30S.*48h"):
        parse_duration("in a while")


def test_fractional_working_days_message_says_whole_number():
    with pytest.raises(DurationError, match="whole number"):
        parse_duration("1.5 working days")


@pytest.mark.parametrize("value", [None, 5, 2.0])
def test_non_string_is_a_duration_error(value):
    with pytest.raises(DurationError):
        parse_duration(value)


def test_duration_error_is_a_value_error():
    # pydantic reports ValueErrors under the offending key; the policy file relies on it
    assert issubclass(DurationError, ValueError)


# ---- calendar months (improvement-plan clocks: progress every 6 months, rectification within N months) ---------------
@pytest.mark.parametrize(
    ("text", "months"),
    [("6 months", 6), ("1 month", 1), ("3 Months", 3), (" 12  months ", 12), ("2 calendar months", 2),
     ("0 months", 0)],
)
def test_months_parse(text, months):
    duration = parse_duration(text)
    assert duration == Duration.calendar_months(months)
    assert duration.kind is DurationKind.MONTHS
    assert duration.months == months
    assert duration.length == timedelta(0) and duration.days == 0


@pytest.mark.parametrize(("text", "shown"), [("6 months", "6 months"), ("1 month", "1 month"),
                                              ("2 calendar months", "2 months")])
def test_months_str_parses_back(text, shown):
    duration = parse_duration(text)
    assert str(duration) == shown
    assert parse_duration(str(duration)) == duration


@pytest.mark.parametrize("text", ["5.5 months", "-1 months", "six months", "P6M", "6 mo", "months"])
def test_malformed_months_are_refused(text):
    with pytest.raises(DurationError) as info:
        parse_duration(text)
    assert repr(text) in str(info.value)


def test_months_do_not_shadow_minutes():
    assert parse_duration("6m") == Duration.wall(timedelta(minutes=6))
    assert parse_duration("6 min") == Duration.wall(timedelta(minutes=6))


def test_unreadable_duration_message_mentions_months():
    with pytest.raises(DurationError, match="6 months"):
        parse_duration("in a while")
