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
  pools of the set). Parts that depend only on a rule and a list price are built once (`_Parts`).
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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from fractions import Fraction
from itertools import permutations
from typing import cast

from reconciler.model import ResourceKey
from reconciler.pricing.rules import (
    PERMILLE,
    CashGift,
    Coupon,
    Form,
    ListedItem,
    OrderDiscount,
    PoolActivity,
    Promotion,
    Reward,
    Scope,
    SpecialPrice,
    Threshold,
    UnitPrice,
    When,
    covers,
    reach_of,
)

ZERO = Fraction(0)
REPEAT_NOTE = " (repeats counted at their best ratio)"
MAX_ORDERED_STEPS = 6  # basket-level promotions whose every order is tried (720 orders)


@dataclass(frozen=True)
class Step:
    """One promotion's part of the worst case: what it took off one unit (fen, exact)."""

    key: ResourceKey
    label: str
    taken: Fraction


@dataclass(frozen=True)
class Quote:
    """The worst case for an item at a moment: the basket that reaches it and each step."""

    item: ListedItem
    moment: datetime
    units: int
    exact: Fraction  # the unit price before rounding, fen
    steps: tuple[Step, ...] = ()

    @property
    def unit_price(self) -> int:
        """Rounded down to the fen."""
        return math.floor(self.exact)

    @property
    def keys(self) -> tuple[ResourceKey, ...]:
        return tuple(dict.fromkeys(step.key for step in self.steps))


def list_quote(item: ListedItem, moment: datetime) -> Quote:
    return Quote(item, moment, 1, Fraction(item.list_price))


def quote(item: ListedItem, rules: Iterable[Promotion], moment: datetime) -> Quote:
    """The worst case for `item` at `moment`, every promotion in `rules` that can apply stacking."""
    active = [rule for rule in rules if covers(rule, item) and rule.when.active(moment)]
    return _quote(item, active, moment)


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
    _parts: _Parts = field(default_factory=lambda: _Parts(), init=False)

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
            known = self._priced[key] = _quote(item, [self.rules[i] for i in indices], moment, self._parts)
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


# ---- one moment ----------------------------------------------------------------------------------

_TYPES = (SpecialPrice, PoolActivity, OrderDiscount, Coupon, CashGift)


def _quote(item: ListedItem, active: Sequence[Promotion], moment: datetime, parts: _Parts | None = None) -> Quote:
    """Every choice of item discount and pool activity (in this order: on a tie the first counts),
    each with its cheapest basket; the cheapest choice below the list price, or the list price."""
    parts = parts if parts is not None else _Parts()
    if not active:
        return list_quote(item, moment)
    specials, pools, basket = _by_type(active)
    baskets: dict[int, _Baskets] = {}  # by pool choice (id of the activity, or of None)
    choices: list[_Choice] = []
    pool_choices = {False: _pool_choices(pools, False), True: _pool_choices(pools, True)}  # with a special price or not
    for special in _special_choices(specials):
        for pool in pool_choices[special is not None]:
            if id(pool) not in baskets:
                baskets[id(pool)] = _Baskets(item, pool, basket, parts)
            unit, item_steps = parts.item_level(item, special, pool)
            choices.append(_Choice(unit, item_steps, baskets[id(pool)]))
    winner = _first_cheapest(choices, Fraction(item.list_price))
    if winner is None:
        return list_quote(item, moment)
    choice, size = winner
    if size is None:  # no basket size within the pool's per-buyer limit
        return Quote(item, moment, 1, choice.unit, tuple(choice.item_steps))
    total, basket_steps = size.priced(choice.unit)
    steps = choice.item_steps + [Step(key, label, Fraction(taken, size.units)) for key, label, taken in basket_steps]
    return Quote(item, moment, size.units, total / size.units, tuple(steps))


def _by_type(active: Sequence[Promotion]) -> tuple[list[SpecialPrice], list[PoolActivity], _BasketRules]:
    """The item discounts, the pool activities and the basket-level rules, each in their order."""
    by_type: dict[type, list[Promotion]] = {kind: [] for kind in _TYPES}
    for rule in active:
        kind = type(rule) if type(rule) in by_type else next(t for t in _TYPES if isinstance(rule, t))
        by_type[kind].append(rule)
    basket = _BasketRules(
        orders=cast(list[OrderDiscount], by_type[OrderDiscount]),
        coupons=cast(list[Coupon], by_type[Coupon]),
        gifts=cast(list[CashGift], by_type[CashGift]),
    )
    return cast(list[SpecialPrice], by_type[SpecialPrice]), cast(list[PoolActivity], by_type[PoolActivity]), basket


@dataclass(frozen=True)
class _Choice:
    unit: Fraction  # the item-level unit price
    item_steps: list[Step]
    baskets: _Baskets


def _first_cheapest(choices: Sequence[_Choice], list_price: Fraction) -> tuple[_Choice, _Basket | None] | None:
    """The first choice whose cheapest basket is the lowest of all, when below the list price, and
    its first basket size at that price (None: it has no basket size, its unit price is its price).

    Choices sharing a pool choice share their baskets, and each basket's price is a non-decreasing
    function of the unit price: so the choice with the lowest unit price (the first of them) is the
    cheapest of its group, and another choice of the group ties with it only at a basket size where
    that one reaches its minimum."""
    lowest: dict[int, _Choice] = {}
    for choice in choices:
        group = id(choice.baskets)
        if group not in lowest or choice.unit < lowest[group].unit:
            lowest[group] = choice
    minima = {group: choice.baskets.minimum(choice.unit) for group, choice in lowest.items()}
    best = min(minimum.value for minimum in minima.values())
    if not best < list_price:
        return None
    for choice in choices:
        group = id(choice.baskets)
        minimum = minima[group]
        if minimum.value != best:
            continue
        if choice.unit == lowest[group].unit:
            return choice, minimum.sizes[0] if minimum.sizes else None
        if minimum.strict:
            continue  # a higher unit price costs more at every size reaching the minimum: no tie
        size = choice.baskets.reaching(choice.unit, minimum.sizes, best)
        if size is not None:
            return choice, size
    raise AssertionError("the cheapest choice is among the choices")  # pragma: no cover


def _special_choices(specials: Sequence[SpecialPrice]) -> list[SpecialPrice | None]:
    """Which item discount a buyer gets: any one of them (the lowest wins); none only when every
    one of them is for some buyers only."""
    choices: list[SpecialPrice | None] = list(specials)
    if all(special.for_some_buyers for special in specials):
        choices.append(None)
    return choices


def _pool_choices(pools: Sequence[PoolActivity], special: bool) -> list[PoolActivity | None]:
    """The pool activities that can be the one applying: not excluded by a special price (when the
    item has one), not outranked by a higher-priority one; or none (a basket beyond every per-buyer limit)."""
    open_pools = [pool for pool in pools if not (special and pool.exclude_special_price)]
    eligible: list[PoolActivity | None] = [
        pool for pool in open_pools if not any(other.outranks(pool) for other in open_pools)
    ]
    return [*eligible, None]


@dataclass(frozen=True)
class _BasketRules:
    orders: list[OrderDiscount]
    coupons: list[Coupon]
    gifts: list[CashGift]

    @property
    def coupon_ids(self) -> tuple[int, ...]:
        return tuple(map(id, self.coupons))


@dataclass(frozen=True)
class _Uniform:
    """Every step a basket reaches is of one simple form: together, this one (None: no step)."""

    form: _Form | None


def _uniform_steps(
    item: ListedItem, pool: PoolActivity | None, rules: _BasketRules, parts: _Parts, sizes: Sequence[int]
) -> dict[int, _Uniform] | None:
    """When every full discount is one simple form whatever the basket size (e.g. all 满减 amounts
    off, or all 满折 rates) and no pool activity applies: the steps each basket size reaches, as
    one step — the full discounts reached from each size on, added up. None otherwise."""
    if pool is not None or not rules.orders:
        return None
    forms = [parts.fixed_form(order, item.list_price) for order in rules.orders]
    kinds = {form[0] if form is not None else None for form in forms}
    if None in kinds or len(kinds) != 1:
        return None
    (kind,) = kinds
    assert kind is not None
    reaching = sorted((form[2], position) for position, form in enumerate(forms) if form is not None)
    uniform: dict[int, _Uniform] = {}
    constant: Fraction | int | None = None
    taken = 0
    for units in sorted(sizes):
        while taken < len(reaching) and reaching[taken][0] <= units:
            form = forms[reaching[taken][1]]
            assert form is not None
            constant = form[1] if constant is None else _MERGE[kind](constant, form[1])
            taken += 1
        uniform[units] = _Uniform(None if constant is None else (kind, constant))
    return uniform


@dataclass(frozen=True)
class _Minimum:
    value: Fraction  # the lowest unit price
    sizes: list[_Basket]  # the basket sizes that reach it, smallest first
    strict: bool  # at each of them a higher unit price would have cost more


class _Baskets:
    """The baskets of one item under one pool choice (or none) and the basket-level rules: each
    basket size worth trying (within the pool's per-buyer limit), priced from an item-level unit price."""

    def __init__(self, item: ListedItem, pool: PoolActivity | None, rules: _BasketRules, parts: _Parts) -> None:
        limit = pool.per_user_limit if pool is not None and pool.per_user_limit and pool.per_user_limit > 0 else None
        coupons = parts.coupons(rules, item.list_price)
        sizes = sorted(parts.basket_sizes(item, pool, rules))
        uniform = _uniform_steps(item, pool, rules, parts, sizes)
        self.sizes = [
            _Basket(item, units, pool, rules, parts, coupons, uniform.get(units) if uniform is not None else None)
            for units in sizes
            if limit is None or units <= limit  # beyond the buyer's limit the activity does not apply
        ]

    def minimum(self, unit: Fraction) -> _Minimum:
        """The lowest unit price over the sizes from `unit`, and the sizes that reach it."""
        if not self.sizes:
            return _Minimum(unit, [], strict=True)  # the unit price itself
        prices = []
        for size in self.sizes:
            total, strict = size.total_strictly(unit)
            prices.append((total / size.units, size, strict))
        best = min(price for price, _, _ in prices)
        reaching = [(size, strict) for price, size, strict in prices if price == best]
        return _Minimum(best, [size for size, _ in reaching], all(strict for _, strict in reaching))

    def reaching(self, unit: Fraction, sizes: Sequence[_Basket], target: Fraction) -> _Basket | None:
        """The first of `sizes` at which `unit` reaches `target` a unit."""
        return next((size for size in sizes if size.total(unit) / size.units == target), None)


def basket_price(item: ListedItem, units: int, rules: Iterable[Promotion], moment: datetime) -> Fraction:
    """The lowest unit price of exactly `units` units (for tests: the basket sizes `quote` tries
    must find the minimum over every size)."""
    active = [rule for rule in rules if covers(rule, item) and rule.when.active(moment)]
    specials, pools, basket = _by_type(active)
    parts = _Parts()
    coupons = parts.coupons(basket, item.list_price)
    best = Fraction(item.list_price)
    for special in _special_choices(specials):
        for pool in _pool_choices(pools, special is not None):
            limit = pool.per_user_limit if pool is not None and pool.per_user_limit else None
            if limit is not None and 0 < limit < units:
                continue
            unit, _ = _item_level(item, special, pool)
            best = min(best, _Basket(item, units, pool, basket, parts, coupons).total(unit) / units)
    return best


class _Parts:
    """The parts of a worst case that depend on a rule and the item's list price (and its place in
    the rule's pool), not on the item itself: built once for all the items alike. Keyed by the
    rules' ids: whoever holds this holds the rules."""

    def __init__(self) -> None:
        self._levels: dict[tuple[object, ...], tuple[Fraction, list[Step]]] = {}
        self._steps: dict[tuple[object, ...], _BasketStep] = {}
        self._coupons: dict[tuple[tuple[int, ...], int], _Coupons] = {}
        self._forms: dict[tuple[int, int], tuple[str, Fraction | int, int] | None] = {}

    def item_level(
        self, item: ListedItem, special: SpecialPrice | None, pool: PoolActivity | None
    ) -> tuple[Fraction, list[Step]]:
        key = (id(special), id(pool), item.list_price, pool.item_price(item) if pool is not None else None)
        if key not in self._levels:
            self._levels[key] = _item_level(item, special, pool)
        return self._levels[key]

    def pool_step(self, pool: PoolActivity, item: ListedItem, units: int, listed: int) -> _BasketStep:
        key = (id(pool), units, item.list_price, tuple(stair.covers(item) for stair in pool.stairs))
        if key not in self._steps:
            self._steps[key] = _pool_step(pool, item, units, listed)
        return self._steps[key]

    def order_step(self, order: OrderDiscount, item: ListedItem, units: int, listed: int) -> _BasketStep:
        key = (id(order), units, item.list_price)
        if key not in self._steps:
            self._steps[key] = _order_step(order, item, units, listed)
        return self._steps[key]

    def fixed_form(self, order: OrderDiscount, list_price: int) -> tuple[str, Fraction | int, int] | None:
        """The full discount's simple form when it is the same at every basket size, and the
        smallest size that reaches it; None when it has none or it depends on the size."""
        key = (id(order), list_price)
        if key not in self._forms:
            self._forms[key] = _fixed_form(order, list_price)
        return self._forms[key]

    def coupons(self, rules: _BasketRules, list_price: int) -> _Coupons:
        key = (rules.coupon_ids, list_price)
        if key not in self._coupons:
            self._coupons[key] = _Coupons(rules.coupons, list_price)
        return self._coupons[key]

    def basket_sizes(self, item: ListedItem, pool: PoolActivity | None, rules: _BasketRules) -> set[int]:
        """1, and each basket size at which a threshold is first reached (on the list price)."""
        sizes = set(self.coupons(rules, item.list_price).sizes)
        thresholds = [stair.threshold for stair in pool.stairs if stair.covers(item)] if pool is not None else []
        thresholds += [order.threshold for order in rules.orders]
        sizes.update(_first_sizes(thresholds, item.list_price))
        return sizes


class _Coupons:
    """The shop coupons of an item's baskets: the basket sizes at which each is first reached, and
    the one a basket of a size gets (one an order: the largest it reaches, the first of equals)."""

    def __init__(self, coupons: Sequence[Coupon], list_price: int) -> None:
        self._coupons = coupons
        self._list_price = list_price
        self.sizes = _first_sizes([Threshold(amount=c.threshold) for c in coupons if c.threshold > 0], list_price)
        self._chosen: dict[int, Coupon | None] = {}

    def chosen(self, units: int) -> Coupon | None:
        if units not in self._chosen:
            listed = units * self._list_price
            usable = [coupon for coupon in self._coupons if listed >= coupon.threshold]
            self._chosen[units] = max(usable, key=lambda c: c.denomination) if usable else None
        return self._chosen[units]


def _item_level(
    item: ListedItem, special: SpecialPrice | None, pool: PoolActivity | None
) -> tuple[Fraction, list[Step]]:
    changes: list[tuple[ResourceKey, UnitPrice]] = []
    if special is not None:
        changes.append((special.key, special.price))
    own = pool.item_price(item) if pool is not None else None
    if pool is not None and own is not None:
        changes.append((pool.key, own))
    best: tuple[Fraction, list[Step]] | None = None
    for order in (changes, changes[::-1]) if len(changes) > 1 else (changes,):
        price = Fraction(item.list_price)
        steps = []
        for key, change in order:
            after = apply_unit_price(price, change)
            steps.append(Step(key, change.label, price - after))
            price = after
        if best is None or price < best[0]:
            best = (price, steps)
    assert best is not None
    return best


def apply_unit_price(price: Fraction, change: UnitPrice) -> Fraction:
    if change.form is Form.FIX_PRICE:
        return min(price, Fraction(change.value))  # a fixed price never raises what the buyer pays
    if change.form is Form.RATE:
        return price * change.value / PERMILLE
    return max(ZERO, price - change.value)


def _first_sizes(thresholds: Iterable[Threshold], list_price: int) -> set[int]:
    """1, and each basket size at which one of the thresholds is first reached (on the list price)."""
    sizes = {1}
    for threshold in thresholds:
        if threshold.count:
            sizes.add(threshold.count)
        if threshold.amount and list_price > 0:
            sizes.add(max(1, -(-threshold.amount // list_price)))
    return sizes


# ---- one basket ----------------------------------------------------------------------------------

# A basket-level step: the amount the basket costs before it → after it, and what it says it did.
_Apply = Callable[[Fraction], tuple[Fraction, str]]


@dataclass(frozen=True)
class _BasketStep:
    key: ResourceKey
    value: Callable[[Fraction], Fraction]  # the amount after the step
    apply: _Apply  # the same, with what it says it did
    idle: bool  # the basket reaches none of its thresholds: it leaves every amount as it is
    form: _Form | None = None  # what it does to an amount that is not negative, when that is this simple
    label: str = ""  # what it says it did, when that does not depend on the amount (a step with a form)


# A step's simple form, on an amount x >= 0: "off" max(0, x − c) (c >= 0), "rate" x × c (c >= 0), "cap"
# min(x, c) (c >= 0). Steps of one form commute, and a run of them is one step of that form:
# c1 + c2 off, c1 × c2 the rate, the lower cap. On any amount, steps of one form commute too (on a
# negative one, "off" and "rate" ≤ 1 leave it as it is, a "rate" > 1 multiplies it, "cap" is a min).
_Form = tuple[str, Fraction | int]
_MERGE: dict[str, Callable[[Fraction | int, Fraction | int], Fraction | int]] = {
    "off": lambda first, second: first + second,
    "rate": lambda first, second: first * second,
    "cap": min,
}


def _mixed(steps: Sequence[_BasketStep]) -> bool:
    """Whether the steps are not all of one simple form (which commute)."""
    forms = {step.form[0] if step.form is not None else None for step in steps}
    return None in forms or len(forms) > 1


def _through(steps: Sequence[_BasketStep], amount: Fraction) -> tuple[Fraction, bool]:
    """The steps one after the other, in their order (consecutive steps of one simple form as one
    step of that form, while the amount is not negative); and whether each step was strictly
    increasing where it was applied (so a higher amount going in would have come out higher)."""
    strict = True
    count, index = len(steps), 0
    while index < count:
        form = steps[index].form
        if form is None or amount < 0:
            amount = steps[index].value(amount)
            strict = False  # not known
            index += 1
            continue
        kind, constant = form
        index += 1
        while index < count and (following := steps[index].form) is not None and following[0] == kind:
            constant = _MERGE[kind](constant, following[1])
            index += 1
        amount, strictly = _as_form(kind, constant, amount)
        strict = strict and strictly
    return amount, strict


def _as_form(kind: str, constant: Fraction | int, amount: Fraction) -> tuple[Fraction, bool]:
    """A step of a simple form on an amount that is not negative, and whether it is strictly
    increasing there."""
    if kind == "off":
        return max(ZERO, amount - constant), amount > constant  # not clamped at zero
    if kind == "rate":
        return amount * constant, constant > 0
    return Fraction(min(amount, constant)), amount < constant  # below the cap


class _Basket:
    """A basket of `units` units of one item: the basket-, order- and gift-level steps on it."""

    def __init__(
        self, item: ListedItem, units: int, pool: PoolActivity | None, rules: _BasketRules, parts: _Parts,
        coupons: _Coupons, uniform: _Uniform | None = None,
    ) -> None:
        self.units = units
        self._making = (item, pool, rules, parts)
        self._steps: list[_BasketStep] | None = None
        self._search = False
        # Given when every step the basket reaches is of one simple form: they act as one step
        # (None: no step), and the steps themselves are only made to show them.
        self.uniform = uniform
        self.coupon = coupons.chosen(units)
        self.gifts = [(gift, Fraction(min(units, max(gift.per_user, 1)) * gift.amount)) for gift in rules.gifts]

    @property
    def steps(self) -> list[_BasketStep]:
        if self._steps is None:
            item, pool, rules, parts = self._making
            listed = self.units * item.list_price  # every threshold is measured on the list price (see the docstring)
            steps = [parts.pool_step(pool, item, self.units, listed)] if pool is not None else []
            steps += [parts.order_step(order, item, self.units, listed) for order in rules.orders
                      if reached(order.threshold, self.units, listed)]  # the others are idle
            self._steps = [step for step in steps if not step.idle]
            # Every order is tried when the basket has few steps (idle ones count); an idle step changes
            # no amount and takes nothing, so the orders of the others give the same results. Steps
            # that commute leave the same in every order: the first order tried, theirs, is kept.
            ordered = len(rules.orders) + (pool is not None) <= MAX_ORDERED_STEPS
            self._search = ordered and len(self._steps) > 1 and _mixed(self._steps)
        return self._steps

    @property
    def search(self) -> bool:
        """Whether the cheapest order of the steps must be searched for."""
        return bool(self.steps) and self._search

    def total(self, unit: Fraction) -> Fraction:
        """What the basket costs after every step, from `unit` a unit at item level."""
        return self.total_strictly(unit)[0]

    def total_strictly(self, unit: Fraction) -> tuple[Fraction, bool]:
        """The total, and whether a higher unit price would have given a higher one (False: not known)."""
        amount = self.units * unit
        if self.uniform is not None and amount >= 0:
            strict = True
            if self.uniform.form is not None:
                amount, strict = _as_form(*self.uniform.form, amount)
        elif self.search:
            amount, strict = _least(_Memo([step.value for step in self.steps]), range(len(self.steps)), amount), False
        else:
            amount, strict = _through(self.steps, amount)
        if self.coupon is not None:
            strict = strict and amount > self.coupon.denomination
            amount -= min(Fraction(self.coupon.denomination), amount)
        for _, cut in self.gifts:
            strict = strict and amount > cut
            amount -= min(cut, amount)
        return amount, strict

    def priced(self, unit: Fraction) -> tuple[Fraction, list[tuple[ResourceKey, str, Fraction | int]]]:
        """The basket's total and what each step took (the steps that took something)."""
        amount = self.units * unit
        order = _cheapest_order(self.steps, amount) if self.search else range(len(self.steps))
        taken: list[tuple[ResourceKey, str, Fraction | int]] = []
        for index in order:
            step = self.steps[index]
            if step.form is not None and step.form[0] == "off" and amount >= 0:
                off = step.form[1]  # max(0, amount − off): takes off, or all there is
                cut, amount = (off, amount - off) if amount > off else (amount, ZERO)
                taken.append((step.key, step.label, cut))
                continue
            if step.form is not None and amount >= 0:
                after, label = _as_form(*step.form, amount)[0], step.label
            else:
                after, label = step.apply(amount)
            taken.append((step.key, label, amount - after))
            amount = after
        if self.coupon is not None:
            taken.append((self.coupon.key, self.coupon.label, min(Fraction(self.coupon.denomination), amount)))
            amount -= taken[-1][2]
        for gift, cut in self.gifts:
            taken.append((gift.key, gift.label, min(cut, amount)))
            amount -= taken[-1][2]
        return amount, [(key, label, cut) for key, label, cut in taken if cut > 0]


def _cheapest_order(steps: Sequence[_BasketStep], amount: Fraction) -> tuple[int, ...]:
    """The first order of the steps (in `itertools.permutations` order) that leaves the least of
    `amount`: built a step at a time, each time the first step after which the least the others
    can leave is still the least of all."""
    step = _Memo([step.value for step in steps])
    target = _least(step, range(len(steps)), amount)
    order: list[int] = []
    left, current = list(range(len(steps))), amount
    while left:
        for index in left:
            after = step(index, current)
            rest = [i for i in left if i != index]
            if _least(step, rest, after) == target:
                order.append(index)
                left, current = rest, after
                break
        else:
            raise AssertionError("some order leaves the least")  # pragma: no cover
    return tuple(order)


class _Memo:
    """The steps' values, each step applied once to each amount (an amount keyed by its terms: a
    Fraction's own hash is slow)."""

    def __init__(self, steps: Sequence[Callable[[Fraction], Fraction]]) -> None:
        self._steps = steps
        self._after: dict[tuple[int, int, int], Fraction] = {}

    def __call__(self, index: int, before: Fraction) -> Fraction:
        key = (index, before.numerator, before.denominator)
        after = self._after.get(key)
        if after is None:
            after = self._after[key] = self._steps[index](before)
        return after


def _least(step: Callable[[int, Fraction], Fraction], indices: Sequence[int], amount: Fraction) -> Fraction:
    """The least the steps `indices` can leave of `amount` in any order. Each step is
    non-decreasing, so the least a set of steps can leave is the least, over its last step, of that
    step applied to the least the others can leave: one pass over the subsets, not every order."""
    count = len(indices)
    least = [amount] * (1 << count)
    for subset in range(1, 1 << count):  # a subset's own subsets come before it
        best: Fraction | None = None
        for position in range(count):
            if subset >> position & 1:
                after = step(indices[position], least[subset ^ 1 << position])
                if best is None or after < best:
                    best = after
        assert best is not None
        least[subset] = best
    return least[-1]


def _pool_step(pool: PoolActivity, item: ListedItem, units: int, listed: int) -> _BasketStep:
    stairs = [
        (stair.label, _reward_step(stair.reward, stair.threshold, units, listed, item.list_price, pool.repeat))
        for stair in pool.stairs
        if stair.covers(item)
    ]
    reached_stairs = [(label, lower) for label, lower in stairs if lower is not None]  # the others change nothing

    def lowered(amount: Fraction) -> tuple[Fraction, list[str]]:
        labels: list[str] = []
        after = amount
        if pool.stack_stairs:  # every reached stair, in the activity's order
            for label, lower in reached_stairs:
                before, after = after, lower(after)
                if after < before:
                    labels.append(label)
        else:  # the one stair that takes most
            for label, lower in reached_stairs:
                candidate = lower(amount)
                if candidate < after:
                    after, labels = candidate, [label]
        return after, labels

    def value(amount: Fraction) -> Fraction:
        after, _ = lowered(amount)
        if pool.ceiling is not None and amount - after > pool.ceiling:
            after = amount - pool.ceiling
        return after

    def apply(amount: Fraction) -> tuple[Fraction, str]:
        after, labels = lowered(amount)
        text = f"{pool.label}: {' + '.join(labels)}" + (REPEAT_NOTE if pool.repeat else "")
        if pool.ceiling is not None and amount - after > pool.ceiling:
            after = amount - pool.ceiling
            text += " (at its ceiling)"
        return after, text

    # With no stair reached the amount stays as it is (a ceiling below zero aside, which would raise it).
    idle = not reached_stairs and (pool.ceiling is None or pool.ceiling >= 0)
    return _BasketStep(pool.key, value, apply, idle=idle)


def _order_step(order: OrderDiscount, item: ListedItem, units: int, listed: int) -> _BasketStep:
    label = order.label + (REPEAT_NOTE if order.repeat else "")
    steps = [_reward_step(reward, order.threshold, units, listed, item.list_price, order.repeat) for reward in order.rewards]
    # an amount and a rate off: the order costing most (all or none of them reached: one threshold)
    orders = [[step for step in rewards if step is not None] for rewards in permutations(steps)]

    def value(amount: Fraction) -> Fraction:
        best = amount
        for rewards in orders:
            after = amount
            for lower in rewards:
                after = lower(after)
            best = min(best, after)
        return best

    def apply(amount: Fraction) -> tuple[Fraction, str]:
        return value(amount), label

    idle = not reached(order.threshold, units, listed)
    form = None if idle or len(order.rewards) != 1 else _simple_form(order.rewards[0], order.threshold, units, listed, order.repeat)
    return _BasketStep(order.key, value, apply, idle=idle, form=form, label=label)


def _fixed_form(order: OrderDiscount, list_price: int) -> tuple[str, Fraction | int, int] | None:
    """See _Parts.fixed_form: an amount off that does not repeat, or a rate (as _simple_form gives
    them at any size), and the first basket size reaching the threshold (`reached` for a positive
    list price: at least the count, and ⌈amount ÷ list price⌉ units)."""
    if len(order.rewards) != 1 or list_price <= 0:
        return None
    reward, threshold = order.rewards[0], order.threshold
    repeats = order.repeat and threshold != Threshold()
    if reward.form is Form.DECREASE and repeats:
        return None  # the amount off grows with the basket
    if reward.form not in (Form.DECREASE, Form.RATE):
        return None
    form = _simple_form(reward, threshold, 1, list_price, order.repeat)
    if form is None:
        return None
    first = max(1, threshold.count if threshold.count is not None else 1,
                -(-threshold.amount // list_price) if threshold.amount is not None else 1)
    return form[0], form[1], first


def _simple_form(reward: Reward, threshold: Threshold, units: int, listed: int, repeat: bool) -> _Form | None:
    """The form of min(x, the reward on x) for x >= 0 (a full discount's one reward, reached), when
    simple: c off, a rate of c, or a cap of c (see _Form)."""
    if reward.scope is not Scope.BASKET or reward.form is Form.FIX_TOTAL:
        return None
    if reward.form is Form.DECREASE:
        repeats = repeat and threshold != Threshold()
        off = Fraction(reward.value) * (_basket_repeats(threshold, units, listed) if repeats else 1)
        form = "off", int(off) if off.denominator == 1 else off  # whole fen add up faster as ints
    elif reward.form is Form.RATE:
        form = "rate", min(Fraction(1), Fraction(reward.value, PERMILLE))
    else:
        form = "cap", Fraction(units * reward.value)
    return form if form[1] >= 0 else None


def reached(threshold: Threshold, units: int, listed: int) -> bool:
    """At exactly the threshold it is reached."""
    if threshold.count is not None and units < threshold.count:
        return False
    return threshold.amount is None or listed >= threshold.amount


def _threshold_units(threshold: Threshold, list_price: int) -> int:
    """How many units it takes to reach the threshold: the units a 指定件数 reward covers."""
    if threshold.count:
        return threshold.count
    if threshold.amount and list_price > 0:
        return max(1, -(-threshold.amount // list_price))
    return 1


def _reward_step(
    reward: Reward, threshold: Threshold, units: int, listed: int, list_price: int, repeat: bool
) -> Callable[[Fraction], Fraction] | None:
    """What a basket of `units` costs after one reward, from what it cost before; None when the
    basket does not reach the threshold (the amount stays as it is). Every form is a non-decreasing
    function of the amount, so a lower price before it never ends higher after it — what keeps
    adding a promotion from raising the worst case (and what the search above relies on)."""
    if not reached(threshold, units, listed):
        return None
    repeats = repeat and threshold != Threshold()
    scope = Scope.THRESHOLD_UNITS if reward.form is Form.FIX_TOTAL and reward.scope is Scope.BASKET else reward.scope
    value = Fraction(reward.value)
    if scope is Scope.BASKET:
        if reward.form is Form.DECREASE:
            off = value * (_basket_repeats(threshold, units, listed) if repeats else 1)
            return lambda amount: max(ZERO, amount - off)
        if reward.form is Form.RATE:
            rate = Fraction(reward.value, PERMILLE)
            return lambda amount: amount * rate
        cap = units * value  # FIX_PRICE: each unit costs the value
        return lambda amount: min(amount, cap)
    group = _threshold_units(threshold, list_price)
    covered = min(group, units) if scope is Scope.THRESHOLD_UNITS else 1
    share = Fraction(covered, units)  # of the basket's amount, what the covered units cost now
    times = Fraction(units, group) if repeats else 1  # every group of the threshold's units, at its best ratio
    if reward.form is Form.DECREASE:
        return lambda amount: max(ZERO, amount - min(value, amount * share) * times)
    if reward.form is Form.RATE:
        kept = Fraction(PERMILLE - reward.value, PERMILLE)
        return lambda amount: max(ZERO, amount - amount * share * kept * times)
    floor = covered * value if reward.form is Form.FIX_PRICE else value  # what the covered units may cost
    return lambda amount: max(ZERO, amount - max(ZERO, amount * share - floor) * times)


def _basket_repeats(threshold: Threshold, units: int, listed: int) -> Fraction:
    """上不封顶 at its best ratio: how many times the decrease applies, as an exact fraction."""
    if threshold.amount:
        return Fraction(listed, threshold.amount)
    return Fraction(units, threshold.count or 1)
