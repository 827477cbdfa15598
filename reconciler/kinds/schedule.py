"""When a listing window is open: pure functions of a schedule and a moment, always in GMT+8.

A schedule has two optional parts, and a moment is inside it when it satisfies both:

- date ranges (start inclusive, end exclusive, each with its own UTC offset); none = any date;
- weekly rules: on these weekdays, during these hours of the day in GMT+8 (TOP's zone, whatever
  the machine's zone is); none = every hour of every day.

Hours are 'HH:MM-HH:MM'. '24:00' may end a span. A span whose end is not after its start runs
past midnight and belongs to the weekday it starts on: fri '22:00-02:00' is Friday 22:00 to
Saturday 02:00. A span of zero length is refused.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from reconciler.i18n import N_, _
from reconciler.kinds.units import GMT8, UnitError, parse_iso

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index + 1 = ISO weekday
MINUTES_PER_DAY = 24 * 60
_CLOCK = re.compile(r"([01][0-9]|2[0-4]):([0-5][0-9])")
_DAY = timedelta(days=1)


class ScheduleError(UnitError):
    """A schedule that cannot be read; the message says what is allowed."""


@dataclass(frozen=True)
class DailySpan:
    start: int  # minutes after midnight, GMT+8
    end: int  # minutes after the same midnight; above 1440 when the span runs past midnight

    def __str__(self) -> str:
        end = self.end - MINUTES_PER_DAY if self.end > MINUTES_PER_DAY else self.end
        return f"{_clock(self.start)}-{_clock(end)}"


@dataclass(frozen=True)
class WeeklyRule:
    weekdays: frozenset[int]  # ISO weekdays, 1 = Monday
    spans: tuple[DailySpan, ...]

    def __str__(self) -> str:
        days = ",".join(WEEKDAYS[d - 1] for d in sorted(self.weekdays))
        return f"{days} {' '.join(str(s) for s in self.spans)}"


@dataclass(frozen=True)
class DateRange:
    start: datetime
    end: datetime

    def __str__(self) -> str:
        return f"{show(self.start)} → {show(self.end)}"


@dataclass(frozen=True)
class Schedule:
    dates: tuple[DateRange, ...] = ()  # empty: no date restriction
    weekly: tuple[WeeklyRule, ...] = ()  # empty: every hour of every day

    def __str__(self) -> str:
        parts = []
        if self.dates:
            parts.append("dates " + "; ".join(str(r) for r in self.dates))
        if self.weekly:
            parts.append("weekly " + "; ".join(str(r) for r in self.weekly) + " (GMT+8)")
        return ", ".join(parts) or "always"


# ---- in words (plan reasons): the English is str(schedule), other languages their own ----------

# Translators: weekday names in a listing window's weekly rule, "sat,sun 10:00-22:00".
_WEEKDAY_WORDS = (N_("mon"), N_("tue"), N_("wed"), N_("thu"), N_("fri"), N_("sat"), N_("sun"))


def describe(schedule: Schedule) -> str:
    """'dates 2027-11-01 00:00 GMT+8 → 2027-12-01 00:00 GMT+8, weekly sat,sun 10:00-22:00 (GMT+8)'."""
    # Translators: separates a window's date ranges, and its weekly rules, from each other.
    separator = _("; ")
    dates = separator.join(str(r) for r in schedule.dates)
    weekly = separator.join(
        _("{days} {spans}").format(days=_(",").join(_(_WEEKDAY_WORDS[d - 1]) for d in sorted(rule.weekdays)),
                                   spans=" ".join(str(s) for s in rule.spans))
        for rule in schedule.weekly
    )
    if dates and weekly:
        return _("dates {dates}, weekly {weekly} (GMT+8)").format(dates=dates, weekly=weekly)
    if dates:
        return _("dates {dates}").format(dates=dates)
    if weekly:
        return _("weekly {weekly} (GMT+8)").format(weekly=weekly)
    return _("always")


# ---- parsing ---------------------------------------------------------------------------------


def parse_span(text: str) -> DailySpan:
    """'10:00-22:00' → DailySpan(600, 1320); '22:00-02:00' → DailySpan(1320, 1560)."""
    parts = text.split("-") if isinstance(text, str) else []
    if len(parts) != 2 or not all(_CLOCK.fullmatch(p.strip()) for p in parts):
        raise ScheduleError(_("{text!r} is not a span of hours like '10:00-22:00' (HH:MM-HH:MM, GMT+8)").format(text=text))
    start, end = (_minutes(p.strip()) for p in parts)
    if start >= MINUTES_PER_DAY:
        raise ScheduleError(_("{text!r} starts at 24:00; start it at 00:00 instead").format(text=text))
    if end > MINUTES_PER_DAY:
        raise ScheduleError(_("{text!r}: no clock time is after 24:00").format(text=text))
    if end == start:
        raise ScheduleError(_("{text!r} is empty: it ends when it starts").format(text=text))
    if end < start:
        end += MINUTES_PER_DAY  # runs past midnight into the next day
    return DailySpan(start, end)


def _minutes(clock: str) -> int:
    hours, minutes = (int(x) for x in clock.split(":"))
    if hours == 24 and minutes:
        raise ScheduleError(_("'{clock}' is not a clock time; the day ends at 24:00").format(clock=clock))
    return hours * 60 + minutes


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def parse_weekday(name: str) -> int:
    try:
        return WEEKDAYS.index(name) + 1
    except ValueError:
        raise ScheduleError(_("{name!r} is not a weekday; use {weekdays}").format(
            name=name, weekdays=", ".join(WEEKDAYS))) from None


def parse_date_range(start: str, end: str) -> DateRange:
    moment_start, moment_end = parse_iso(start), parse_iso(end)
    if moment_end <= moment_start:
        raise ScheduleError(_("end {end} must be after start {start}").format(end=end, start=start))
    return DateRange(moment_start, moment_end)


def schedule_from_spec(spec: Mapping[str, Any]) -> Schedule:
    """The normalised manifest form ({dates: [[start, end]], weekly: [{weekdays, hours}]}) → Schedule."""
    dates = tuple(parse_date_range(start, end) for start, end in spec.get("dates") or ())
    weekly = tuple(
        WeeklyRule(frozenset(parse_weekday(d) for d in rule["weekdays"]), tuple(parse_span(h) for h in rule["hours"]))
        for rule in spec.get("weekly") or ()
    )
    return Schedule(dates, weekly)


# ---- evaluation -----------------------------------------------------------------------------


def is_open(schedule: Schedule, moment: datetime) -> bool:
    """Whether `moment` (aware) is inside the schedule."""
    if moment.tzinfo is None:
        raise ValueError("is_open needs an aware datetime: a naive one has no place in GMT+8")
    in_dates = not schedule.dates or any(r.start <= moment < r.end for r in schedule.dates)
    return in_dates and _in_weekly(schedule.weekly, moment)


def _in_weekly(rules: Sequence[WeeklyRule], moment: datetime) -> bool:
    if not rules:
        return True
    local = moment.astimezone(GMT8)
    since_midnight = local - local.replace(hour=0, minute=0, second=0, microsecond=0)
    today = local.isoweekday()
    yesterday = 7 if today == 1 else today - 1
    for rule in rules:
        for span in rule.spans:
            start, end = timedelta(minutes=span.start), timedelta(minutes=span.end)
            if today in rule.weekdays and start <= since_midnight < end:
                return True
            # The tail of yesterday's span that runs past midnight.
            if yesterday in rule.weekdays and since_midnight + _DAY < end:
                return True
    return False


def next_change(schedule: Schedule, moment: datetime) -> datetime | None:
    """The first moment after `moment` at which is_open flips, or None if it never does."""
    now_open = is_open(schedule, moment)
    for candidate in sorted(c for c in _boundaries(schedule, moment) if c > moment):
        if is_open(schedule, candidate) != now_open:
            return candidate
    return None


def _boundaries(schedule: Schedule, moment: datetime) -> Iterable[datetime]:
    """Every moment at which is_open may flip that matters for next_change: openness is constant
    between date-range boundaries and span boundaries, and weekly spans repeat every 7 days, so
    span boundaries of the 9 days around now and around each date-range start are enough."""
    anchors = [moment]
    for date_range in schedule.dates:
        yield date_range.start
        yield date_range.end
        anchors.append(date_range.start)
    for anchor in anchors:
        first = anchor.astimezone(GMT8).date() - _DAY
        for offset in range(9):
            day = first + offset * _DAY
            for rule in schedule.weekly:
                for span in rule.spans:
                    yield _at(day, span.start)
                    yield _at(day, span.end)


def _at(day: date, minutes: int) -> datetime:
    return datetime.combine(day, time(), GMT8) + timedelta(minutes=minutes)


def show(moment: datetime) -> str:
    """'2026-11-11 00:00 GMT+8': how plans print moments (the zone the seller thinks in)."""
    return moment.astimezone(GMT8).strftime("%Y-%m-%d %H:%M") + " GMT+8"
