"""The worst case: the lowest unit price a buyer can reach for an item, and the steps to it.

Stacking model. Promotions apply in Taobao's order, each on what the one before left:

1. Item level, on the list price: the item's special price (`SpecialPrice`: a rate or an amount
   off each unit) and the item's own price in an item-pool activity (its fix_price / rate /
   decrease, which TOP applies through a separate_pricing stair). TOP's order between the two is
   not documented, so both orders are tried and the lower price is kept.
2. Basket level, on the item-level subtotal: item-pool stairs (`PoolActivity`) and full-discount
   activities (`OrderDiscount`, 满减 / 满折), one after the other. TOP does not document their
   order, so every order is tried (up to MAX_ORDERED_STEPS of them) and the cheapest is kept.
3. Order level: one shop coupon (`Coupon`), the largest the basket reaches, on what remains.
4. Last, Taoke cash gifts (`CashGift`) for the item: one gift per unit, up to the gifts a buyer
   may claim.
No step takes the basket below zero, and each step is a non-decreasing function of what the basket
cost before it: a lower price going in never comes out higher, which is why adding a promotion
never raises the worst case (except where TOP withdraws one promotion for another, below).

Thresholds (an amount or a count of units) are measured on the basket's list price. Exactly at
the threshold it is reached; 1 fen below, not. TOP's pages do not say whether an amount threshold
counts the price before or after the item-level discounts (seed 001 checks a coupon's threshold
against the item's 原价, zk_final_price or reserve_price); the list price reaches it sooner, so the
guardrail never misses a discount by it — and a cent off the item cannot push a basket off a
threshold it reached.

The buyer: a basket of q units of this one item, for every q where something changes — 1, and
each q where a threshold is first reached (⌈amount ÷ list price⌉, or the count). Between two
such q nothing new applies and the fixed amounts (decreases, coupons) spread over more units, so
the unit price cannot be lower there. The unit price is the basket's total ÷ q, kept exact
(fractions of a fen included) through every step and rounded DOWN to the fen once, at the end
(TOP does not document its rounding; rounding down is the buyer's side).

Combinations (what TOP allows, and the reading taken where it is silent: the lower price):
- Item discounts: TOP lets one item discount (单品优惠) run on an item at a time; where several
  cover one item, the lowest price counts. One limited to a user tag may not reach every buyer,
  so buyers without it are considered too.
- exclude_single (exclude_special_price): the pool activity does not apply to an item while an
  item discount gives it a special price.
- priority: where several item-pool activities cover an item, only the one with the highest
  priority_value applies; at equal priority, the lowest price counts (TOP does not say which). A
  higher activity keeps a lower one out only where it reaches every buyer, terminal and store the
  lower one does (members-only, a crowd, another terminal leave buyers to the lower one).
  These two are the only ways adding a promotion can raise an item's worst case.
- is_multi_mix: every reached stair of an activity applies, in the activity's order; otherwise
  only one, the one that takes most (TOP: the stair number orders the stairs).
- enable_multiple (上不封顶) and a full discount's is_amount_multiple / is_item_multiple: the
  decrease repeats per multiple of the threshold. It is counted at its best ratio — decrease ×
  listed subtotal ÷ threshold — which a basket of exactly a multiple reaches; so the price shown
  is never above what such a basket pays.
- ceiling_amount caps what one activity takes off a basket.
- A pool activity's per-buyer limit (per_user / per_user_daily) caps the basket; larger baskets
  are priced without that activity.
- Full-discount activities stack with each other and with pool activities (TOP's pages do not say
  an item is in one at a time). A "fix total" stair (整体一口价 / 指定件数) covers the units that
  reach its threshold, the rest of the basket paying the item-level price. Gifts and free
  shipping do not lower the price and are left out.
- Logic groups and separate_pricing stairs: the items' own prices and a group's discount apply
  whenever the activity does (their thresholds are not checked: an exchange item reaches its
  price when the buyer fills the order with other items).
- A promotion for some buyers only (a user tag, members, a crowd) is assumed to reach the buyer.
- Shop-level thresholds can also be reached with other items, the discount then being shared
  across the order by price; this model prices single-item baskets only.

Which promotions can apply is decided at a moment: each rule's window and weekly period (GMT+8)
must contain it. `Pricer.worst_from` looks at every moment from a start on at which the set of
active rules can change (window edges; period edges in the week after each) and keeps the lowest.

How it is computed. The result is exactly what trying every combination gives (same price, basket,
moment and steps: tests/test_pricing_differential.py checks it against that older search); each
shortcut below either skips work that cannot change a number, or rests on the monotonicity above
and keeps, among equal prices, the combination the full search would have met first:
- Which rules can touch an item is looked up by its id and codes (`Coverage`); the moments at which
  the set of active rules differs are worked out once (`Pricer`), and each distinct set an item
  meets is priced once for all items alike (same list price, same own prices and stairs in the
  pools of the set). Parts that depend only on a rule and a list price are built once (`Parts`).
- A basket-level step the basket does not reach changes nothing and is left out (it still counts
  towards MAX_ORDERED_STEPS). The least every order of the others can leave is found over the sets
  of steps (each step being non-decreasing, the least a set leaves is the least of its last step
  applied to the least the rest leaves); the order is then built a step at a time, each time the
  first step after which that least is still reachable: the first cheapest order, as
  `itertools.permutations` would meet it. Steps of one simple form (an amount off, a rate, a cap)
  commute, so every order leaves the same and theirs is kept; in a row they act as one step.
- The choices of item discount and pool activity sharing a pool choice price their baskets as a
  non-decreasing function of the item-level unit price: the one with the lowest unit price is
  priced in full, and another can only tie with it where it reaches its minimum, at those basket
  sizes (none when every step there was strictly increasing).

Where each part lives (each module imports only the ones after it):
- this module: over time — `quote` (one moment), `moments`, `Coverage`, `Pricer` (`at`, `worst_from`);
- pricing/moment.py: one moment — every choice of item discount and pool activity (`worst_case`);
- pricing/basket.py: one basket — its sizes, its steps in their cheapest order, the shop coupon and
  the cash gifts (`Basket`, `Baskets`), and the `Parts` built once for all items alike;
- pricing/steps.py: one promotion — item-level unit prices and basket-level steps with their forms;
- pricing/quote.py: the answer — `Quote` and its `Step`s.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from reconciler.pricing.basket import Parts
from reconciler.pricing.moment import worst_case
from reconciler.pricing.quote import Quote, list_quote
from reconciler.pricing.rules import (
    ListedItem,
    PoolActivity,
    Promotion,
    UnitPrice,
    When,
    covers,
    reach_of,
)


def quote(item: ListedItem, rules: Iterable[Promotion], moment: datetime) -> Quote:
    """The worst case for `item` at `moment`, every promotion in `rules` that can apply stacking."""
    active = [rule for rule in rules if covers(rule, item) and rule.when.active(moment)]
    return worst_case(item, active, moment)


def moments(rules: Iterable[Promotion], since: datetime) -> list[datetime]:
    """Every moment from `since` on at which the set of active rules can change, and `since`."""
    rules = list(rules)
    edges = {since} | {edge for rule in rules for edge in rule.when.window.edges() if edge > since}
    points = set(edges)
    periods = {rule.when.period for rule in rules if rule.when.period is not None}  # many rules share one
    for period in periods:
        for edge in edges:
            points.update(period.edges(edge))
    return sorted(points)


class Coverage:
    """Which of `rules` can touch an item (`rules.covers`), looked up by the item's id and codes."""

    def __init__(self, rules: Sequence[Promotion]) -> None:
        self._every: list[int] = []
        self._by_id = _Index()
        self._by_code = _Index()
        for index, rule in enumerate(rules):
            items = reach_of(rule)
            if items.every:
                self._every.append(index)
                continue
            self._by_id.add(items.ids, index)
            self._by_code.add(items.codes, index)

    def covering(self, item: ListedItem) -> frozenset[int]:
        """The indices of the rules that can touch `item` (their time aside)."""
        found = set(self._every)
        found.update(self._by_id.get(item.item_id))
        for code in item.codes():
            found.update(self._by_code.get(code))
        return frozenset(found)


class _Index:
    """Which rules name each key (an item id or code). A pool names hundreds of codes and few codes
    are in two pools: a code's first rule is kept in a plain dict, filled a set at a time."""

    def __init__(self) -> None:
        self._first: dict[str, int] = {}
        self._more: dict[str, list[int]] = {}

    def add(self, keys: frozenset[str], index: int) -> None:
        named = self._first.keys() & keys
        for key in named:
            self._more.setdefault(key, []).append(index)
        self._first.update(dict.fromkeys(keys - named if named else keys, index))

    def get(self, key: str) -> list[int]:
        first = self._first.get(key)
        return [] if first is None else [first, *self._more.get(key, ())]


# What a worst case depends on besides its rules: the list price, and in each pool activity the
# item's own price and which stairs cover it.
_ItemShape = tuple[int, tuple[tuple[int, UnitPrice | None, tuple[bool, ...]], ...]]


@dataclass
class Pricer:
    """Worst cases for many items against one set of rules: the moments and which rules are
    active at each are worked out once, and each distinct set of rules an item meets is priced once
    (for every item of the same list price and the same place in the pools that set names)."""

    rules: tuple[Promotion, ...]
    _timelines: dict[datetime, list[tuple[datetime, frozenset[int]]]] = field(default_factory=dict)
    _coverage: Coverage = field(init=False)
    _priced: dict[tuple[frozenset[int], _ItemShape], Quote] = field(default_factory=dict, init=False)
    _parts: Parts = field(default_factory=lambda: Parts(), init=False)

    def __post_init__(self) -> None:
        self._coverage = Coverage(self.rules)

    def at(self, item: ListedItem, moment: datetime) -> Quote:
        applying = frozenset(i for i in self._coverage.covering(item) if self.rules[i].when.active(moment))
        return self._quote(item, applying, moment)

    def worst_from(self, item: ListedItem, since: datetime) -> Quote:
        """The lowest worst case at any moment from `since` on (the earliest such moment)."""
        covering = self._coverage.covering(item)
        if not covering:
            return list_quote(item, since)
        best: Quote | None = None
        seen: set[frozenset[int]] = set()
        for moment, active in self._timeline(since):
            applying = active & covering
            if applying in seen:
                continue
            seen.add(applying)
            candidate = self._quote(item, applying, moment)
            if best is None or candidate.exact < best.exact:
                best = candidate
        assert best is not None  # the timeline always holds `since`
        return best

    def _quote(self, item: ListedItem, applying: frozenset[int], moment: datetime) -> Quote:
        indices = sorted(applying)  # the rules' own order: it decides ties and the order tried first
        key = (applying, self._shape(item, indices))
        known = self._priced.get(key)
        if known is None:
            known = self._priced[key] = worst_case(item, [self.rules[i] for i in indices], moment, self._parts)
        return known if known.item == item and known.moment == moment else replace(known, item=item, moment=moment)

    def _shape(self, item: ListedItem, indices: Sequence[int]) -> _ItemShape:
        pools = tuple(
            (i, rule.item_price(item), tuple(stair.covers(item) for stair in rule.stairs))
            for i in indices
            if isinstance(rule := self.rules[i], PoolActivity)
        )
        return item.list_price, pools

    def _timeline(self, since: datetime) -> list[tuple[datetime, frozenset[int]]]:
        """Each distinct set of active rules from `since` on, at the first moment it is active: a
        later moment with a set already seen cannot change a worst case."""
        if since not in self._timelines:
            by_when: dict[When, list[int]] = {}
            for index, rule in enumerate(self.rules):
                by_when.setdefault(rule.when, []).append(index)
            timeline: list[tuple[datetime, frozenset[int]]] = []
            seen: set[frozenset[int]] = set()
            for moment in moments(self.rules, since):
                active = frozenset(i for when, indices in by_when.items() if when.active(moment) for i in indices)
                if active not in seen:
                    seen.add(active)
                    timeline.append((moment, active))
            self._timelines[since] = timeline
        return self._timelines[since]
