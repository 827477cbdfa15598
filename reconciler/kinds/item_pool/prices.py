"""ItemPoolActivity, prices: an activity as a price rule for the price guardrails (its items' own
prices, its stairs and logic-group discounts, and the flags that decide how it combines: see
reconciler.pricing.stacking)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.i18n import _
from reconciler.kinds.item_pool.wire import CAP_COUNT, COVER_ALL, NTH
from reconciler.kinds.price_terms import stair_text, threshold_text, unit_price
from reconciler.kinds.units import from_epoch_ms, yuan_to_fen
from reconciler.model import Resource
from reconciler.pricing.rules import (
    NO_THRESHOLD,
    Form,
    Items,
    Period,
    PoolActivity,
    Reward,
    Scope,
    Stair,
    Threshold,
    UnitPrice,
    When,
    Window,
)


# Wire rule forms → price forms. 整体一口价 (fix_price) prices the covered units together; 每件一口价
# (each_fix_price) prices each unit; 第N件一口价 prices the Nth unit, so it is a unit price there.
_PRICE_FORMS = {"decrease": Form.DECREASE, "rate": Form.RATE, "fix_price": Form.FIX_TOTAL, "each_fix_price": Form.FIX_PRICE}
_RULE_SCOPES = (
    ("cover_all_discount_rule", COVER_ALL, Scope.BASKET),
    ("cap_count_discount_rule", CAP_COUNT, Scope.THRESHOLD_UNITS),
    ("count_at_discount_rule", NTH, Scope.NTH),
)


def price_rule(resource: Resource) -> PoolActivity:
    activity = resource.spec["activity"]
    items: Mapping[str, Mapping[str, Any]] = resource.spec["items"]
    rule = activity.get("activity_rule") or {}
    stairs = [stair for wire in activity["rule_stairs"] if (stair := price_stair(wire)) is not None]
    stairs += _group_stairs(activity, items)
    limits = [int(v) for k, v in (activity.get("limit_info") or {}).items()
              if k in ("user_limit_cnt", "user_daily_limit_cnt") and int(v) > 0]
    return PoolActivity(
        key=resource.key,
        label=str(activity["activity_name"]),
        when=When(Window(from_epoch_ms(activity["start_time"]), from_epoch_ms(activity["end_time"])),
                  _price_period(activity.get("period_config"))),
        items=Items(codes=frozenset(items)),
        stairs=tuple(stairs),
        item_prices=tuple((sku, price) for sku, item in sorted(items.items()) if (price := own_price(item))),
        stack_stairs=bool(rule.get("is_multi_mix")),
        repeat=bool(rule.get("enable_multiple")),
        ceiling=int(rule["ceiling_amount"]) if rule.get("ceiling_amount") else None,
        priority=int(activity.get("priority_value") or 0),
        exclude_special_price=bool(activity.get("exclude_single")),
        per_user_limit=min(limits) if limits else None,
        for_some_buyers=activity.get("member_limit", -1) != -1
        or bool(activity.get("merchant_crowd_code") or activity.get("txd_crowd_code")),
        reach=frozenset([*(f"terminal {t}" for t in activity.get("terminals") or ()),
                         *(f"store {s}" for s in activity.get("shop_ids") or ())]),
    )


def _price_period(config: Mapping[str, Any] | None) -> Period | None:
    if not config:
        return None
    spans = []
    for span in config.get("every_day_periods") or ():
        start, end = (_seconds(part) for part in str(span).split("_"))
        spans.append((start, end))
    return Period(frozenset(int(day) for day in config.get("weekdays") or ()), tuple(spans))


def _seconds(clock: str) -> int:
    hours, minutes, seconds = (int(part) for part in clock.split(":"))
    return hours * 3600 + minutes * 60 + seconds


def price_threshold(wire: Mapping[str, Any]) -> Threshold:
    if wire.get("is_amount") or (wire.get("amount") and not wire.get("is_count")):
        return Threshold(amount=int(wire["amount"]))
    if wire.get("is_count") or wire.get("count"):
        return Threshold(count=int(wire["count"]))
    return NO_THRESHOLD


def _price_reward(wire: Mapping[str, Any]) -> Reward | None:
    for rule_name, table, scope in _RULE_SCOPES:
        rule = wire.get(rule_name) or {}
        for form, (flag, field, _unit) in table.items():
            if rule.get(flag):
                price_form = Form.FIX_PRICE if scope is Scope.NTH and form == "fix_price" else _PRICE_FORMS[form]
                return Reward(price_form, int(rule[field]), scope)
    return None  # separate_pricing: the items' own prices apply (item level)


def price_stair(wire: Mapping[str, Any]) -> Stair | None:
    reward = _price_reward(wire)
    if reward is None:
        return None
    threshold = price_threshold(wire)
    return Stair(threshold, reward, stair_text(threshold, reward))


def _group_stairs(activity: Mapping[str, Any], items: Mapping[str, Mapping[str, Any]]) -> list[Stair]:
    """A logic group's own discount, on the group's items, whenever the activity applies."""
    stairs = []
    for group in activity.get("logic_group_rules") or ():
        reward = _price_reward(group)
        if reward is None:
            continue
        members = frozenset(sku for sku, item in items.items() if item.get("logic_group_number") == group["number"])
        condition = threshold_text(price_threshold(group))
        label = (_("logic group {number}: {terms} (group condition {condition} not checked)") if condition
                 else _("logic group {number}: {terms}")).format(
            number=group["number"], terms=stair_text(NO_THRESHOLD, reward), condition=condition)
        stairs.append(Stair(NO_THRESHOLD, reward, label, members))
    return stairs


def own_price(item: Mapping[str, Any]) -> UnitPrice | None:
    """additem's units: fix_price in fen, discount_rate in permille, decrease_money in whole yuan."""
    if item.get("is_fix_price"):
        return unit_price(Form.FIX_PRICE, int(item["fix_price"]))
    if item.get("is_discount_rate"):
        return unit_price(Form.RATE, int(item["discount_rate"]))
    if item.get("is_decrease_money"):
        return unit_price(Form.DECREASE, yuan_to_fen(item["decrease_money"]))
    return None
