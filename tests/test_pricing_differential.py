"""The fast worst-case search (reconciler.pricing.stacking and the moment, basket and steps modules
it uses) against the one it replaced, which tried every combination in full
(tests/pricing_reference.py): on hundreds of seeded random shops — item
discounts, pool activities with stairs, own prices, logic groups and every combination flag, full
discounts, coupons, cash gifts, windows and weekly periods, shop-wide rules and item lists — every
item's worst case must be the same to the fraction of a fen, reached by the same basket at the same
moment through the same steps (promotions, labels, amounts), and so must the floor verdict."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime, timedelta
from fractions import Fraction

import pytest

from reconciler.model import ResourceKey
from reconciler.pricing.basket import MAX_ORDERED_STEPS, Basket, BasketRules, Parts
from reconciler.pricing.floors import floor_of
from reconciler.pricing.moment import basket_price
from reconciler.pricing.quote import Quote
from reconciler.pricing.rules import (
    GMT8,
    NO_THRESHOLD,
    CashGift,
    Coupon,
    Floor,
    Form,
    Items,
    ListedItem,
    OrderDiscount,
    Period,
    PoolActivity,
    Promotion,
    Reward,
    Scope,
    SpecialPrice,
    Stair,
    Threshold,
    UnitPrice,
    When,
    Window,
)
from reconciler.pricing.stacking import Pricer, quote
from tests import pricing_reference as reference

NOW = datetime(2027, 11, 5, 10, 0, tzinfo=GMT8)  # a Friday
SHOPS = 200  # x 8 items, each priced from now on, at a moment, and without a Pricer
ITEM_IDS = [str(n) for n in range(1, 9)]
CODES = ["6901", "6902", "6903", "x"]


def _key(kind: str, serial: int) -> ResourceKey:
    return ResourceKey("demo-shop", kind, f"{kind.lower()}-{serial}")


def _items(rng: random.Random) -> Items:
    pick = rng.random()
    if pick < 0.3:
        return Items(every=True)
    if pick < 0.75:
        return Items(ids=frozenset(rng.sample(ITEM_IDS, rng.randint(1, 5))))
    return Items(codes=frozenset(rng.sample(CODES + ITEM_IDS[:2], rng.randint(1, 3))))


def _when(rng: random.Random) -> When:
    pick = rng.random()
    if pick < 0.5:
        return When()
    if pick < 0.8:
        start = NOW + timedelta(days=rng.randint(-5, 20), hours=rng.choice([0, 7]))
        return When(Window(start, start + timedelta(days=rng.randint(1, 10))))
    days = frozenset(rng.sample(range(1, 8), rng.randint(1, 3)))
    hour = rng.randint(0, 21)
    return When(period=Period(days, ((hour * 3600, (hour + rng.randint(1, 3)) * 3600),)))


def _threshold(rng: random.Random) -> Threshold:
    pick = rng.random()
    if pick < 0.2:
        return NO_THRESHOLD
    if pick < 0.6:
        return Threshold(amount=rng.choice([1, 99, 2_000, 3_000, 9_900, 19_900, 30_000, rng.randint(1, 40_000)]))
    return Threshold(count=rng.randint(1, 6))


def _value(rng: random.Random, form: Form) -> int:
    return rng.randint(100, 990) if form is Form.RATE else rng.choice([1, 100, 500, 1_200, 3_000, rng.randint(1, 20_000)])


def _reward(rng: random.Random, scopes: list[Scope]) -> Reward:
    form = rng.choice(list(Form))
    return Reward(form, _value(rng, form), rng.choice(scopes))


def _unit_price(rng: random.Random) -> UnitPrice:
    form = rng.choice([Form.FIX_PRICE, Form.RATE, Form.DECREASE])
    value = _value(rng, form)
    return UnitPrice(form, value, f"{form.value} {value}")


def _special(rng: random.Random, serial: int) -> SpecialPrice:
    price = _unit_price(rng)
    return SpecialPrice(_key("ItemDiscount", serial), price.label, _when(rng), _items(rng), price, rng.random() < 0.25)


def _pool(rng: random.Random, serial: int) -> PoolActivity:
    stairs = []
    for number in range(rng.randint(0, 3)):
        group = None if rng.random() < 0.7 else frozenset(rng.sample(CODES + ITEM_IDS[:3], rng.randint(1, 2)))
        threshold = _threshold(rng)
        stairs.append(Stair(threshold, _reward(rng, list(Scope)), f"stair {number} {threshold}", group))
    prices = tuple((code, _unit_price(rng)) for code in rng.sample(CODES + ITEM_IDS, rng.randint(0, 4)))
    return PoolActivity(
        _key("ItemPoolActivity", serial), f"pool {serial}", _when(rng), _items(rng), tuple(stairs), prices,
        stack_stairs=rng.random() < 0.4,
        repeat=rng.random() < 0.3,
        ceiling=None if rng.random() < 0.7 else rng.randint(1, 10_000),
        priority=rng.randint(0, 2),
        exclude_special_price=rng.random() < 0.3,
        per_user_limit=None if rng.random() < 0.6 else rng.randint(1, 6),
        for_some_buyers=rng.random() < 0.3,
        reach=rng.choice([frozenset({"app"}), frozenset({"app", "pos"})]),
    )


def _order(rng: random.Random, serial: int) -> OrderDiscount:
    rewards = tuple(_reward(rng, [Scope.BASKET]) for _ in range(rng.choice([1, 1, 1, 2])))
    label = f"order {serial}"
    return OrderDiscount(_key("FullDiscount", serial), label, _when(rng), _items(rng), _threshold(rng), rewards,
                         rng.random() < 0.3)


def _coupon(rng: random.Random, serial: int) -> Coupon:
    return Coupon(_key("ShopCoupon", serial), f"coupon {serial}", _when(rng),
                  rng.choice([0, 0, 4_900, 10_000, 20_000, rng.randint(0, 60_000)]),
                  rng.choice([300, 500, 1_000, 2_000, 5_000, 10_000]))


def _gift(rng: random.Random, serial: int) -> CashGift:
    return CashGift(_key("TaokeCashGift", serial), f"gift {serial}", _when(rng), rng.choice(ITEM_IDS),
                    rng.randint(1, 3_000), rng.randint(1, 3))


MAKERS = [_special, _pool, _order, _coupon, _gift]


def _shop(seed: int, always_on: int = 0) -> tuple[list[Promotion], list[ListedItem], list[Floor]]:
    """A random shop; `always_on` more full discounts for every item, always running (so that
    baskets meet that many basket-level steps at least)."""
    rng = random.Random(seed)
    rules: list[Promotion] = [rng.choice(MAKERS)(rng, serial) for serial in range(rng.randint(1, 7))]
    rules += [_order(rng, 100 + serial) for serial in range(rng.randint(0, 2))]
    for serial in range(always_on):  # reached from the first units on
        threshold = rng.choice([NO_THRESHOLD, Threshold(count=2), Threshold(amount=1)])
        rules.append(replace(_order(rng, 200 + serial), items=Items(every=True), when=When(), threshold=threshold))
    rng.shuffle(rules)
    # Items share list prices: one priced for all those alike, when nothing else sets them apart.
    prices = [rng.choice([99, 990, 1_000, 4_899, 5_900, 15_000, rng.randint(1, 50_000)]) for _ in range(3)]
    items = [ListedItem(item_id, f"item {item_id}", rng.choice(prices), rng.choice([None, *CODES]))
             for item_id in ITEM_IDS]
    floors = [Floor(_key("PriceFloor", 0), items=tuple((i, rng.randint(0, 20_000)) for i in rng.sample(ITEM_IDS, 3)),
                    min_share=rng.choice([None, 300, 800]))]
    return rules, items, floors


def _same_worst_cases(seed: int, always_on: int = 0) -> None:
    rules, items, floors = _shop(seed, always_on)
    fast, slow = Pricer(tuple(rules)), reference.Pricer(tuple(rules))
    moment = NOW + timedelta(days=seed % 9, hours=seed % 24)
    for item in items:
        worst, expected = fast.worst_from(item, NOW), slow.worst_from(item, NOW)
        context = f"seed {seed}, item {item}"
        assert facts(worst) == facts(expected), context  # price, basket, moment, every step
        floor = floor_of(item, floors)
        assert (None if floor is None else (floor.price, floor.key, floor.share)) == reference_floor(item, floors)
        if floor is not None:  # the verdict: below the floor or not
            assert (worst.unit_price < floor.price) == (expected.unit_price < floor.price), context
        assert facts(fast.at(item, moment)) == facts(slow.at(item, moment)), context
        assert facts(quote(item, rules, moment)) == facts(reference.quote(item, rules, moment)), context


@pytest.mark.parametrize("chunk", range(4))
def test_worst_cases_are_exactly_what_trying_everything_finds(chunk: int) -> None:
    for seed in range(chunk * SHOPS // 4, (chunk + 1) * SHOPS // 4):
        _same_worst_cases(seed)


def test_beyond_max_ordered_steps_only_the_given_order_is_tried() -> None:
    for seed in range(SHOPS, SHOPS + 20):
        _same_worst_cases(seed, always_on=MAX_ORDERED_STEPS + 1)


@pytest.mark.parametrize(("always_on", "shops"), [(3, 12), (4, 5)])
def test_quotes_with_many_basket_steps(always_on: int, shops: int) -> None:
    # Up to six steps reached: the old search tried up to 720 orders a basket, so one moment only.
    for seed in range(SHOPS, SHOPS + shops):
        rules, items, _ = _shop(seed, always_on)
        for item in items[:2]:
            assert facts(quote(item, rules, NOW)) == facts(reference.quote(item, rules, NOW)), f"seed {seed}"


def test_the_cheapest_order_of_up_to_six_basket_steps() -> None:
    """One basket at a time (the old search's own functions against the new ones), so that many
    baskets with five or six steps reached, of every form and in every mix, are cheap to check:
    the least they leave and the steps shown, in the first cheapest order."""
    for seed in range(60):  # about 10 with six steps reached and 20 with five (720 and 120 orders)
        rng = random.Random(seed)
        item = ListedItem("1", "item", rng.choice([99, 990, 5_900, rng.randint(1, 30_000)]), "6901")
        units = rng.randint(1, 8)
        pool = replace(_pool(rng, 0), items=Items(every=True), when=When()) if rng.random() < 0.6 else None
        orders = [replace(_order(rng, serial), items=Items(every=True), when=When(),
                          threshold=rng.choice([NO_THRESHOLD, Threshold(count=rng.randint(1, 3)), Threshold(amount=1)]))
                  for serial in range(rng.randint(4, 6) - (pool is not None))]
        coupons = [_coupon(rng, serial) for serial in range(rng.randint(0, 2))]
        gifts = [replace(_gift(rng, 0), item_id="1")] if rng.random() < 0.3 else []
        unit = Fraction(rng.randint(0, item.list_price), rng.choice([1, 3, 1_000]))
        old_rules = reference._BasketRules(orders, coupons, gifts)
        expected_total, expected_steps = reference._basket(item, units, unit, pool, old_rules)
        rules = BasketRules(orders, coupons, gifts)
        parts = Parts()
        basket = Basket(item, units, pool, rules, parts, parts.coupons(rules, item.list_price))
        total, steps = basket.priced(unit)
        assert (total, steps) == (expected_total, expected_steps), f"seed {seed}"
        assert basket.total(unit) == expected_total, f"seed {seed}"


def _special_at(serial: int, form: Form, value: int) -> SpecialPrice:
    price = UnitPrice(form, value, f"{form.value} {value}")
    return SpecialPrice(_key("ItemDiscount", serial), price.label, When(), Items(every=True), price)


def _order_of(serial: int, *rewards: Reward, threshold: Threshold = NO_THRESHOLD) -> OrderDiscount:
    return OrderDiscount(_key("FullDiscount", serial), f"order {serial}", When(), Items(every=True), threshold, rewards)


TIES = {
    # Two item discounts, the first one dearer, both ending at the same basket price: the first wins.
    "a cap every unit reaches": [_special_at(0, Form.RATE, 900), _special_at(1, Form.RATE, 500),
                                 _order_of(2, Reward(Form.FIX_PRICE, 500))],
    "a cap one of them reaches": [_special_at(0, Form.RATE, 900), _special_at(1, Form.FIX_PRICE, 500),
                                  _order_of(2, Reward(Form.FIX_PRICE, 500))],
    "amounts off past zero": [_special_at(0, Form.RATE, 900), _special_at(1, Form.RATE, 500),
                              _order_of(2, Reward(Form.DECREASE, 400)), _order_of(3, Reward(Form.DECREASE, 600))],
    "a coupon larger than the basket": [_special_at(0, Form.RATE, 900), _special_at(1, Form.DECREASE, 500),
                                        Coupon(_key("ShopCoupon", 2), "coupon", When(), 0, 10_000)],
    "a gift larger than the basket": [_special_at(0, Form.RATE, 900), _special_at(1, Form.RATE, 500),
                                      CashGift(_key("TaokeCashGift", 2), "gift", When(), "1", 950, 1)],
    "a rate above 10折 among amounts off": [_special_at(0, Form.RATE, 900), _order_of(1, Reward(Form.RATE, 1_200)),
                                            _order_of(2, Reward(Form.DECREASE, 100)), _order_of(3, Reward(Form.RATE, 900)),
                                            _order_of(4, Reward(Form.RATE, 1_500), threshold=Threshold(count=2))],
}


@pytest.mark.parametrize("name", sorted(TIES))
def test_ties_and_edges_resolve_as_before(name: str) -> None:
    rules = TIES[name]
    for listed in (ListedItem("1", "item", 1_000, "6901"), ListedItem("1", "item", 999, "6901")):
        assert facts(quote(listed, rules, NOW)) == facts(reference.quote(listed, rules, NOW))
        assert facts(Pricer(tuple(rules)).worst_from(listed, NOW)) == facts(
            reference.Pricer(tuple(rules)).worst_from(listed, NOW))


def test_fixed_baskets_price_as_before() -> None:
    for seed in range(SHOPS, SHOPS + 60):
        rules, items, _ = _shop(seed)
        for item in items[:3]:
            for units in (1, 2, 3, 7):
                assert basket_price(item, units, rules, NOW) == reference.basket_price(item, units, rules, NOW), seed


def facts(worst: Quote | reference.Quote) -> tuple[object, ...]:
    """Everything a quote says (the two modules have their own Quote and Step classes): the item, the
    moment, the basket, the exact price and each step's promotion, label and amount, in order."""
    steps = tuple((step.key, step.label, step.taken) for step in worst.steps)
    return worst.item, worst.moment, worst.units, worst.exact, worst.unit_price, steps


def reference_floor(item: ListedItem, floors: list[Floor]) -> object:
    """floors.floor_of as it was: each floor's items read with dict() on every call."""
    best = None
    for floor in floors:
        candidates = []
        own = dict(floor.items).get(item.item_id)
        if own is not None:
            candidates.append((own, floor.key, None))
        if floor.min_share is not None:
            candidates.append((-(-item.list_price * floor.min_share // 1000), floor.key, floor.min_share))
        for candidate in candidates:
            if best is None or candidate[0] > best[0]:
                best = candidate
    return best
