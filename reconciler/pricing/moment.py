"""One moment: the worst case for an item given the promotions active then (`worst_case`): every
choice of item discount and pool activity, each with its cheapest basket (pricing/basket.py), the
cheapest choice kept. The model: pricing/stacking.py.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import cast

from reconciler.pricing.basket import Basket, BasketRules, Baskets, Parts
from reconciler.pricing.quote import Quote, Step, list_quote
from reconciler.pricing.rules import (
    CashGift,
    Coupon,
    ListedItem,
    OrderDiscount,
    PoolActivity,
    Promotion,
    SpecialPrice,
    covers,
)
from reconciler.pricing.steps import item_level_of

_TYPES = (SpecialPrice, PoolActivity, OrderDiscount, Coupon, CashGift)


def worst_case(item: ListedItem, active: Sequence[Promotion], moment: datetime, parts: Parts | None = None) -> Quote:
    """Every choice of item discount and pool activity (in this order: on a tie the first counts),
    each with its cheapest basket; the cheapest choice below the list price, or the list price."""
    parts = parts if parts is not None else Parts()
    if not active:
        return list_quote(item, moment)
    specials, pools, basket = _by_type(active)
    baskets: dict[int, Baskets] = {}  # by pool choice (id of the activity, or of None)
    choices: list[_Choice] = []
    pool_choices = {False: _pool_choices(pools, False), True: _pool_choices(pools, True)}  # with a special price or not
    for special in _special_choices(specials):
        for pool in pool_choices[special is not None]:
            if id(pool) not in baskets:
                baskets[id(pool)] = Baskets(item, pool, basket, parts)
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


def _by_type(active: Sequence[Promotion]) -> tuple[list[SpecialPrice], list[PoolActivity], BasketRules]:
    """The item discounts, the pool activities and the basket-level rules, each in their order."""
    by_type: dict[type, list[Promotion]] = {kind: [] for kind in _TYPES}
    for rule in active:
        kind = type(rule) if type(rule) in by_type else next(t for t in _TYPES if isinstance(rule, t))
        by_type[kind].append(rule)
    basket = BasketRules(
        orders=cast(list[OrderDiscount], by_type[OrderDiscount]),
        coupons=cast(list[Coupon], by_type[Coupon]),
        gifts=cast(list[CashGift], by_type[CashGift]),
    )
    return cast(list[SpecialPrice], by_type[SpecialPrice]), cast(list[PoolActivity], by_type[PoolActivity]), basket


@dataclass(frozen=True)
class _Choice:
    unit: Fraction  # the item-level unit price
    item_steps: list[Step]
    baskets: Baskets


def _first_cheapest(choices: Sequence[_Choice], list_price: Fraction) -> tuple[_Choice, Basket | None] | None:
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


def basket_price(item: ListedItem, units: int, rules: Iterable[Promotion], moment: datetime) -> Fraction:
    """The lowest unit price of exactly `units` units (for tests: the basket sizes `quote` tries
    must find the minimum over every size)."""
    active = [rule for rule in rules if covers(rule, item) and rule.when.active(moment)]
    specials, pools, basket = _by_type(active)
    parts = Parts()
    coupons = parts.coupons(basket, item.list_price)
    best = Fraction(item.list_price)
    for special in _special_choices(specials):
        for pool in _pool_choices(pools, special is not None):
            limit = pool.per_user_limit if pool is not None and pool.per_user_limit else None
            if limit is not None and 0 < limit < units:
                continue
            unit, _ = item_level_of(item, special, pool)
            best = min(best, Basket(item, units, pool, basket, parts, coupons).total(unit) / units)
    return best
