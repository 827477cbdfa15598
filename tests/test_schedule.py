"""Listing-window schedules: open or closed at a moment, always judged in GMT+8.

The machine running these tests is on UTC (and one test moves it elsewhere): a weekday or a
midnight taken from the machine's clock instead of GMT+8 would fail here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.kinds.schedule import (
    DailySpan,
    Schedule,
    ScheduleError,
    is_open,
    next_change,
    parse_span,
    schedule_from_spec,
    show,
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def weekly(days: list[str], *hours: str) -> Schedule:
    return schedule_from_spec({"weekly": [{"weekdays": days, "hours": list(hours)}]})


# ---- spans ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "span"),
    [
        ("10:00-22:00", DailySpan(600, 1320)),
        ("00:00-24:00", DailySpan(0, 1440)),
        ("22:00-02:00", DailySpan(1320, 1560)),  # runs past midnight
        ("23:30-00:00", DailySpan(1410, 1440)),  # ends exactly at midnight
        (" 09:05 - 09:06 ", DailySpan(545, 546)),
    ],
)
def test_spans_are_minutes_after_midnight(text: str, span: DailySpan) -> None:
    assert parse_span(text) == span


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("10:00-10:00", "empty"),
        ("24:00-02:00", "starts at 24:00"),
        ("10:00-24:30", "not a clock time"),
        ("9:00-10:00", "HH:MM-HH:MM"),
        ("10:00", "HH:MM-HH:MM"),
        ("10:60-11:00", "HH:MM-HH:MM"),
        ("25:00-26:00", "HH:MM-HH:MM"),
    ],
)
def test_bad_spans_say_what_is_allowed(text: str, says: str) -> None:
    with pytest.raises(ScheduleError, match=says):
        parse_span(text)


def test_spans_print_as_written() -> None:
    assert [str(parse_span(t)) for t in ("10:00-22:00", "22:00-02:00", "00:00-24:00")] == [
        "10:00-22:00", "22:00-02:00", "00:00-24:00"
    ]


# ---- weekdays and midnights in GMT+8 -------------------------------------------------------------


def test_weekday_is_taken_in_gmt8_not_utc() -> None:
    weekend = weekly(["sat", "sun"], "00:00-24:00")
    # 2026-11-20 16:00 UTC is Saturday 00:00 in GMT+8 (still Friday in UTC).
    assert is_open(weekend, at("2026-11-20T16:00:00+00:00"))
    assert not is_open(weekend, at("2026-11-20T15:59:59+00:00"))
    # Sunday 23:59:59 GMT+8 open; Monday 00:00 GMT+8 closed (Sunday 16:00 in UTC).
    assert is_open(weekend, at("2026-11-22T23:59:59+08:00"))
    assert not is_open(weekend, at("2026-11-22T16:00:00+00:00"))


def test_hours_start_inclusive_end_exclusive() -> None:
    evenings = weekly(["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "18:00-22:00")
    assert not is_open(evenings, at("2026-11-23T17:59:59+08:00"))
    assert is_open(evenings, at("2026-11-23T18:00:00+08:00"))
    assert is_open(evenings, at("2026-11-23T21:59:59.999999+08:00"))
    assert not is_open(evenings, at("2026-11-23T22:00:00+08:00"))


def test_span_past_midnight_belongs_to_the_day_it_starts() -> None:
    friday_night = weekly(["fri"], "22:00-02:00")
    assert is_open(friday_night, at("2026-11-20T22:00:00+08:00"))  # Friday
    assert is_open(friday_night, at("2026-11-21T01:59:00+08:00"))  # Saturday morning, Friday's tail
    assert not is_open(friday_night, at("2026-11-21T02:00:00+08:00"))
    assert not is_open(friday_night, at("2026-11-21T22:30:00+08:00"))  # Saturday night is not Friday
    assert not is_open(friday_night, at("2026-11-20T01:00:00+08:00"))  # Thursday's tail: none


def test_sunday_span_past_midnight_runs_into_monday() -> None:
    sunday_night = weekly(["sun"], "23:00-01:00")
    assert is_open(sunday_night, at("2026-11-23T00:30:00+08:00"))  # Monday 00:30
    assert not is_open(sunday_night, at("2026-11-24T00:30:00+08:00"))  # Tuesday 00:30


def test_several_rules_and_spans_are_any_of() -> None:
    schedule = schedule_from_spec(
        {
            "weekly": [
                {"weekdays": ["sat", "sun"], "hours": ["10:00-22:00"]},
                {"weekdays": ["mon", "tue", "wed", "thu", "fri"], "hours": ["07:00-09:00", "18:00-23:00"]},
            ]
        }
    )
    assert is_open(schedule, at("2026-11-23T08:00:00+08:00"))  # Monday morning
    assert not is_open(schedule, at("2026-11-23T12:00:00+08:00"))  # Monday noon
    assert is_open(schedule, at("2026-11-22T12:00:00+08:00"))  # Sunday noon
    assert not is_open(schedule, at("2026-11-22T08:00:00+08:00"))  # Sunday 8:00


# ---- date ranges -----------------------------------------------------------------------------------


def test_date_ranges_carry_their_own_offsets() -> None:
    double11 = schedule_from_spec({"dates": [["2026-11-11T00:00:00+08:00", "2026-11-12T00:00:00+08:00"]]})
    assert is_open(double11, at("2026-11-10T16:00:00Z"))  # = 11-11 00:00 GMT+8
    assert not is_open(double11, at("2026-11-10T15:59:59Z"))
    assert is_open(double11, at("2026-11-11T23:59:59+08:00"))
    assert not is_open(double11, at("2026-11-12T00:00:00+08:00"))  # the end is exclusive


def test_dates_and_weekly_must_both_hold() -> None:
    schedule = schedule_from_spec(
        {
            "dates": [["2026-11-01T00:00:00+08:00", "2026-11-15T00:00:00+08:00"]],
            "weekly": [{"weekdays": ["sat", "sun"], "hours": ["10:00-22:00"]}],
        }
    )
    assert is_open(schedule, at("2026-11-14T12:00:00+08:00"))  # Saturday inside the dates
    assert not is_open(schedule, at("2026-11-13T12:00:00+08:00"))  # Friday
    assert not is_open(schedule, at("2026-11-21T12:00:00+08:00"))  # Saturday after the dates


def test_empty_schedule_is_always_open() -> None:
    assert is_open(Schedule(), at("2030-01-01T00:00:00+08:00"))
    assert next_change(Schedule(), at("2030-01-01T00:00:00+08:00")) is None


def test_reversed_date_range_is_refused() -> None:
    with pytest.raises(ScheduleError, match="must be after start"):
        schedule_from_spec({"dates": [["2026-11-12T00:00:00+08:00", "2026-11-11T00:00:00+08:00"]]})


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(Schedule(), datetime(2026, 11, 11))


@pytest.fixture
def machine_in_los_angeles(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The machine's own zone must not matter at all."""
    monkeypatch.setenv("TZ", "America/Los_Angeles")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_the_machine_zone_does_not_matter(machine_in_los_angeles: None) -> None:
    weekend = weekly(["sat"], "00:00-01:00")
    assert is_open(weekend, at("2026-11-20T16:30:00+00:00"))
    assert show(at("2026-11-20T16:30:00+00:00")) == "2026-11-21 00:30 GMT+8"


# ---- next change -----------------------------------------------------------------------------------


def test_next_change_finds_the_closing_and_the_next_opening() -> None:
    weekend = weekly(["sat", "sun"], "10:00-22:00")
    assert next_change(weekend, at("2026-11-21T12:00:00+08:00")) == at("2026-11-21T22:00:00+08:00")
    # Closed on Monday: next opening is Saturday 10:00.
    assert next_change(weekend, at("2026-11-23T12:00:00+08:00")) == at("2026-11-28T10:00:00+08:00")
    # Saturday 22:00 closes, Sunday 10:00 opens again: adjacent days are not merged.
    assert next_change(weekend, at("2026-11-21T23:00:00+08:00")) == at("2026-11-22T10:00:00+08:00")


def test_next_change_across_a_far_date_range() -> None:
    schedule = schedule_from_spec(
        {
            "dates": [["2027-11-01T00:00:00+08:00", "2027-11-12T00:00:00+08:00"]],
            "weekly": [{"weekdays": ["sat"], "hours": ["10:00-12:00"]}],
        }
    )
    # 2027-11-01 is a Monday: the first open moment is Saturday 2027-11-06 10:00.
    assert next_change(schedule, at("2026-11-23T12:00:00+08:00")) == at("2027-11-06T10:00:00+08:00")
    assert next_change(schedule, at("2027-11-12T00:00:00+08:00")) is None  # never again


def test_adjacent_spans_do_not_count_as_a_change() -> None:
    schedule = weekly(["mon"], "10:00-12:00", "12:00-14:00")
    assert next_change(schedule, at("2026-11-23T11:00:00+08:00")) == at("2026-11-23T14:00:00+08:00")


_DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_clock = st.tuples(st.integers(0, 23), st.sampled_from([0, 15, 30, 45])).map(lambda hm: f"{hm[0]:02d}:{hm[1]:02d}")


@settings(max_examples=60, deadline=None)
@given(
    days=st.lists(st.sampled_from(_DAYS), min_size=1, max_size=7, unique=True),
    start=_clock,
    end=_clock,
    minutes=st.integers(0, 14 * 24 * 60),
)
def test_nothing_flips_before_next_change(days: list[str], start: str, end: str, minutes: int) -> None:
    if start == end:
        return
    schedule = weekly(days, f"{start}-{end}")
    moment = at("2026-11-23T00:00:00+08:00") + timedelta(minutes=minutes)
    flip = next_change(schedule, moment)
    assert flip is not None  # a weekly schedule that is not always open flips within a week
    assert flip - moment <= timedelta(days=7)
    assert is_open(schedule, flip) != is_open(schedule, moment)
    probe = moment + timedelta(minutes=15)
    while probe < flip:  # every quarter hour before the flip agrees with now
        assert is_open(schedule, probe) == is_open(schedule, moment)
        probe += timedelta(minutes=15)
