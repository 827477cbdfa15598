"""Each kind's price rules (Kind.price_rules) from its normalised spec: the wire units read back
right (fen, permille, epoch ms, GMT+8 times), and the flags that decide how promotions combine."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from reconciler.engine.plan import desired_resources
from reconciler.kinds import KINDS
from reconciler.manifest import load_manifest_texts, load_manifests
from reconciler.model import Resource
from reconciler.pricing.rules import (
    GMT8,
    CashGift,
    Coupon,
    Floor,
    Form,
    Items,
    OrderDiscount,
    Period,
    PoolActivity,
    Reward,
    Scope,
    SpecialPrice,
    Threshold,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
CAMPAIGNS = Path(__file__).resolve().parents[1] / "campaigns"


@pytest.fixture(scope="module")
def demo() -> dict[str, Resource]:
    resources = desired_resources(load_manifests([str(CAMPAIGNS)]), NOW)
    return {resource.key.name: resource for resource in resources}


def rules_of(resource: Resource) -> list[object]:
    return list(KINDS[resource.key.kind].price_rules(resource))


def test_item_discount_is_a_special_price(demo: dict[str, Resource]) -> None:
    (rule,) = rules_of(demo["double11-tea-85"])
    assert isinstance(rule, SpecialPrice)
    assert (rule.price.form, rule.price.value, rule.price.label) == (Form.RATE, 850, "8.5折")
    assert rule.items == Items(ids=frozenset({"220000000101", "220000000102", "220000000103"}))
    # TOP's end_time is the last second that counts
    assert rule.when.window.start == datetime(2027, 11, 1, tzinfo=GMT8)
    assert rule.when.window.end == datetime(2027, 11, 12, tzinfo=GMT8) + timedelta(seconds=1)


def test_full_discount_repeats_on_the_whole_shop(demo: dict[str, Resource]) -> None:
    (rule,) = rules_of(demo["double11-199-minus-20"])
    assert isinstance(rule, OrderDiscount)
    assert rule.threshold == Threshold(amount=19_900) and rule.repeat
    assert rule.rewards == (Reward(Form.DECREASE, 2_000),)
    assert rule.items == Items(every=True)
    assert rule.label == "满199.00元减20.00元，上不封顶"


def test_shop_coupon_threshold_and_denomination_in_fen(demo: dict[str, Resource]) -> None:
    (rule,) = rules_of(demo["welcome-5-off-49"])
    assert isinstance(rule, Coupon)
    assert (rule.threshold, rule.denomination) == (4_900, 500)
    assert rule.when.window.contains(datetime(2027, 3, 31, 23, 59, 59, tzinfo=GMT8))
    assert not rule.when.window.contains(datetime(2027, 4, 1, tzinfo=GMT8))
    assert KINDS["ShopCoupon"].prices_outlive_changes  # a replaced coupon stays valid


def test_cash_gift_is_usable_until_its_use_days_end(demo: dict[str, Resource]) -> None:
    (relative,) = rules_of(demo["fresh-618-gift"])
    assert isinstance(relative, CashGift)
    assert (relative.item_id, relative.amount, relative.per_user) == ("220000000024", 500, 1)
    # claimed until 2027-06-21 00:00, usable 3 days after a claim
    assert relative.when.window.end == datetime(2027, 6, 24, tzinfo=GMT8)
    (absolute,) = rules_of(demo["double11-snack-gift"])
    assert isinstance(absolute, CashGift)
    assert (absolute.amount, absolute.per_user) == (250, 2)
    # use {from: 2027-11-11, until: 2027-11-12}: from 11-11 00:00 to the end of 11-12, GMT+8
    assert absolute.when.window.start == datetime(2027, 11, 11, tzinfo=GMT8)
    assert absolute.when.window.end == datetime(2027, 11, 13, tzinfo=GMT8)


def test_pool_activity_carries_period_priority_audience_and_limits(demo: dict[str, Resource]) -> None:
    (rule,) = rules_of(demo["breakfast-weekday-mornings"])
    assert isinstance(rule, PoolActivity)
    assert rule.when.period == Period(frozenset({1, 2, 3, 4, 5}), ((7 * 3600, 9 * 3600),))
    assert rule.when.window.start == datetime(2027, 6, 1, tzinfo=GMT8)
    assert rule.priority == 10 and rule.for_some_buyers  # members only
    assert [(s.threshold, s.reward) for s in rule.stairs] == [(Threshold(count=2), Reward(Form.RATE, 800))]
    assert rule.items.codes == frozenset({"6902000000017", "6902000000024", "6902000000031"})
    (fresh,) = rules_of(demo["fresh-618-30-12"])
    assert isinstance(fresh, PoolActivity)
    assert fresh.per_user_limit == 20 and not fresh.for_some_buyers
    assert fresh.reach == frozenset({"terminal 1", "terminal 2", "store 1001", "store 1002"})


def test_pool_items_own_prices_and_logic_groups(demo: dict[str, Resource]) -> None:
    (rule,) = rules_of(demo["fruit-exchange-49"])
    assert isinstance(rule, PoolActivity)
    prices = {code: (price.form, price.value) for code, price in rule.item_prices}
    assert prices == {
        "6903000000016": (Form.FIX_PRICE, 4_500),
        "6903000000023": (Form.FIX_PRICE, 2_990),
        "6903000000030": (Form.FIX_PRICE, 100),
    }
    # the separate_pricing stair is the items' own prices; the exchange group's 1.00 each is a stair
    # on the group's items only
    (group,) = rule.stairs
    assert group.reward == Reward(Form.FIX_PRICE, 100, Scope.BASKET) and group.codes == frozenset({"6903000000030"})


SHOP = "apiVersion: campaigns/v1\nkind: Shop\nmetadata: {name: demo-shop}\nspec: {}\n"


def test_pool_rule_flags_and_reward_scopes() -> None:
    text = """\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata: {name: flags, shop: demo-shop}
spec:
  title: 旗标
  description: flags
  window: {start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}
  shop_ids: ["1001"]
  terminals: [app]
  exclude_special_price: true
  rule: {multi_stair_stack: true, no_ceiling: true, ceiling: "50.00"}
  limits: {per_user: 5, per_user_daily: 2}
  stairs:
    - when: {count_at_least: 3}
      discount: {cap_count: {fix_price: "20.00"}}
    - when: {count_at_least: 2}
      discount: {nth: {rate: 0.5}}
  items:
    - {sku: "1"}
"""
    (resource,) = desired_resources(load_manifest_texts([("shops.yaml", SHOP), ("p.yaml", text)]), NOW)
    (rule,) = rules_of(resource)
    assert isinstance(rule, PoolActivity)
    assert (rule.stack_stairs, rule.repeat, rule.ceiling, rule.exclude_special_price) == (True, True, 5_000, True)
    assert rule.per_user_limit == 2  # the tighter of per_user and per_user_daily
    assert [s.reward for s in rule.stairs] == [
        Reward(Form.FIX_TOTAL, 2_000, Scope.THRESHOLD_UNITS),
        Reward(Form.RATE, 500, Scope.NTH),
    ]
    assert [s.label for s in rule.stairs] == ["满3件指定件数一口价20.00元", "满2件第2件5折"]


def test_price_floor_normalises_to_fen_and_permille() -> None:
    text = """\
apiVersion: campaigns/v1
kind: PriceFloor
metadata: {name: floors, shop: demo-shop}
spec:
  min_share_of_list: 0.45
  items: {"220000000001": "59.90"}
"""
    manifests = load_manifest_texts([("shops.yaml", SHOP), ("f.yaml", text)])
    (resource,) = desired_resources(manifests, NOW)
    assert resource.spec == {"min_share_permille": 450, "items": {"220000000001": 5_990}}
    assert rules_of(resource) == [Floor(resource.key, (("220000000001", 5_990),), 450)]
    kind = KINDS["PriceFloor"]
    assert kind.plan_change(resource, None, None, None) is None  # type: ignore[arg-type]  # never a TOP call


def test_allow_below_floor_travels_on_the_resource() -> None:
    text = """\
apiVersion: campaigns/v1
kind: ItemDiscount
metadata: {name: clearance, shop: demo-shop, allow_below_floor: "last season's stock"}
spec:
  title: 清仓
  window: {start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}
  discount: {rate: 0.3}
  items: ["1"]
"""
    manifests = load_manifest_texts([("shops.yaml", SHOP), ("d.yaml", text)])
    (resource,) = desired_resources(manifests, NOW)
    assert resource.allow_below_floor == "last season's stock"
