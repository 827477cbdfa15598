"""What one promotion does to what a buyer pays, as a function of what was paid before it (the
stacking model: pricing/stacking.py).

- Item level: an item discount's special price and a pool activity's own price for the item, on
  the list price, both orders tried (`item_level_of`).
- Basket level: one pool activity's reached stairs, or one full discount's rewards, as a
  `BasketStep` on the basket's amount (`pool_step_of`, `order_step_of`), with its simple form when
  it has one (an amount off, a rate, a cap: steps of one form commute, `MERGE` joins a run of them).
Every step is a non-decreasing function of the amount: what the search for the cheapest order of
a basket's steps (pricing/basket.py) rests on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import permutations

from reconciler.i18n import _
from reconciler.model import ResourceKey
from reconciler.pricing.quote import Step
from reconciler.pricing.rules import (
    PERMILLE,
    Form,
    ListedItem,
    OrderDiscount,
    PoolActivity,
    Reward,
    Scope,
    SpecialPrice,
    Threshold,
    UnitPrice,
)

ZERO = Fraction(0)


# A step's simple form, on an amount x >= 0: "off" max(0, x − c) (c >= 0), "rate" x × c (c >= 0), "cap"
# min(x, c) (c >= 0). Steps of one form commute, and a run of them is one step of that form:
# c1 + c2 off, c1 × c2 the rate, the lower cap. On any amount, steps of one form commute too (on a
# negative one, "off" and "rate" ≤ 1 leave it as it is, a "rate" > 1 multiplies it, "cap" is a min).
SimpleForm = tuple[str, Fraction | int]
MERGE: dict[str, Callable[[Fraction | int, Fraction | int], Fraction | int]] = {
    "off": lambda first, second: first + second,
    "rate": lambda first, second: first * second,
    "cap": min,
}


def as_form(kind: str, constant: Fraction | int, amount: Fraction) -> tuple[Fraction, bool]:
    """A step of a simple form on an amount that is not negative, and whether it is strictly
    increasing there."""
    if kind == "off":
        return max(ZERO, amount - constant), amount > constant  # not clamped at zero
    if kind == "rate":
        return amount * constant, constant > 0
    return Fraction(min(amount, constant)), amount < constant  # below the cap


# A basket-level step: the amount the basket costs before it → after it, and what it says it did.
_Apply = Callable[[Fraction], tuple[Fraction, str]]


@dataclass(frozen=True)
class BasketStep:
    key: ResourceKey
    value: Callable[[Fraction], Fraction]  # the amount after the step
    apply: _Apply  # the same, with what it says it did
    idle: bool  # the basket reaches none of its thresholds: it leaves every amount as it is
    form: SimpleForm | None = None  # what it does to an amount that is not negative, when that is this simple
    label: str = ""  # what it says it did, when that does not depend on the amount (a step with a form)


def pool_step_of(pool: PoolActivity, item: ListedItem, units: int, listed: int) -> BasketStep:
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
        after, _labels = lowered(amount)
        if pool.ceiling is not None and amount - after > pool.ceiling:
            after = amount - pool.ceiling
        return after

    def apply(amount: Fraction) -> tuple[Fraction, str]:
        after, labels = lowered(amount)
        text = (_("{label}: {terms} (repeats counted at their best ratio)") if pool.repeat
                else "{label}: {terms}").format(label=pool.label, terms=" + ".join(labels))
        if pool.ceiling is not None and amount - after > pool.ceiling:
            after = amount - pool.ceiling
            text = _("{text} (at its ceiling)").format(text=text)
        return after, text

    # With no stair reached the amount stays as it is (a ceiling below zero aside, which would raise it).
    idle = not reached_stairs and (pool.ceiling is None or pool.ceiling >= 0)
    return BasketStep(pool.key, value, apply, idle=idle)


def order_step_of(order: OrderDiscount, item: ListedItem, units: int, listed: int) -> BasketStep:
    label = (_("{label} (repeats counted at their best ratio)").format(label=order.label) if order.repeat
             else order.label)
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
    return BasketStep(order.key, value, apply, idle=idle, form=form, label=label)


def fixed_form_of(order: OrderDiscount, list_price: int) -> tuple[str, Fraction | int, int] | None:
    """See basket.Parts.fixed_form: an amount off that does not repeat, or a rate (as _simple_form gives
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


def _simple_form(reward: Reward, threshold: Threshold, units: int, listed: int, repeat: bool) -> SimpleForm | None:
    """The form of min(x, the reward on x) for x >= 0 (a full discount's one reward, reached), when
    simple: c off, a rate of c, or a cap of c (see SimpleForm)."""
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
    adding a promotion from raising the worst case (and what the search for the cheapest order of
    a basket's steps, pricing/basket.py, relies on)."""
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


def item_level_of(
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
