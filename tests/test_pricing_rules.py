"""The worst-case price of an item: hand-computed baskets for each rule and each combination, and
a property: adding a promotion never raises the worst case (unless TOP lets it take precedence).

Prices are in fen in the code and in yuan in the comments; every expected value is worked out by
hand in the comment above it.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.model import ResourceKey
from reconciler.pricing.floors import floor_of
from reconciler.pricing.moment import basket_price
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
    covers,
)
from reconciler.pricing.stacking import Pricer, moments, quote

FRIDAY_10AM = datetime(2027, 11, 5, 10, 0, tzinfo=GMT8)  # a Friday
TEA = ListedItem("1", "tea", 10_000, outer_id="6901")  # 100.00


def item(price: int) -> ListedItem:
    return ListedItem("1", "item", price, outer_id="6901")


def key(kind: str, name: str) -> ResourceKey:
    return ResourceKey("demo-shop", kind, name)


def special(form: Form, value: int, name: str = "special", *, for_some_buyers: bool = False,
            when: When = When()) -> SpecialPrice:
    price = UnitPrice(form, value, f"{form.value} {value}")
    return SpecialPrice(key("ItemDiscount", name), price.label, when, Items(ids=frozenset({"1"})), price, for_some_buyers)


def stair(threshold: Threshold, form: Form, value: int, scope: Scope = Scope.BASKET) -> Stair:
    return Stair(threshold, Reward(form, value, scope), f"{threshold} {form.value} {value}")


def pool(*stairs: Stair, name: str = "pool", prices: tuple[tuple[str, UnitPrice], ...] = (), when: When = When(),
         **flags: object) -> PoolActivity:
    return PoolActivity(key("ItemPoolActivity", name), name, when, Items(codes=frozenset({"6901"})), stairs, prices,
                        **flags)  # type: ignore[arg-type]


def order(threshold: Threshold, *rewards: Reward, repeat: bool = False, name: str = "order") -> OrderDiscount:
    return OrderDiscount(key("FullDiscount", name), name, When(), Items(every=True), threshold, rewards, repeat)


def coupon(denomination: int, threshold: int, name: str = "coupon") -> Coupon:
    return Coupon(key("ShopCoupon", name), name, When(), threshold, denomination)


def gift(amount: int, per_user: int = 1, item_id: str = "1") -> CashGift:
    return CashGift(key("TaokeCashGift", "gift"), "gift", When(), item_id, amount, per_user)


def price(listed: ListedItem, *rules: Promotion, at: datetime = FRIDAY_10AM) -> int:
    return quote(listed, rules, at).unit_price


AMOUNT_30 = Threshold(amount=3000)
AMOUNT_60 = Threshold(amount=6000)


# ---- one rule at a time ----------------------------------------------------------------------------


def test_no_promotion_is_the_list_price() -> None:
    worst = quote(TEA, [], FRIDAY_10AM)
    assert (worst.unit_price, worst.units, worst.steps) == (10_000, 1, ())


def test_item_discount_rate_and_decrease() -> None:
    # 100.00 × 0.85 = 85.00
    assert price(TEA, special(Form.RATE, 850)) == 8_500
    # 100.00 − 15.00 = 85.00; more than the price leaves 0.00, never less
    assert price(TEA, special(Form.DECREASE, 1_500)) == 8_500
    assert price(TEA, special(Form.DECREASE, 20_000)) == 0


def test_only_one_item_discount_applies_the_lowest() -> None:
    # 8折 → 80.00 and 5.00 off → 95.00: TOP runs one item discount per item, so 80.00, not 76.00
    worst = quote(TEA, [special(Form.RATE, 800, "a"), special(Form.DECREASE, 500, "b")], FRIDAY_10AM)
    assert worst.unit_price == 8_000
    assert [step.key.name for step in worst.steps] == ["a"]


def test_rates_keep_fractions_of_a_fen_and_round_down_once() -> None:
    # 0.99 × 0.85 = 0.8415 → 0.84 (down, the buyer's side)
    worst = quote(item(99), [special(Form.RATE, 850)], FRIDAY_10AM)
    assert worst.exact == Fraction(8415, 100) and worst.unit_price == 84


def test_full_discount_amount_threshold_needs_a_bigger_basket() -> None:
    # 满199减20 on 100.00: one unit (100.00) does not reach it; two (200.00) do:
    # (200.00 − 20.00) ÷ 2 = 90.00 a unit
    worst = quote(TEA, [order(Threshold(amount=19_900), Reward(Form.DECREASE, 2_000))], FRIDAY_10AM)
    assert (worst.unit_price, worst.units) == (9_000, 2)


def test_full_discount_count_threshold_with_a_rate() -> None:
    # 满3件8折 on 10.00: 3 × 10.00 × 0.8 = 24.00 → 8.00 a unit
    assert price(item(1_000), order(Threshold(count=3), Reward(Form.RATE, 800))) == 800


def test_full_discount_no_ceiling_counts_at_its_best_ratio() -> None:
    # 满199减20 上不封顶 on 150.00. Without repeating: 2 units, 300.00 − 20.00 = 280.00 → 140.00.
    # Repeating, a basket of exactly a multiple (199 units = 29,850.00 = 150 × 199.00) takes
    # 150 × 20.00 = 3,000.00: 26,850.00 ÷ 199 = 134.924… → 134.92, i.e. 150.00 × (1 − 20 ÷ 199).
    once = order(Threshold(amount=19_900), Reward(Form.DECREASE, 2_000))
    repeating = order(Threshold(amount=19_900), Reward(Form.DECREASE, 2_000), repeat=True)
    assert price(item(15_000), once) == 14_000
    assert price(item(15_000), repeating) == 13_492


def test_coupon_applies_exactly_at_its_threshold() -> None:
    # 5.00 off from 49.00, item at 49.00: one unit reaches it → 44.00
    assert price(item(4_900), coupon(500, 4_900)) == 4_400


def test_coupon_one_fen_below_its_threshold_needs_two_units() -> None:
    # item at 48.99: one unit (48.99) is below 49.00, no coupon; two units (97.98) reach it:
    # (97.98 − 5.00) ÷ 2 = 46.49
    worst = quote(item(4_899), [coupon(500, 4_900)], FRIDAY_10AM)
    assert (worst.unit_price, worst.units) == (4_649, 2)


def test_thresholds_are_measured_on_the_list_price() -> None:
    # Seed 001 checks a coupon's threshold against the item's 原价 (zk_final_price or reserve_price);
    # TOP's pages do not say whether thresholds count the price before or after the item discount.
    # The list price reaches a threshold sooner, so it is the one used: 60.00 at 8折 = 48.00, and
    # one unit (60.00 listed) reaches 49.00: 48.00 − 5.00 = 43.00
    worst = quote(item(6_000), [special(Form.RATE, 800), coupon(500, 4_900)], FRIDAY_10AM)
    assert (worst.unit_price, worst.units) == (4_300, 1)


def test_one_coupon_an_order_the_one_taking_most() -> None:
    # 100.00: 10.00 off from 100.00 and 3.00 off any order: one coupon only → 90.00, not 87.00
    assert price(TEA, coupon(1_000, 10_000, "ten"), coupon(300, 0, "three")) == 9_000


def test_cash_gift_for_its_item_only_one_per_unit_up_to_the_buyers_gifts() -> None:
    # 20.00 with a 5.00 gift, 2 a buyer: 15.00 a unit; a gift for another item changes nothing
    assert price(item(2_000), gift(500, per_user=2)) == 1_500
    assert price(item(2_000), gift(500, item_id="2")) == 2_000


def test_pool_stair_on_the_pool_items() -> None:
    # 满30减12 on 10.00: 3 units = 30.00 − 12.00 = 18.00 → 6.00
    worst = quote(item(1_000), [pool(stair(AMOUNT_30, Form.DECREASE, 1_200))], FRIDAY_10AM)
    assert (worst.unit_price, worst.units) == (600, 3)
    outside = ListedItem("2", "other", 1_000, outer_id="7000")
    assert price(outside, pool(stair(AMOUNT_30, Form.DECREASE, 1_200))) == 1_000


def test_pool_items_own_price_is_the_item_level_price() -> None:
    # own price 9.90, then 满30减12 (3 units listed at 30.00 reach it): 29.70 − 12.00 = 17.70 → 5.90
    own = (("6901", UnitPrice(Form.FIX_PRICE, 990, "一口价9.90元")),)
    assert price(item(1_000), pool(stair(AMOUNT_30, Form.DECREASE, 1_200), prices=own)) == 590


def test_item_discount_and_pool_price_in_the_order_that_costs_most() -> None:
    # 10.00 with 8折 and a pool price of 9.00: pool first → 9.00 × 0.8 = 7.20; discount first →
    # 8.00, and a fixed 9.00 never raises it → 8.00. TOP's order is not documented: 7.20.
    own = (("6901", UnitPrice(Form.FIX_PRICE, 900, "一口价9.00元")),)
    assert price(item(1_000), special(Form.RATE, 800), pool(prices=own)) == 720


def test_nth_unit_and_threshold_units_and_each_fix_price() -> None:
    two, three = Threshold(count=2), Threshold(count=3)
    # 第2件5折 on 10.00: 10.00 + 5.00 = 15.00 for 2 → 7.50
    assert price(item(1_000), pool(stair(two, Form.RATE, 500, Scope.NTH))) == 750
    # 指定3件一口价20.00: 20.00 ÷ 3 = 6.666… → 6.66
    assert price(item(1_000), pool(stair(three, Form.FIX_TOTAL, 2_000, Scope.THRESHOLD_UNITS))) == 666
    # 满2件每件5.00: 5.00
    assert price(item(1_000), pool(stair(two, Form.FIX_PRICE, 500))) == 500


# ---- combinations --------------------------------------------------------------------------------


def test_everything_stacks_in_taobao_order() -> None:
    # 100.00 → 8折 = 80.00 a unit. Two units (200.00 listed ≥ 150.00) → 满150减20: 160.00 − 20.00 =
    # 140.00; the coupon (from 100.00 listed) → 130.00; one 5.00 gift a buyer → 125.00 ÷ 2 = 62.50.
    # (One unit: 80.00 − 10.00 coupon − 5.00 gift = 65.00.)
    rules = [
        special(Form.RATE, 800),
        order(Threshold(amount=15_000), Reward(Form.DECREASE, 2_000)),
        coupon(1_000, 10_000),
        gift(500),
    ]
    worst = quote(TEA, rules, FRIDAY_10AM)
    assert (worst.unit_price, worst.units) == (6_250, 2)
    assert [(step.key.kind, step.taken) for step in worst.steps] == [
        ("ItemDiscount", 2_000),  # 20.00 a unit
        ("FullDiscount", 1_000),  # 20.00 ÷ 2
        ("ShopCoupon", 500),  # 10.00 ÷ 2
        ("TaokeCashGift", 250),  # 5.00 ÷ 2
    ]


def test_is_multi_mix_stacks_every_reached_stair_otherwise_the_best_one() -> None:
    stairs = (stair(AMOUNT_30, Form.DECREASE, 1_200), stair(AMOUNT_60, Form.DECREASE, 3_000))
    # one stair: 3 units → 18.00 ÷ 3 = 6.00; 6 units → 60.00 − 30.00 = 30.00 ÷ 6 = 5.00 → 5.00
    assert price(item(1_000), pool(*stairs)) == 500
    # stacked: 6 units → 60.00 − 12.00 − 30.00 = 18.00 ÷ 6 = 3.00
    assert price(item(1_000), pool(*stairs, stack_stairs=True)) == 300


def test_enable_multiple_repeats_the_decrease_at_its_best_ratio() -> None:
    # 满30减12 on 7.00. Once: 5 units = 35.00 − 12.00 = 23.00 → 4.60.
    # 上不封顶: 12.00 per 30.00 → 7.00 × 12 ÷ 30 = 2.80 off each → 4.20 (a basket of 30 units =
    # 210.00 takes 7 × 12.00 = 84.00: 126.00 ÷ 30 = 4.20)
    assert price(item(700), pool(stair(AMOUNT_30, Form.DECREASE, 1_200))) == 460
    assert price(item(700), pool(stair(AMOUNT_30, Form.DECREASE, 1_200), repeat=True)) == 420


def test_ceiling_caps_what_an_activity_takes() -> None:
    stairs = (stair(AMOUNT_30, Form.DECREASE, 1_200), stair(AMOUNT_60, Form.DECREASE, 3_000))
    # stacked 42.00 capped at 20.00: 6 units → 40.00 ÷ 6 = 6.66; 3 units → 18.00 ÷ 3 = 6.00 → 6.00
    assert price(item(1_000), pool(*stairs, stack_stairs=True, ceiling=2_000)) == 600


def test_priority_only_the_highest_pool_applies() -> None:
    shallow = pool(stair(AMOUNT_30, Form.DECREASE, 300), name="shallow", priority=10)
    deep = pool(stair(AMOUNT_30, Form.DECREASE, 1_200), name="deep", priority=5)
    # the higher one (满30减3): 27.00 ÷ 3 = 9.00; the deep one never applies
    assert price(item(1_000), shallow, deep) == 900
    # equal priority: TOP does not say which, so the lower of them: 18.00 ÷ 3 = 6.00
    assert price(item(1_000), shallow, pool(stair(AMOUNT_30, Form.DECREASE, 1_200), name="deep", priority=10)) == 600
    # the higher one for members only: other buyers get the deep one → 6.00
    members = pool(stair(AMOUNT_30, Form.DECREASE, 300), name="shallow", priority=10, for_some_buyers=True)
    assert price(item(1_000), members, deep) == 600
    # the higher one only in the app: at the POS the deep one applies → 6.00
    app = pool(stair(AMOUNT_30, Form.DECREASE, 300), name="shallow", priority=10, reach=frozenset({"terminal 1"}))
    pos_too = pool(stair(AMOUNT_30, Form.DECREASE, 1_200), name="deep", priority=5,
                   reach=frozenset({"terminal 1", "terminal 2"}))
    assert price(item(1_000), app, pos_too) == 600


def test_exclude_single_keeps_the_pool_off_items_with_a_special_price() -> None:
    excluding = pool(stair(AMOUNT_30, Form.DECREASE, 1_200), exclude_special_price=True)
    # 9.5折 → 9.50 and the pool stays out: 9.50
    assert price(item(1_000), special(Form.RATE, 950), excluding) == 950
    # without exclude_single both apply: 3 × 9.50 = 28.50 − 12.00 = 16.50 → 5.50
    assert price(item(1_000), special(Form.RATE, 950), pool(stair(AMOUNT_30, Form.DECREASE, 1_200))) == 550
    # a special price for tagged buyers only: untagged buyers get the pool → 6.00
    assert price(item(1_000), special(Form.RATE, 950, for_some_buyers=True), excluding) == 600


def test_per_buyer_limit_caps_the_basket() -> None:
    # 满3件8折 but at most 2 a buyer: the pool is never reached → 10.00
    assert price(item(1_000), pool(stair(Threshold(count=3), Form.RATE, 800), per_user_limit=2)) == 1_000
    assert price(item(1_000), pool(stair(Threshold(count=3), Form.RATE, 800), per_user_limit=3)) == 800


def test_logic_group_discount_covers_its_items_only() -> None:
    group = Stair(NO_THRESHOLD, Reward(Form.FIX_PRICE, 100), "exchange at 1.00", frozenset({"6901"}))
    assert price(item(1_000), pool(group)) == 100
    other = Stair(NO_THRESHOLD, Reward(Form.FIX_PRICE, 100), "exchange at 1.00", frozenset({"7000"}))
    assert price(item(1_000), pool(other)) == 1_000


# ---- time --------------------------------------------------------------------------------------------


MONDAY_EARLY = Period(frozenset({1}), ((3 * 3600, 5 * 3600),))


def test_a_period_outside_the_moment_does_not_apply() -> None:
    weekly = pool(stair(AMOUNT_30, Form.DECREASE, 1_200), when=When(period=MONDAY_EARLY))
    assert price(item(1_000), weekly) == 1_000  # Friday 10:00
    monday_4am = datetime(2027, 11, 8, 4, 0, tzinfo=GMT8)
    assert price(item(1_000), weekly, at=monday_4am) == 600
    assert price(item(1_000), weekly, at=monday_4am.replace(hour=5)) == 1_000  # the span ends at 05:00


def test_worst_from_looks_at_every_moment_ahead() -> None:
    weekly = pool(stair(AMOUNT_30, Form.DECREASE, 1_200), when=When(period=MONDAY_EARLY))
    later = special(Form.RATE, 800, when=When(Window(start=FRIDAY_10AM + timedelta(days=30))))
    worst = Pricer((weekly, later)).worst_from(item(1_000), FRIDAY_10AM)
    # the pool alone (next Monday 03:00): 18.00 ÷ 3 = 6.00. From 30 days on, on a Monday morning,
    # both: 8.00 a unit, 3 × 8.00 = 24.00 − 12.00 = 12.00 → 4.00
    assert worst.unit_price == 400 and worst.moment.isoweekday() == 1
    assert worst.moment >= FRIDAY_10AM + timedelta(days=30)


def test_moments_include_window_edges_and_period_edges_after_each() -> None:
    ended = special(Form.RATE, 500, when=When(Window(FRIDAY_10AM - timedelta(days=9), FRIDAY_10AM - timedelta(days=1))))
    assert price(TEA, ended) == 10_000
    assert Pricer((ended,)).worst_from(TEA, FRIDAY_10AM).unit_price == 10_000
    points = moments([pool(when=When(period=MONDAY_EARLY))], FRIDAY_10AM)
    assert datetime(2027, 11, 8, 3, 0, tzinfo=GMT8) in points and datetime(2027, 11, 8, 5, 0, tzinfo=GMT8) in points


# ---- floors ------------------------------------------------------------------------------------------


def test_floor_is_the_highest_of_item_and_share_rounded_up() -> None:
    floors = [Floor(key("PriceFloor", "a"), min_share=500), Floor(key("PriceFloor", "b"), items=(("1", 4_000),))]
    # 50 % of 100.01 = 50.005 → 50.01 (up); the item floor 40.00 is lower
    assert floor_of(item(10_001), floors).price == 5_001  # type: ignore[union-attr]
    assert floor_of(item(7_000), floors).price == 4_000  # type: ignore[union-attr]  # 35.00 vs 40.00
    assert floor_of(ListedItem("2", "x", 7_000), floors[1:]) is None


# ---- the property: adding a promotion never raises the worst case -------------------------------------

ITEMS = st.sampled_from([Items(ids=frozenset({"1"})), Items(every=True), Items(ids=frozenset({"2"}))])
CODES = st.sampled_from([Items(codes=frozenset({"6901"})), Items(codes=frozenset({"1"})), Items(codes=frozenset({"x"}))])
THRESHOLDS = st.one_of(
    st.just(NO_THRESHOLD),
    st.builds(Threshold, amount=st.integers(1, 40_000)),
    st.builds(Threshold, count=st.integers(1, 6)),
)
WHENS = st.one_of(
    st.just(When()),
    st.builds(lambda days, length: When(Window(FRIDAY_10AM + timedelta(days=days), FRIDAY_10AM + timedelta(days=days + length))),
              st.integers(-3, 20), st.integers(1, 10)),
    st.builds(lambda day, hour: When(period=Period(frozenset({day}), ((hour * 3600, (hour + 2) * 3600),))),
              st.integers(1, 7), st.integers(0, 21)),
)


def _value(form: Form) -> st.SearchStrategy[int]:
    return st.integers(100, 990) if form is Form.RATE else st.integers(1, 20_000)


def _reward(scope: st.SearchStrategy[Scope] = st.sampled_from(list(Scope))) -> st.SearchStrategy[Reward]:
    return st.sampled_from(list(Form)).flatmap(lambda form: st.builds(Reward, st.just(form), _value(form), scope))


def _unit_price() -> st.SearchStrategy[UnitPrice]:
    forms = st.sampled_from([Form.FIX_PRICE, Form.RATE, Form.DECREASE])
    return forms.flatmap(lambda form: st.builds(UnitPrice, st.just(form), _value(form)))


NAMES = st.sampled_from(["a", "b", "c", "d", "e", "f"])
SPECIALS = st.builds(lambda name, price, some, when: SpecialPrice(key("ItemDiscount", name), "", when, Items(ids=frozenset({"1"})), price, some),
                     NAMES, _unit_price(), st.booleans(), WHENS)
POOLS = st.builds(
    lambda name, items, stairs, prices, mix, repeat, ceiling, priority, exclude, limit, some, reach, when: PoolActivity(
        key("ItemPoolActivity", name), "", when, items, tuple(stairs), prices, mix, repeat, ceiling, priority, exclude, limit, some, reach),
    NAMES, CODES,
    st.lists(st.builds(Stair, THRESHOLDS, _reward(), st.just(""), st.sampled_from([None, frozenset({"6901"})])), max_size=3),
    st.lists(st.tuples(st.sampled_from(["6901", "x"]), _unit_price()), max_size=1).map(tuple),
    st.booleans(), st.booleans(), st.one_of(st.none(), st.integers(1, 10_000)), st.integers(0, 3), st.booleans(),
    st.one_of(st.none(), st.integers(1, 6)), st.booleans(),
    st.sampled_from([frozenset({"terminal 1"}), frozenset({"terminal 1", "terminal 2"})]), WHENS,
)
ORDERS = st.builds(
    lambda name, items, threshold, rewards, repeat, when: OrderDiscount(key("FullDiscount", name), "", when, items, threshold, tuple(rewards), repeat),
    NAMES, ITEMS, THRESHOLDS, st.lists(_reward(st.just(Scope.BASKET)), min_size=1, max_size=2), st.booleans(), WHENS,
)
COUPONS = st.builds(lambda name, denomination, threshold, when: Coupon(key("ShopCoupon", name), "", when, threshold, denomination),
                    NAMES, st.sampled_from([300, 500, 1_000, 2_000, 5_000, 10_000]), st.integers(0, 30_000), WHENS)
GIFTS = st.builds(lambda name, amount, per_user, item_id, when: CashGift(key("TaokeCashGift", name), "", when, item_id, amount, per_user),
                  NAMES, st.integers(1, 3_000), st.integers(1, 3), st.sampled_from(["1", "2"]), WHENS)
PROMOTIONS = st.one_of(SPECIALS, POOLS, ORDERS, COUPONS, GIFTS)
LISTED = st.builds(lambda price: ListedItem("1", "item", price, outer_id="6901"), st.integers(1, 50_000))


def takes_precedence(added: Promotion, existing: list[Promotion], listed: ListedItem) -> bool:
    """The two ways TOP withdraws a promotion when another arrives: a pool activity of higher
    priority over another pool on the item, or a special price on an item of an exclude_single pool."""
    pools = [rule for rule in existing if isinstance(rule, PoolActivity) and covers(rule, listed)]
    if isinstance(added, PoolActivity) and covers(added, listed):
        return any(added.outranks(other) for other in pools)
    if isinstance(added, SpecialPrice) and covers(added, listed):
        return any(other.exclude_special_price for other in pools)
    return False


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LISTED, st.lists(PROMOTIONS, max_size=5), PROMOTIONS)
def test_adding_a_promotion_never_raises_the_worst_case(listed: ListedItem, existing: list[Promotion], added: Promotion) -> None:
    before = Pricer(tuple(existing))
    after = Pricer((*existing, added))
    at_moment = quote(listed, [*existing, added], FRIDAY_10AM).exact <= quote(listed, existing, FRIDAY_10AM).exact
    from_now = after.worst_from(listed, FRIDAY_10AM).exact <= before.worst_from(listed, FRIDAY_10AM).exact
    if not takes_precedence(added, existing, listed):
        assert at_moment and from_now


def test_a_cent_off_the_item_does_not_lose_a_threshold() -> None:
    # 10.00 with 满30减12: 3 units → 6.00. One fen off the item (9.99) must not push the basket off
    # the threshold (3 × 9.99 = 29.97): thresholds count the list price, 30.00 → 29.97 − 12.00 → 5.99
    deal = pool(stair(AMOUNT_30, Form.DECREASE, 1_200))
    assert price(item(1_000), deal) == 600
    assert price(item(1_000), deal, special(Form.DECREASE, 1)) == 599


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.builds(lambda price: ListedItem("1", "item", price, outer_id="6901"), st.integers(100, 3_000)),
       st.lists(PROMOTIONS, max_size=4))
def test_the_basket_sizes_tried_find_the_cheapest_of_all(listed: ListedItem, rules: list[Promotion]) -> None:
    worst = quote(listed, rules, FRIDAY_10AM)
    largest = max([worst.units, *(t for r in rules for t in _threshold_sizes(r, listed))])
    every_size = [basket_price(listed, units, rules, FRIDAY_10AM) for units in range(1, largest + 12)]
    assert worst.exact == min([Fraction(listed.list_price), *every_size])


def _threshold_sizes(rule: Promotion, listed: ListedItem) -> list[int]:
    thresholds = [s.threshold for s in rule.stairs] if isinstance(rule, PoolActivity) else []
    thresholds += [rule.threshold] if isinstance(rule, OrderDiscount) else []
    thresholds += [Threshold(amount=rule.threshold)] if isinstance(rule, Coupon) else []
    return [t.count or -(-(t.amount or 0) // listed.list_price) for t in thresholds]


def test_the_exceptions_to_the_property_are_real() -> None:
    deep = pool(stair(AMOUNT_30, Form.DECREASE, 1_200), name="deep", priority=1)
    shallow_higher = pool(stair(AMOUNT_30, Form.DECREASE, 100), name="shallow", priority=2)
    assert price(item(1_000), deep, shallow_higher) > price(item(1_000), deep)
    excluding = pool(stair(AMOUNT_30, Form.DECREASE, 1_200), exclude_special_price=True)
    assert price(item(1_000), excluding, special(Form.RATE, 990)) > price(item(1_000), excluding)


@pytest.mark.parametrize("listed_price", [1, 99, 4_899, 4_900, 15_000])
def test_every_step_adds_up_to_the_exact_price(listed_price: int) -> None:
    rules = [special(Form.RATE, 850), order(Threshold(amount=19_900), Reward(Form.DECREASE, 2_000), repeat=True),
             coupon(500, 4_900), gift(300)]
    worst = quote(item(listed_price), rules, FRIDAY_10AM)
    assert listed_price - sum(step.taken for step in worst.steps) == worst.exact
