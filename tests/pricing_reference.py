"""The price guardrails' worst-case search as it was before it was made fast (reconciler/pricing/
stacking.py at commit db93a5c, every combination tried in full), kept as the reference the
differential test (tests/test_pricing_differential.py) checks the fast one against. Only this
header and `_own_price` (the old linear lookup of a pool item's own price, so a change to
`PoolActivity.item_price` is checked too) differ from that file. Not a test module: nothing to
collect here.

The worst case: the lowest unit price a buyer can reach for an item, and the steps to it.

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
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from itertools import permutations

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
    covers,
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
    for rule in rules:
        period = rule.when.period
        if period is not None:
            for edge in edges:
                points.update(period.edges(edge))
    return sorted(points)


@dataclass
class Pricer:
    """Worst cases for many items against one set of rules: the moments and which rules are
    active at each are worked out once, and each distinct set of rules an item meets is priced once."""

    rules: tuple[Promotion, ...]
    _timelines: dict[datetime, list[tuple[datetime, frozenset[int]]]] = field(default_factory=dict)

    def at(self, item: ListedItem, moment: datetime) -> Quote:
        return quote(item, self.rules, moment)

    def worst_from(self, item: ListedItem, since: datetime) -> Quote:
        """The lowest worst case at any moment from `since` on (the earliest such moment)."""
        covering = frozenset(i for i, rule in enumerate(self.rules) if covers(rule, item))
        if not covering:
            return list_quote(item, since)
        best: Quote | None = None
        seen: set[frozenset[int]] = set()
        for moment, active in self._timeline(since):
            applying = active & covering
            if applying in seen:
                continue
            seen.add(applying)
            candidate = _quote(item, [self.rules[i] for i in sorted(applying)], moment)
            if best is None or candidate.exact < best.exact:
                best = candidate
        assert best is not None  # the timeline always holds `since`
        return best

    def _timeline(self, since: datetime) -> list[tuple[datetime, frozenset[int]]]:
        if since not in self._timelines:
            self._timelines[since] = [
                (moment, frozenset(i for i, rule in enumerate(self.rules) if rule.when.active(moment)))
                for moment in moments(self.rules, since)
            ]
        return self._timelines[since]


# ---- one moment ----------------------------------------------------------------------------------


def _quote(item: ListedItem, active: Sequence[Promotion], moment: datetime) -> Quote:
    if not active:
        return list_quote(item, moment)
    specials = [rule for rule in active if isinstance(rule, SpecialPrice)]
    pools = [rule for rule in active if isinstance(rule, PoolActivity)]
    basket = _BasketRules(
        orders=[rule for rule in active if isinstance(rule, OrderDiscount)],
        coupons=[rule for rule in active if isinstance(rule, Coupon)],
        gifts=[rule for rule in active if isinstance(rule, CashGift)],
    )
    best = list_quote(item, moment)
    for special in _special_choices(specials):
        for pool in _pool_choices(pools, special):
            candidate = _cheapest_basket(item, moment, special, pool, basket)
            if candidate.exact < best.exact:
                best = candidate
    return best


def _special_choices(specials: Sequence[SpecialPrice]) -> list[SpecialPrice | None]:
    """Which item discount a buyer gets: any one of them (the lowest wins); none only when every
    one of them is for some buyers only."""
    choices: list[SpecialPrice | None] = list(specials)
    if all(special.for_some_buyers for special in specials):
        choices.append(None)
    return choices


def _pool_choices(pools: Sequence[PoolActivity], special: SpecialPrice | None) -> list[PoolActivity | None]:
    """The pool activities that can be the one applying: not excluded by the special price, not
    outranked by a higher-priority one; or none (a basket beyond every per-buyer limit)."""
    open_pools = [pool for pool in pools if not (special is not None and pool.exclude_special_price)]
    eligible: list[PoolActivity | None] = [
        pool for pool in open_pools if not any(other.outranks(pool) for other in open_pools)
    ]
    return [*eligible, None]


@dataclass(frozen=True)
class _BasketRules:
    orders: list[OrderDiscount]
    coupons: list[Coupon]
    gifts: list[CashGift]


def _cheapest_basket(
    item: ListedItem, moment: datetime, special: SpecialPrice | None, pool: PoolActivity | None, rules: _BasketRules
) -> Quote:
    unit, item_steps = _item_level(item, special, pool)
    limit = pool.per_user_limit if pool is not None and pool.per_user_limit and pool.per_user_limit > 0 else None
    best: Quote | None = None
    for units in sorted(_basket_sizes(item, pool, rules)):
        if limit is not None and units > limit:
            continue  # beyond the buyer's limit the activity does not apply: priced without it
        total, basket_steps = _basket(item, units, unit, pool, rules)
        exact = total / units
        if best is None or exact < best.exact:
            steps = item_steps + [Step(key, label, taken / units) for key, label, taken in basket_steps]
            best = Quote(item, moment, units, exact, tuple(steps))
    return best if best is not None else Quote(item, moment, 1, unit, tuple(item_steps))


def basket_price(item: ListedItem, units: int, rules: Iterable[Promotion], moment: datetime) -> Fraction:
    """The lowest unit price of exactly `units` units (for tests: the basket sizes `quote` tries
    must find the minimum over every size)."""
    active = [rule for rule in rules if covers(rule, item) and rule.when.active(moment)]
    basket = _BasketRules(
        orders=[rule for rule in active if isinstance(rule, OrderDiscount)],
        coupons=[rule for rule in active if isinstance(rule, Coupon)],
        gifts=[rule for rule in active if isinstance(rule, CashGift)],
    )
    best = Fraction(item.list_price)
    for special in _special_choices([rule for rule in active if isinstance(rule, SpecialPrice)]):
        for pool in _pool_choices([rule for rule in active if isinstance(rule, PoolActivity)], special):
            limit = pool.per_user_limit if pool is not None and pool.per_user_limit else None
            if limit is not None and 0 < limit < units:
                continue
            unit, _ = _item_level(item, special, pool)
            best = min(best, _basket(item, units, unit, pool, basket)[0] / units)
    return best


def _item_level(
    item: ListedItem, special: SpecialPrice | None, pool: PoolActivity | None
) -> tuple[Fraction, list[Step]]:
    changes: list[tuple[ResourceKey, UnitPrice]] = []
    if special is not None:
        changes.append((special.key, special.price))
    own = _own_price(pool, item) if pool is not None else None
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


def _thresholds(item: ListedItem, pool: PoolActivity | None, rules: _BasketRules) -> list[Threshold]:
    thresholds = [stair.threshold for stair in pool.stairs if stair.covers(item)] if pool is not None else []
    thresholds += [order.threshold for order in rules.orders]
    thresholds += [Threshold(amount=coupon.threshold) for coupon in rules.coupons if coupon.threshold > 0]
    return thresholds


def _basket_sizes(item: ListedItem, pool: PoolActivity | None, rules: _BasketRules) -> set[int]:
    """1, and each basket size at which a threshold is first reached (on the list price)."""
    sizes = {1}
    for threshold in _thresholds(item, pool, rules):
        if threshold.count:
            sizes.add(threshold.count)
        if threshold.amount and item.list_price > 0:
            sizes.add(max(1, -(-threshold.amount // item.list_price)))
    return sizes


# A basket-level step: the amount the basket costs before it → after it, and what it says it did.
_Apply = Callable[[Fraction], tuple[Fraction, str]]


def _basket(
    item: ListedItem, units: int, unit: Fraction, pool: PoolActivity | None, rules: _BasketRules
) -> tuple[Fraction, list[tuple[ResourceKey, str, Fraction]]]:
    """The basket's total after the basket-, order- and gift-level steps, and what each took."""
    listed = units * item.list_price  # every threshold is measured on the list price (see the docstring)
    steps: list[tuple[ResourceKey, _Apply]] = []
    if pool is not None:
        steps.append((pool.key, _pool_step(pool, item, units, listed)))
    steps += [(order.key, _order_step(order, item, units, listed)) for order in rules.orders]
    amount, taken = _cheapest_sequence(steps, units * unit)
    usable = [coupon for coupon in rules.coupons if listed >= coupon.threshold]
    if usable:  # one shop coupon an order: the largest one the basket reaches
        coupon = max(usable, key=lambda c: c.denomination)
        taken.append((coupon.key, coupon.label, min(Fraction(coupon.denomination), amount)))
        amount -= taken[-1][2]
    for gift in rules.gifts:
        taken.append((gift.key, gift.label, min(Fraction(min(units, max(gift.per_user, 1)) * gift.amount), amount)))
        amount -= taken[-1][2]
    return amount, [(key, label, cut) for key, label, cut in taken if cut > 0]


def _cheapest_sequence(
    steps: Sequence[tuple[ResourceKey, _Apply]], amount: Fraction
) -> tuple[Fraction, list[tuple[ResourceKey, str, Fraction]]]:
    """Apply the steps one after the other, in the order that leaves the least (TOP does not
    document the order between basket-level promotions). Beyond MAX_ORDERED_STEPS steps, only the
    order given is tried."""
    orders = permutations(steps) if len(steps) <= MAX_ORDERED_STEPS else [tuple(steps)]
    best: tuple[Fraction, list[tuple[ResourceKey, str, Fraction]]] | None = None
    for order in orders:
        current, taken = amount, []
        for key, apply in order:
            after, label = apply(current)
            taken.append((key, label, current - after))
            current = after
        if best is None or current < best[0]:
            best = (current, taken)
    return best if best is not None else (amount, [])


def _pool_step(pool: PoolActivity, item: ListedItem, units: int, listed: int) -> _Apply:
    stairs = [stair for stair in pool.stairs if stair.covers(item)]

    def apply(amount: Fraction) -> tuple[Fraction, str]:
        labels: list[str] = []
        if pool.stack_stairs:  # every reached stair, in the activity's order
            after = amount
            for stair in stairs:
                lowered = _apply_reward(stair.reward, stair.threshold, after, units, listed, item.list_price, pool.repeat)
                if lowered < after:
                    labels.append(stair.label)
                after = lowered
        else:  # the one stair that takes most
            after = amount
            for stair in stairs:
                lowered = _apply_reward(stair.reward, stair.threshold, amount, units, listed, item.list_price, pool.repeat)
                if lowered < after:
                    after, labels = lowered, [stair.label]
        text = f"{pool.label}: {' + '.join(labels)}" + (REPEAT_NOTE if pool.repeat else "")
        if pool.ceiling is not None and amount - after > pool.ceiling:
            after = amount - pool.ceiling
            text += " (at its ceiling)"
        return after, text

    return apply


def _order_step(order: OrderDiscount, item: ListedItem, units: int, listed: int) -> _Apply:
    label = order.label + (REPEAT_NOTE if order.repeat else "")

    def apply(amount: Fraction) -> tuple[Fraction, str]:
        best = amount
        for rewards in permutations(order.rewards):  # an amount and a rate off: the order costing most
            after = amount
            for reward in rewards:
                after = _apply_reward(reward, order.threshold, after, units, listed, item.list_price, order.repeat)
            best = min(best, after)
        return best, label

    return apply


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


def _apply_reward(
    reward: Reward, threshold: Threshold, amount: Fraction, units: int, listed: int, list_price: int, repeat: bool
) -> Fraction:
    """What a basket of `units` costs after one reward, from `amount` (unchanged when not reached).
    Every form is a non-decreasing function of `amount`, so a lower price before it never ends
    higher after it — what keeps adding a promotion from raising the worst case."""
    if not reached(threshold, units, listed):
        return amount
    repeats = repeat and threshold != Threshold()
    scope = Scope.THRESHOLD_UNITS if reward.form is Form.FIX_TOTAL and reward.scope is Scope.BASKET else reward.scope
    value = Fraction(reward.value)
    if scope is Scope.BASKET:
        if reward.form is Form.DECREASE:
            times = _basket_repeats(threshold, units, listed) if repeats else Fraction(1)
            return max(ZERO, amount - value * times)
        if reward.form is Form.RATE:
            return amount * reward.value / PERMILLE
        return min(amount, units * value)  # FIX_PRICE: each unit costs the value
    group = _threshold_units(threshold, list_price)
    covered = min(group, units) if scope is Scope.THRESHOLD_UNITS else 1
    part = amount * covered / units  # what the covered units cost now
    if reward.form is Form.DECREASE:
        cut = min(value, part)
    elif reward.form is Form.RATE:
        cut = part * (PERMILLE - reward.value) / PERMILLE
    elif reward.form is Form.FIX_PRICE:
        cut = max(ZERO, part - covered * value)
    else:
        cut = max(ZERO, part - value)
    if repeats:
        cut *= Fraction(units, group)  # every group of the threshold's units, at its best ratio
    return max(ZERO, amount - cut)


def _basket_repeats(threshold: Threshold, units: int, listed: int) -> Fraction:
    """上不封顶 at its best ratio: how many times the decrease applies, as an exact fraction."""
    if threshold.amount:
        return Fraction(listed, threshold.amount)
    return Fraction(units, threshold.count or 1)


def _own_price(pool: PoolActivity, item: ListedItem) -> UnitPrice | None:
    codes = item.codes()
    for code, price in pool.item_prices:
        if code in codes:
            return price
    return None
