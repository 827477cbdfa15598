"""Checks and conversions every kind's normalise uses.

Each reports a value it cannot take as a problem at the value's manifest path and goes on, so the
user sees all of a document's problems at once. The wire unit stays each kind's choice (epoch ms
or TOP datetime text, fen or yuan): these helpers parse and check, the kind converts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, TypeVar

from reconciler.i18n import _
from reconciler.kinds.base import Phase, ProblemCollector
from reconciler.kinds.units import UnitError, parse_iso, rate_to_permille, yuan_to_fen

T = TypeVar("T")


def converted(convert: Callable[[Any], T], value: Any, path: tuple[Any, ...], problems: ProblemCollector, default: T) -> T:
    """convert(value); `default` after reporting its UnitError at `path`."""
    try:
        return convert(value)
    except UnitError as exc:
        problems.add(path, str(exc))
        return default


def fen(value: Any, path: tuple[Any, ...], problems: ProblemCollector, *, positive: bool = False) -> int:
    """A yuan amount as fen (100 = 1 yuan); 0 when it cannot be read. With `positive`, 0.00 is refused."""
    try:
        amount = yuan_to_fen(value)
    except UnitError as exc:
        problems.add(path, str(exc))
        return 0
    if positive and amount <= 0:
        problems.add(path, _("must be more than 0.00 yuan"))
    return amount


def permille(value: Any, path: tuple[Any, ...], problems: ProblemCollector) -> int:
    """A rate as permille: 0.8 (8折) → 800; 0 when it cannot be read."""
    return converted(rate_to_permille, value, path, problems, 0)


def window_bounds(
    window: Mapping[str, Any], field: str, problems: ProblemCollector
) -> tuple[datetime | None, datetime | None] | None:
    """A window's start and end (each None when not written). None when either is no ISO 8601 time
    with an offset (reported at spec.<field>); an end not after the start is reported at its end."""
    try:
        start = parse_iso(window["start"]) if "start" in window else None
        end = parse_iso(window["end"]) if "end" in window else None
    except UnitError as exc:
        problems.add(("spec", field), str(exc))
        return None
    if start is not None and end is not None and end <= start:
        problems.add(("spec", field, "end"), end_after_start(window["end"], window["start"]))
    return start, end


def end_after_start(end: object, start: object) -> str:
    """The problem of a window whose end is not after its start, as every kind words it."""
    return _("end {end} must be after start {start}").format(end=end, start=start)


def activity_window(window: Mapping[str, str], problems: ProblemCollector) -> tuple[datetime, datetime] | None:
    """An activity's spec.window (start and end both required): its bounds, or None when they cannot
    be read. An end not after the start is a problem. A window already over is not: time moves while
    the manifest stays, so an ended activity is the plan's business (Kind.phase), not the file's."""
    bounds = window_bounds({"start": window["start"], "end": window["end"]}, "window", problems)
    if bounds is None:
        return None
    start, end = bounds
    assert start is not None and end is not None
    return start, end


def phase_at(start: datetime | None, end: datetime | None, now: datetime) -> Phase:
    """Where a window [start, end) is at `now`: an object is live from its start (or from when it is
    made, without one) until its end (for ever, without one)."""
    if end is not None and end <= now:
        return Phase.ENDED
    if start is not None and now < start:
        return Phase.NOT_STARTED
    return Phase.LIVE


def which_side_moved(manifest_changed: bool, top_changed: bool) -> str:
    """Why an object needs a change, told true (issue 17): the manifest, TOP, or both moved since
    the last apply. Neither (nothing applied to compare with) counts as the manifest."""
    if manifest_changed and top_changed:
        return _("the manifest changed and TOP differs from what was applied (changed outside the reconciler)")
    if top_changed:
        return _("TOP differs from what was applied (changed outside the reconciler)")
    return _("the manifest changed")
