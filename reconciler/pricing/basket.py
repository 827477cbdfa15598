"""One basket: `units` units of one item under one pool choice (or none) and the basket-level rules
(full discounts, the shop coupon it reaches, cash gifts). `Basket` puts its steps (pricing/steps.py)
in their cheapest order and says what it costs from an item-level unit price; `Baskets` are the
basket sizes of an item worth trying and the lowest unit price among them; `Parts` are what depends
only on a rule and a list price, built once for all items alike. The model: pricing/stacking.py.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

from reconciler.model import ResourceKey
from reconciler.pricing.quote import Step
from reconciler.pricing.rules import (
    CashGift,
    Coupon,
    ListedItem,
    OrderDiscount,
    PoolActivity,
    SpecialPrice,
    Threshold,
)
from reconciler.pricing.steps import (
    MERGE,
    ZERO,
    BasketStep,
    SimpleForm,
    as_form,
    fixed_form_of,
    item_level_of,
    order_step_of,
    pool_step_of,
    reached,
)

MAX_ORDERED_STEPS = 6  # basket-level promotions whose every order is tried (720 orders)


@dataclass(frozen=True)
class BasketRules:
    orders: list[OrderDiscount]
    coupons: list[Coupon]
    gifts: list[CashGift]

    @property
    def coupon_ids(self) -> tuple[int, ...]:
        return tuple(map(id, self.coupons))


@dataclass(frozen=True)
class _Uniform:
    """Every step a basket reaches is of one simple form: together, this one (None: no step)."""

    form: SimpleForm | None


def _uniform_steps(
    item: ListedItem, pool: PoolActivity | None, rules: BasketRules, parts: Parts, sizes: Sequence[int]
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
            constant = form[1] if constant is None else MERGE[kind](constant, form[1])
            taken += 1
        uniform[units] = _Uniform(None if constant is None else (kind, constant))
    return uniform


@dataclass(frozen=True)
class _Minimum:
    value: Fraction  # the lowest unit price
    sizes: list[Basket]  # the basket sizes that reach it, smallest first
    strict: bool  # at each of them a higher unit price would have cost more


class Baskets:
    """The baskets of one item under one pool choice (or none) and the basket-level rules: each
    basket size worth trying (within the pool's per-buyer limit), priced from an item-level unit price."""

    def __init__(self, item: ListedItem, pool: PoolActivity | None, rules: BasketRules, parts: Parts) -> None:
        limit = pool.per_user_limit if pool is not None and pool.per_user_limit and pool.per_user_limit > 0 else None
        coupons = parts.coupons(rules, item.list_price)
        sizes = sorted(parts.basket_sizes(item, pool, rules))
        uniform = _uniform_steps(item, pool, rules, parts, sizes)
        self.sizes = [
            Basket(item, units, pool, rules, parts, coupons, uniform.get(units) if uniform is not None else None)
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

    def reaching(self, unit: Fraction, sizes: Sequence[Basket], target: Fraction) -> Basket | None:
        """The first of `sizes` at which `unit` reaches `target` a unit."""
        return next((size for size in sizes if size.total(unit) / size.units == target), None)


class Parts:
    """The parts of a worst case that depend on a rule and the item's list price (and its place in
    the rule's pool), not on the item itself: built once for all the items alike. Keyed by the
    rules' ids: whoever holds this holds the rules."""

    def __init__(self) -> None:
        self._levels: dict[tuple[object, ...], tuple[Fraction, list[Step]]] = {}
        self._steps: dict[tuple[object, ...], BasketStep] = {}
        self._coupons: dict[tuple[tuple[int, ...], int], _Coupons] = {}
        self._forms: dict[tuple[int, int], tuple[str, Fraction | int, int] | None] = {}

    def item_level(
        self, item: ListedItem, special: SpecialPrice | None, pool: PoolActivity | None
    ) -> tuple[Fraction, list[Step]]:
        key = (id(special), id(pool), item.list_price, pool.item_price(item) if pool is not None else None)
        if key not in self._levels:
            self._levels[key] = item_level_of(item, special, pool)
        return self._levels[key]

    def pool_step(self, pool: PoolActivity, item: ListedItem, units: int, listed: int) -> BasketStep:
        key = (id(pool), units, item.list_price, tuple(stair.covers(item) for stair in pool.stairs))
        if key not in self._steps:
            self._steps[key] = pool_step_of(pool, item, units, listed)
        return self._steps[key]

    def order_step(self, order: OrderDiscount, item: ListedItem, units: int, listed: int) -> BasketStep:
        key = (id(order), units, item.list_price)
        if key not in self._steps:
            self._steps[key] = order_step_of(order, item, units, listed)
        return self._steps[key]

    def fixed_form(self, order: OrderDiscount, list_price: int) -> tuple[str, Fraction | int, int] | None:
        """The full discount's simple form when it is the same at every basket size, and the
        smallest size that reaches it; None when it has none or it depends on the size."""
        key = (id(order), list_price)
        if key not in self._forms:
            self._forms[key] = fixed_form_of(order, list_price)
        return self._forms[key]

    def coupons(self, rules: BasketRules, list_price: int) -> _Coupons:
        key = (rules.coupon_ids, list_price)
        if key not in self._coupons:
            self._coupons[key] = _Coupons(rules.coupons, list_price)
        return self._coupons[key]

    def basket_sizes(self, item: ListedItem, pool: PoolActivity | None, rules: BasketRules) -> set[int]:
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


def _first_sizes(thresholds: Iterable[Threshold], list_price: int) -> set[int]:
    """1, and each basket size at which one of the thresholds is first reached (on the list price)."""
    sizes = {1}
    for threshold in thresholds:
        if threshold.count:
            sizes.add(threshold.count)
        if threshold.amount and list_price > 0:
            sizes.add(max(1, -(-threshold.amount // list_price)))
    return sizes


def _mixed(steps: Sequence[BasketStep]) -> bool:
    """Whether the steps are not all of one simple form (which commute)."""
    forms = {step.form[0] if step.form is not None else None for step in steps}
    return None in forms or len(forms) > 1


def _through(steps: Sequence[BasketStep], amount: Fraction) -> tuple[Fraction, bool]:
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
            constant = MERGE[kind](constant, following[1])
            index += 1
        amount, strictly = as_form(kind, constant, amount)
        strict = strict and strictly
    return amount, strict


class Basket:
    """A basket of `units` units of one item: the basket-, order- and gift-level steps on it."""

    def __init__(
        self, item: ListedItem, units: int, pool: PoolActivity | None, rules: BasketRules, parts: Parts,
        coupons: _Coupons, uniform: _Uniform | None = None,
    ) -> None:
        self.units = units
        self._making = (item, pool, rules, parts)
        self._steps: list[BasketStep] | None = None
        self._search = False
        # Given when every step the basket reaches is of one simple form: they act as one step
        # (None: no step), and the steps themselves are only made to show them.
        self.uniform = uniform
        self.coupon = coupons.chosen(units)
        self.gifts = [(gift, Fraction(min(units, max(gift.per_user, 1)) * gift.amount)) for gift in rules.gifts]

    @property
    def steps(self) -> list[BasketStep]:
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
                amount, strict = as_form(*self.uniform.form, amount)
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
                after, label = as_form(*step.form, amount)[0], step.label
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


def _cheapest_order(steps: Sequence[BasketStep], amount: Fraction) -> tuple[int, ...]:
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
