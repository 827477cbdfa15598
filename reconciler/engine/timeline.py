"""When each declared promotion and listing window runs, as bars on a time line (GMT+8): the
campaign calendar's page (engine/calendar.py) and the pull-request comment's Mermaid `gantt` block
of the changed promotions, before → after. Pure functions from resources to values and text.

Where the times come from — never re-derived here:
- a promotion's window and weekly period: its kind's price rules (`Kind.price_rules`, the same
  windows the price guardrails use), its terms in the seller's words (元, 折) from the rules'
  labels (kinds/price_terms.py: "8.5折", "满199.00元减20.00元，上不封顶", a pool's stairs);
- a listing window's dates: its normalised `schedule.dates` (ISO 8601, GMT+8 offsets), its weekly
  hours said in words; without dates it is always on sale (an open bar);
- kinds without a window (CouponGrant, PriceFloor) are no bar.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from reconciler.engine.codec import resource_from_data
from reconciler.i18n import N_, _, ngettext
from reconciler.kinds import KINDS
from reconciler.kinds.price_terms import stair_text
from reconciler.kinds.units import parse_iso
from reconciler.model import Action, Change, Resource, ResourceKey
from reconciler.pricing.rules import PoolActivity, Promotion, promotions

GMT8 = timezone(timedelta(hours=8))
LISTING = "ListingWindow"
GANTT_BARS = 40  # bars in one pull-request comment's chart; a shop-wide edit changes thousands
# Translators: weekday names on the timeline, "Sat,Sun 10:00-22:00"; index = ISO weekday.
WEEKDAYS = ("", N_("Mon"), N_("Tue"), N_("Wed"), N_("Thu"), N_("Fri"), N_("Sat"), N_("Sun"))
_DAY_NUMBERS = {"mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6, "sun": 7}  # the manifest's weekdays


@dataclass(frozen=True)
class Bar:
    """One stretch of time a resource runs in: [start, end), None open on that side."""

    key: ResourceKey
    start: datetime | None
    end: datetime | None
    terms: str  # what it does, in the seller's words (元, 折)
    period: str = ""  # weekly hours within the window, in words ("" = all the time)

    @property
    def kind(self) -> str:
        return self.key.kind


def bars_of(resources: Iterable[Resource]) -> list[Bar]:
    """Every bar of `resources`, ordered by shop, then start (open starts first), end, kind, name."""
    bars = [bar for resource in resources for bar in _bars(resource)]
    return sorted(bars, key=_order)


def _order(bar: Bar) -> tuple[str, datetime, datetime, str, str]:
    earliest, latest = datetime.min.replace(tzinfo=GMT8), datetime.max.replace(tzinfo=GMT8)
    return bar.key.shop, bar.start or earliest, bar.end or latest, bar.kind, bar.key.name


def _bars(resource: Resource) -> list[Bar]:
    if resource.key.kind == LISTING:
        return _listing_bars(resource)
    try:
        rules = promotions(KINDS[resource.key.kind].price_rules(resource))
    except (KeyError, TypeError, ValueError):  # a kind that does not price, or a record of another shape
        return []
    bars = []
    for rule in rules:
        window = rule.when.window
        bar = Bar(resource.key, window.start, window.end, terms_of(rule), _period_text(rule))
        if bar not in bars:
            bars.append(bar)
    return bars


def terms_of(rule: Promotion) -> str:
    """The rule's label (kinds' words: 8.5折, 满199.00元减20.00元, 5.00元券，满49.00元可用) and, for an
    item-pool activity whose label is its name, its stairs."""
    if isinstance(rule, PoolActivity) and rule.stairs:
        stairs = "；".join(stair_text(stair.threshold, stair.reward, rule.repeat) for stair in rule.stairs)
        return f"{rule.label}：{stairs}"
    return rule.label


def _period_text(rule: Promotion) -> str:
    period = rule.when.period
    if period is None:
        return ""
    days = ",".join(_(WEEKDAYS[day]) for day in sorted(period.weekdays)) or _("every day")
    hours = ", ".join(f"{_clock(start)}-{_clock(end)}" for start, end in period.spans) or _("all day")
    return f"{days} {hours}"


def _clock(second: int) -> str:
    return f"{second // 3600:02d}:{second % 3600 // 60:02d}"


def _listing_bars(resource: Resource) -> list[Bar]:
    schedule: Mapping[str, Any] = resource.spec.get("schedule") or {}
    weekly = "; ".join(
        f"{','.join(_day(day) for day in row.get('weekdays', [])) or _('every day')} {', '.join(row.get('hours', []))}"
        for row in schedule.get("weekly", [])
    )
    what = _listing_terms(resource.spec)
    dates = schedule.get("dates") or []
    if not dates:
        return [Bar(resource.key, None, None, what, weekly)]
    return [Bar(resource.key, parse_iso(start), parse_iso(end), what, weekly) for start, end in dates]


def _day(day: object) -> str:
    """A manifest's weekday ("sat") as the timeline says it ("Sat", "周六")."""
    number = _DAY_NUMBERS.get(str(day).lower())
    return _(WEEKDAYS[number]) if number else str(day).capitalize()


def _listing_terms(spec: Mapping[str, Any]) -> str:
    parts = []
    if spec.get("seller_categories"):
        parts.append(_("on sale, seller categories {categories}").format(
            categories=", ".join(str(c) for c in spec["seller_categories"])))
    if spec.get("items"):
        count = len(spec["items"])
        parts.append(ngettext("on sale, {count} item(s)", "on sale, {count} item(s)", count).format(count=count))
    return "; ".join(parts) or _("on sale")


# ---- lanes: overlapping bars side by side -------------------------------------------------------


def lanes(spans: Sequence[tuple[float, float]]) -> list[int]:
    """A lane for each [start, end) span (in the order given, which must be by start): the first
    lane whose last span ended by this one's start, so spans that overlap never share a lane."""
    ends: list[float] = []
    result = []
    for start, end in spans:
        for lane, last in enumerate(ends):
            if last <= start:
                ends[lane] = end
                result.append(lane)
                break
        else:
            ends.append(end)
            result.append(len(ends) - 1)
    return result


# ---- the pull-request comment's Mermaid gantt ------------------------------------------------------


def applied_resources(specs: Mapping[ResourceKey, Mapping[str, Any]], keys: Iterable[ResourceKey]) -> dict[ResourceKey, Resource]:
    """The last applied resources (the state store's applied specs) of `keys`, decoded; a record
    of another shape is left out (its bar is then not drawn before)."""
    found = {}
    for key in keys:
        if key in specs:
            try:
                found[key] = resource_from_data(specs[key])
            except (KeyError, TypeError, ValueError):
                continue
    return found


def gantt_markdown(
    changes: Sequence[Change], desired: Iterable[Resource], applied: Mapping[ResourceKey, Resource], moment: datetime
) -> str:
    """The changed promotions and listing windows as Mermaid `gantt` charts (GitHub draws them),
    one per shop: each change's bars after the plan, and before it when its window moves (or it is
    deleted). Times GMT+8; an open side is drawn from/to the plan's moment ± a day. "" when no
    changed resource has a window."""
    wanted = {resource.key: resource for resource in desired}
    by_shop: dict[str, list[str]] = {}
    always: list[str] = []
    shown = 0
    total = 0
    for change in changes:
        before = _bars(applied[change.key]) if change.key in applied and change.action is not Action.CREATE else []
        after = _bars(wanted[change.key]) if change.key in wanted and change.action is not Action.DELETE else []
        if any(bar.start is None and bar.end is None for bar in before + after):
            always.append(f"{change.key.kind}/{change.key.name}")  # no time to draw: said in words
            before, after = _dated(before), _dated(after)
        if not before and not after:
            continue
        total += 1
        if shown >= GANTT_BARS:
            continue
        shown += 1
        lines = [f"    section {_task(f'{change.key.kind}/{change.key.name}')}"]
        if change.action is Action.DELETE:
            lines += [_gantt_task(_("deleted {terms}").format(terms=bar.terms), "crit", bar, moment) for bar in before]
        else:
            spans = {(bar.start, bar.end) for bar in after}
            lines += [_gantt_task(_("before {terms}").format(terms=bar.terms), "done", bar, moment)
                      for bar in before if (bar.start, bar.end) not in spans]
            lines += [_gantt_task(_("after {terms}").format(terms=bar.terms), "active", bar, moment) for bar in after]
        by_shop.setdefault(change.key.shop, []).extend(lines)
    if not by_shop and not always:
        return ""
    blocks = [_("**Timeline of the changed promotions** (GMT+8; grey: before this plan)") + "\n"]
    for shop, lines in by_shop.items():
        head = ["```mermaid", "gantt", f"    title {_task(shop)}", "    dateFormat YYYY-MM-DD HH:mm", "    axisFormat %m-%d"]
        blocks.append("\n".join(head + lines + ["```", ""]))
    if total > shown:
        more = ngettext("{count} more changed resource(s) with a window are not drawn.",
                        "{count} more changed resource(s) with a window are not drawn.", total - shown)
        blocks.append("_" + more.format(count=total - shown) + "_\n")
    if always:
        blocks.append("_" + _("In effect at all times (no window, not drawn): {addresses}.").format(
            addresses=", ".join(always)) + "_\n")
    return "\n".join(blocks) + "\n"


def _dated(bars: Sequence[Bar]) -> list[Bar]:
    return [bar for bar in bars if bar.start is not None or bar.end is not None]


def _gantt_task(name: str, status: str, bar: Bar, moment: datetime) -> str:
    start = bar.start or (bar.end - timedelta(days=1) if bar.end else moment)
    end = bar.end or start + timedelta(days=1)
    if end <= start:
        end = start + timedelta(minutes=1)
    return f"    {_task(name)} :{status}, {_when(start)}, {_when(end)}"


def _when(moment: datetime) -> str:
    return moment.astimezone(GMT8).strftime("%Y-%m-%d %H:%M")


def _task(text: str) -> str:
    """A task or section name Mermaid's gantt grammar reads as text: no ':' (it starts the task's
    data), '#' or ';' (comments, statement ends), no line breaks; full-width forms look alike."""
    cleaned = text.replace(":", "：").replace(";", "；").replace("#", "＃").replace("\n", " ")
    return " ".join(cleaned.split())[:80] or "-"
