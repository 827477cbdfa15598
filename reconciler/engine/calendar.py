"""`reconciler calendar`: one self-contained HTML page (inline CSS, SVG and a few lines of script;
nothing fetched) with, per shop, a bar for every declared promotion and listing window on a time
line in GMT+8 (engine/timeline.py), overlapping bars in lanes of their own, a marker at the run's
moment, the terms in the seller's words on hover and in a legend — and, when list prices are given,
each touched item's worst-case price over time against its floor, a step chart priced by
reconciler.pricing (the same `Pricer` the guardrails and `reconciler price` use).

The page's script only adds a tooltip; any script error is written into `#page-errors`, and the
script marks `<body data-ready="yes">` last, so a browser test can tell that the page ran cleanly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from html import escape

from reconciler.engine.list_prices import read_list_prices
from reconciler.engine.price_report import stack_text, yuan
from reconciler.engine.timeline import GMT8, Bar, bars_of, lanes
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller
from reconciler.model import Resource
from reconciler.pricing.floors import FloorPrice, default_floor, floor_of, is_default
from reconciler.pricing.rules import Floor, ListedItem, PriceRule, Promotion, floors, named_items, promotions, reach, reach_of
from reconciler.pricing.stacking import Pricer

WIDTH = 1200  # the time line's width in px; the page scrolls sideways on a narrow screen
LABEL = 190  # px left of the time line for the lane labels
LANE = 22  # px per lane
PRICE_HEIGHT = 84  # px of one item's step chart
ITEMS_CHARTED = 60  # items per shop with a step chart; a shop-wide coupon touches every item
PERIOD_DAYS = 93  # a weekly period's edges are drawn for at most this many days of its window
COLOURS = {  # one colour per kind (the legend says which)
    "ItemDiscount": "#e4572e", "FullDiscount": "#f3a712", "ItemPoolActivity": "#29335c", "ShopCoupon": "#669bbc",
    "TaokeCashGift": "#a8c686", "ListingWindow": "#8e7dbe",
}
OTHER_COLOUR = "#777777"


@dataclass(frozen=True)
class PriceStep:
    start: datetime  # from this moment until the next step (or the page's end)
    unit_price: int  # fen, the worst case
    stack: str  # the promotions behind it, in words (engine/price_report.stack_text)


@dataclass(frozen=True)
class ItemPrices:
    item: ListedItem
    floor: FloorPrice | None
    steps: tuple[PriceStep, ...]


@dataclass
class ShopPrices:
    items: list[ItemPrices] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


# ---- the worst-case price over time -------------------------------------------------------------


def read_prices(
    resources: Sequence[Resource], client_for: Callable[[str], Caller], start: datetime, end: datetime
) -> dict[str, ShopPrices]:
    """Per shop, each item a declared promotion touches, priced at every moment in [start, end)
    where the set of promotions in effect changes. Reads list prices read-only, as `price` does."""
    found: dict[str, ShopPrices] = {}
    for shop in sorted({resource.key.shop for resource in resources}):
        rules = [rule for r in resources if r.key.shop == shop for rule in _rules(r)]
        offers = promotions(rules)
        if not offers:
            continue
        ids, whole_shop = named_items(rules)
        listed = read_list_prices(client_for(shop), ids, whole_shop=whole_shop)
        found[shop] = price_items(shop, offers, floors(rules), list(listed.items.values()), start, end)
        found[shop].notes.extend(listed.notes)
    return found


def _rules(resource: Resource) -> list[PriceRule]:
    try:
        return list(KINDS[resource.key.kind].price_rules(resource))
    except (KeyError, TypeError, ValueError):
        return []


def price_items(
    shop: str, offers: Sequence[Promotion], shop_floors: Sequence[Floor], items: Sequence[ListedItem],
    start: datetime, end: datetime,
) -> ShopPrices:
    pricer = Pricer(tuple(offers))
    reached = reach(offers)
    points = change_moments(offers, start, end)
    result = ShopPrices()
    # Items a promotion names come first: a shop-wide coupon touches every item, and the cap must
    # not leave out the ones a campaign is about.
    named = reach([rule for rule in offers if not reach_of(rule).every])
    touched = sorted((item for item in items if reached.covers(item)), key=lambda item: (not named.covers(item), item.item_id))
    for item in touched[:ITEMS_CHARTED]:
        steps: list[PriceStep] = []
        for moment in points:
            quote = pricer.at(item, moment)
            if not steps or steps[-1].unit_price != quote.unit_price:
                steps.append(PriceStep(moment, quote.unit_price, stack_text(quote)))
        floor = floor_of(item, shop_floors, default_floor(shop))
        result.items.append(ItemPrices(item, floor, tuple(steps)))
    if len(touched) > ITEMS_CHARTED:
        result.notes.append(f"{len(touched) - ITEMS_CHARTED} more touched item(s) are not charted")
    return result


def change_moments(offers: Sequence[Promotion], start: datetime, end: datetime) -> list[datetime]:
    """`start` and every moment in (start, end) at which a promotion's window or weekly period
    opens or closes: between two of them the set in effect, so the worst case, stays the same."""
    points = {start}
    for rule in offers:
        window = rule.when.window
        points |= {edge for edge in window.edges() if start < edge < end}
        period = rule.when.period
        if period is not None:
            low = max(start, window.start or start)
            high = min(end, window.end or end)
            if low < high:
                days = min((high - low).days + 1, PERIOD_DAYS)
                points |= {edge for edge in period.edges(low, days) if low <= edge < high}
    return sorted(points)


# ---- the page ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    resources: Sequence[Resource]
    moment: datetime  # "now": the run's clock (--at)
    start: datetime | None = None  # the page's range; None: from the bars
    end: datetime | None = None
    prices: Mapping[str, ShopPrices] | None = None  # None: list prices not read (no step charts)
    prices_note: str = ""


def page_range(bars: Sequence[Bar], moment: datetime, start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """--from/--to, else from the earliest dated bar (or the moment) to the latest, a day around."""
    edges = [edge for bar in bars for edge in (bar.start, bar.end) if edge is not None] or [moment]
    low = start or min(edges + [moment]) - timedelta(days=1)
    high = end or max(edges + [moment]) + timedelta(days=1)
    if high <= low:
        high = low + timedelta(days=1)
    return low, high


def render_page(page: Page) -> str:
    all_bars = bars_of(page.resources)
    start, end = page_range(all_bars, page.moment, page.start, page.end)
    scale = _Scale(start, end)
    shops = sorted({r.key.shop for r in page.resources})
    sections = []
    for shop in shops:
        bars = [bar for bar in all_bars if bar.key.shop == shop and _meets(bar, start, end)]
        prices = page.prices.get(shop) if page.prices is not None else None
        sections.append(_shop_section(shop, bars, scale, page.moment, prices, page.prices is not None))
    kinds = sorted({bar.kind for bar in all_bars})
    legend = "".join(f'<span class="key"><i style="background:{_colour(kind)}"></i>{escape(kind)}</span>' for kind in kinds)
    return _TEMPLATE.format(
        style=_STYLE, script=_SCRIPT, start=_iso(start), end=_iso(end), now=_iso(page.moment),
        range=f"{_text(start)} → {_text(end)}", now_text=_text(page.moment), legend=legend,
        prices_note=escape(page.prices_note), sections="\n".join(sections),
    )


def _meets(bar: Bar, start: datetime, end: datetime) -> bool:
    return (bar.start is None or bar.start < end) and (bar.end is None or bar.end > start)


class _Scale:
    def __init__(self, start: datetime, end: datetime) -> None:
        self.start, self.end = start, end
        self.seconds = (end - start).total_seconds()

    def x(self, moment: datetime | None, default: float) -> float:
        if moment is None:
            return default
        share = (moment - self.start).total_seconds() / self.seconds
        return LABEL + max(0.0, min(1.0, share)) * WIDTH

    def ticks(self) -> list[tuple[float, str]]:
        """Month starts when the page spans months, else days."""
        days = self.seconds / 86400
        step = 1 if days <= 31 else 7 if days <= 92 else 0
        first = self.start.astimezone(GMT8).replace(hour=0, minute=0, second=0, microsecond=0)
        found, day = [], first
        while day < self.end:
            if day >= self.start and (day.day == 1 if step == 0 else (day - first).days % step == 0):
                found.append((self.x(day, LABEL), day.strftime("%m-%d" if step else "%Y-%m")))
            day += timedelta(days=1)
        return found


def _shop_section(shop: str, bars: Sequence[Bar], scale: _Scale, moment: datetime, prices: ShopPrices | None,
                  priced: bool) -> str:
    lane_of = lanes([_span(bar, scale) for bar in bars])
    height = (max(lane_of) + 1 if lane_of else 1) * LANE + 30
    parts = [_axis(scale, height)]
    for bar, lane in zip(bars, lane_of, strict=True):
        parts.append(_bar(bar, lane, scale))
    parts.append(_now(scale, moment, height))
    timeline = (f'<svg class="timeline" width="{LABEL + WIDTH + 10}" height="{height}" role="img" '
                f'aria-label="{escape(shop)} promotions">{"".join(parts)}</svg>')
    rows = "".join(_legend_row(bar) for bar in bars) or '<tr><td colspan="5">no promotion or listing window in this range</td></tr>'
    table = ('<table class="legend"><thead><tr><th>kind</th><th>name</th><th>when (GMT+8)</th><th>terms</th>'
             f'<th>weekly</th></tr></thead><tbody>{rows}</tbody></table>')
    charts = _price_charts(prices, scale, moment) if prices is not None else (
        "" if not priced else '<p class="note">no promotion of this shop lowers a price</p>')
    return (f'<section class="shop" data-shop="{escape(shop)}"><h2>{escape(shop)}</h2>{timeline}{table}'
            f'{charts}</section>')


def _span(bar: Bar, scale: _Scale) -> tuple[float, float]:
    """The px a bar takes with its label (see _bar_label), so labels never overlap either."""
    x1, x2 = scale.x(bar.start, LABEL), scale.x(bar.end, LABEL + WIDTH)
    label = 4 + 7.5 * _width(bar.key.name)
    if x1 + label > LABEL + WIDTH:
        return min(x1, x2 - label), x2
    return x1, max(x2, x1 + label)


def _width(text: str) -> float:
    """A label's width in average Latin characters: CJK characters are about two."""
    return sum(2 if ord(char) > 0x2E80 else 1 for char in text)


def _axis(scale: _Scale, height: int) -> str:
    lines = [f'<line class="tick" x1="{x:.1f}" y1="14" x2="{x:.1f}" y2="{height}"/>'
             f'<text class="tick" x="{x + 2:.1f}" y="11">{label}</text>' for x, label in scale.ticks()]
    return "".join(lines)


def _bar(bar: Bar, lane: int, scale: _Scale) -> str:
    x1, x2 = scale.x(bar.start, LABEL), scale.x(bar.end, LABEL + WIDTH)
    y = 18 + lane * LANE
    title = f"{bar.key.kind}/{bar.key.name}\n{_when(bar)}\n{bar.terms}" + (f"\nweekly: {bar.period}" if bar.period else "")
    open_class = " open" if bar.start is None or bar.end is None else ""
    return (
        f'<g class="bar{open_class}" data-key="{escape(str(bar.key))}" data-kind="{escape(bar.kind)}" '
        f'data-start="{_iso(bar.start)}" data-end="{_iso(bar.end)}" data-lane="{lane}" data-terms="{escape(bar.terms)}">'
        f'<title>{escape(title)}</title>'
        f'<rect x="{x1:.1f}" y="{y}" width="{max(x2 - x1, 3):.1f}" height="{LANE - 5}" rx="3" fill="{_colour(bar.kind)}"/>'
        f'{_bar_label(bar.key.name, x1, x2, y)}</g>'
    )


def _bar_label(name: str, x1: float, x2: float, y: int) -> str:
    """The name from the bar's start; ending at its end when it would run off the time line."""
    if x1 + 4 + 7.5 * _width(name) > LABEL + WIDTH:
        return f'<text x="{x2 - 3:.1f}" y="{y + 13}" text-anchor="end">{escape(name)}</text>'
    return f'<text x="{x1 + 3:.1f}" y="{y + 13}">{escape(name)}</text>'


def _now(scale: _Scale, moment: datetime, height: int) -> str:
    if not scale.start <= moment <= scale.end:
        return ""
    x = scale.x(moment, LABEL)
    return (f'<g class="now" data-now="{_iso(moment)}"><line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{height}"/>'
            f'<text x="{x + 3:.1f}" y="{height - 3}">now {escape(_text(moment))}</text></g>')


def _legend_row(bar: Bar) -> str:
    return (f'<tr data-key="{escape(str(bar.key))}"><td><i style="background:{_colour(bar.kind)}"></i>{escape(bar.kind)}</td>'
            f'<td>{escape(bar.key.name)}</td><td>{escape(_when(bar))}</td><td>{escape(bar.terms)}</td>'
            f'<td>{escape(bar.period)}</td></tr>')


def _price_charts(prices: ShopPrices, scale: _Scale, moment: datetime) -> str:
    charts = [_price_chart(item, scale, moment) for item in prices.items]
    notes = "".join(f'<p class="note">{escape(note)}</p>' for note in prices.notes)
    head = ('<h3>Worst-case unit price over time</h3><p class="note">Every declared promotion that can apply at each '
            'moment stacked (as <code>reconciler price</code>); dashed red: the floor.</p>')
    return head + "".join(charts) + notes


def _now_line(scale: _Scale, moment: datetime) -> str:
    if not scale.start <= moment <= scale.end:
        return ""
    x = scale.x(moment, LABEL)
    return f'<line class="now-line" x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="{PRICE_HEIGHT}"/>'



def _price_chart(item: ItemPrices, scale: _Scale, moment: datetime) -> str:
    # From a little under the lowest of floor and prices to the list price: the steps are what matter.
    shown = [item.item.list_price] + [step.unit_price for step in item.steps] + ([item.floor.price] if item.floor else [])
    top, bottom = max(shown), min(shown)
    bottom = max(0, bottom - (top - bottom) // 8 - 1)

    def y(fen: int) -> float:
        return 14 + (PRICE_HEIGHT - 22) * (top - fen) / max(top - bottom, 1)

    parts = []
    for index, step in enumerate(item.steps):
        x1 = scale.x(step.start, LABEL)
        x2 = scale.x(item.steps[index + 1].start, LABEL) if index + 1 < len(item.steps) else LABEL + WIDTH
        below = item.floor is not None and step.unit_price < item.floor.price
        parts.append(
            f'<line class="step{" below" if below else ""}" data-start="{_iso(step.start)}" data-price="{step.unit_price}" '
            f'x1="{x1:.1f}" y1="{y(step.unit_price):.1f}" x2="{x2:.1f}" y2="{y(step.unit_price):.1f}">'
            f'<title>{escape(_text(step.start))}: {yuan(step.unit_price)} 元 — {escape(step.stack)}</title></line>'
        )
        if x2 - x1 > 70:  # room for the price on the step
            parts.append(f'<text class="price" x="{x1 + 3:.1f}" y="{y(step.unit_price) - 4:.1f}">{yuan(step.unit_price)}</text>')
        if index + 1 < len(item.steps):
            following = item.steps[index + 1].unit_price
            parts.append(f'<line class="rise" x1="{x2:.1f}" y1="{y(step.unit_price):.1f}" x2="{x2:.1f}" y2="{y(following):.1f}"/>')
    if item.floor is not None:
        words = f"floor {yuan(item.floor.price)} 元" + (" (default 30% of list)" if is_default(item.floor) else "")
        parts.append(f'<line class="floor" x1="{LABEL}" y1="{y(item.floor.price):.1f}" x2="{LABEL + WIDTH}" '
                     f'y2="{y(item.floor.price):.1f}"><title>{escape(words)}</title></line>')
    lowest = min(step.unit_price for step in item.steps) if item.steps else item.item.list_price
    label = (f'<text x="4" y="16">{escape(item.item.item_id)} {escape(item.item.title[:10])}</text>'
             f'<text x="4" y="32">list {yuan(item.item.list_price)} 元</text><text x="4" y="48">lowest {yuan(lowest)} 元</text>'
             + (f'<text x="4" y="64" class="floor-text">floor {yuan(item.floor.price)} 元</text>' if item.floor else ""))
    under = " below-floor" if item.floor is not None and lowest < item.floor.price else ""
    return (f'<figure class="price-chart{under}" data-item="{escape(item.item.item_id)}" data-lowest="{lowest}" '
            f'data-floor="{item.floor.price if item.floor else ""}"><svg width="{LABEL + WIDTH + 10}" height="{PRICE_HEIGHT}">'
            f'{label}{_now_line(scale, moment)}{"".join(parts)}</svg></figure>')


def _colour(kind: str) -> str:
    return COLOURS.get(kind, OTHER_COLOUR)


def _when(bar: Bar) -> str:
    return f"{_text(bar.start) if bar.start else 'open'} → {_text(bar.end) if bar.end else 'open'}"


def _text(moment: datetime | None) -> str:
    return moment.astimezone(GMT8).strftime("%Y-%m-%d %H:%M") if moment else ""


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(GMT8).isoformat() if moment else ""


_STYLE = """
body { font: 14px/1.4 system-ui, "Noto Sans CJK SC", "PingFang SC", sans-serif; margin: 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 18px 0 4px; } h3 { font-size: 15px; }
.note { color: #555; margin: 2px 0; }
.key { margin-right: 12px; white-space: nowrap; }
i { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-right: 4px; vertical-align: -1px; }
svg { display: block; overflow: visible; }
svg text { font-size: 11px; }
.bar text { fill: #111; pointer-events: none; paint-order: stroke; stroke: rgba(255,255,255,.85); stroke-width: 3px; }
.bar.open rect { opacity: .45; }
.bar:hover rect { stroke: #000; stroke-width: 1.5px; }
line.tick { stroke: #e3e3e3; } text.tick { fill: #888; }
.now line { stroke: #d00; stroke-width: 2px; } .now text { fill: #d00; font-weight: bold; }
table.legend { border-collapse: collapse; margin: 8px 0; }
table.legend td, table.legend th { border: 1px solid #ddd; padding: 2px 6px; text-align: left; vertical-align: top; }
table.legend td:nth-child(1), table.legend td:nth-child(3) { white-space: nowrap; }
line.step { stroke: #29335c; stroke-width: 3px; } line.step.below { stroke: #d00; }
line.rise { stroke: #29335c; stroke-width: 1px; } line.floor { stroke: #d00; stroke-dasharray: 6 4; }
figure { margin: 4px 0; border-top: 1px solid #eee; }
text.price { fill: #29335c; } text.floor-text { fill: #d00; } line.now-line { stroke: #d00; stroke-width: 1px; opacity: .6; }
#tooltip { position: fixed; display: none; background: #fffbe6; border: 1px solid #999; padding: 4px 8px;
  white-space: pre-line; pointer-events: none; max-width: 420px; }
#page-errors:empty { display: none; } #page-errors { color: #d00; }
"""

_SCRIPT = """
(function () {
  var errors = document.getElementById("page-errors");
  window.addEventListener("error", function (event) { errors.textContent += event.message + "\\n"; });
  try {
    var tip = document.getElementById("tooltip");
    document.querySelectorAll(".bar").forEach(function (bar) {
      var words = bar.querySelector("title").textContent;
      bar.addEventListener("mousemove", function (event) {
        tip.textContent = words; tip.style.display = "block";
        tip.style.left = (event.clientX + 12) + "px"; tip.style.top = (event.clientY + 12) + "px";
      });
      bar.addEventListener("mouseleave", function () { tip.style.display = "none"; });
    });
    document.body.dataset.bars = String(document.querySelectorAll(".bar").length);
  } catch (error) {
    errors.textContent += String(error) + "\\n";
  }
  document.body.dataset.ready = "yes";
})();
"""

_TEMPLATE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Campaign calendar</title>
<style>{style}</style>
</head>
<body data-from="{start}" data-to="{end}" data-now="{now}">
<h1>Campaign calendar</h1>
<p class="note">{range} (GMT+8) · now: {now_text} · made by <code>reconciler calendar</code> from the manifests. {prices_note}</p>
<p>{legend}</p>
{sections}
<div id="tooltip"></div>
<pre id="page-errors"></pre>
<script>{script}</script>
</body>
</html>
"""
