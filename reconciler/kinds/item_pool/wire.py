"""ItemPoolActivity, manifest → wire: the methods, TOP's flag tables, and a manifest's activity and
pool items as activity.create and additem take them (fen, permille, epoch ms; each unit as the
method's page says)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from reconciler.kinds.base import NormaliseContext, ProblemCollector
from reconciler.i18n import _
from reconciler.kinds.common import end_after_start, fen, permille
from reconciler.kinds.units import UnitError, parse_iso, to_epoch_ms, whole_yuan
from reconciler.manifest import Document


CREATE = "alibaba.wdk.marketing.itempool.activity.create"
QUERY = "alibaba.wdk.marketing.itempool.queryactivity"
DELETE = "alibaba.wdk.marketing.itempool.deleteactivity"
ADD_ITEM = "alibaba.wdk.marketing.itempool.additem"
REMOVE_ITEM = "alibaba.wdk.marketing.itempool.removeitem"
QUERY_ITEMS = "alibaba.wdk.marketing.itempool.queryitems"


_TERMINALS = {"app": "1", "pos": "2"}
_MEMBERS = {"all": -1, "members_only": 1, "non_members": 2}
_WEEKDAYS = {"mon": "1", "tue": "2", "wed": "3", "thu": "4", "fri": "5", "sat": "6", "sun": "7"}
_CHANNELS = {"taoxianda": "31", "eleme": "3", "jddj": "26", "meituan": "2"}
_GROUP_TYPES = {"normal": 1, "exchange": 2, "gift": 3}
_LIMITS = {
    "per_user_daily": "user_daily_limit_cnt",
    "per_user": "user_limit_cnt",
    "total": "total_limit_cnt",
    "daily": "daily_limit_cnt",
}
_RULE_FLAGS = {
    "multi_stair_stack": "is_multi_mix",
    "item_overlay": "item_overlay",
    "no_ceiling": "enable_multiple",
    "check_all_conditions": "is_check_all_cond",
}
_SIMPLE_FLAGS = {"exclude_special_price": "exclude_single", "combined": "is_comb", "category": "is_category"}

# Discount forms as written in YAML → (flag, value field, unit) per wire rule object.
COVER_ALL = {
    "decrease": ("is_cover_all_decrease_money", "cover_all_decrease_money", "fen"),
    "rate": ("is_cover_all_discount_rate", "cover_all_discount_rate", "permille"),
    "fix_price": ("is_cover_all_fix_price", "cover_all_fix_price", "fen"),
    "each_fix_price": ("is_each_fix_price", "each_fix_price", "fen"),
}
CAP_COUNT = {
    "each_fix_price": ("is_cap_count_each_fix_price", "cap_count_each_fix_price", "fen"),
    "rate": ("is_cap_count_discount_rate", "cap_count_discount_rate", "permille"),
    "decrease": ("is_cap_count_decrease_money", "cap_count_decrease_money", "fen"),
    "fix_price": ("is_cap_count_fix_price", "cap_count_fix_price", "fen"),
}
NTH = {
    "rate": ("is_count_at_discount_rate", "count_at_discount_rate", "permille"),
    "decrease": ("is_count_at_decrease_money", "count_at_decrease_money", "fen"),
    "fix_price": ("is_count_at_fix_price", "count_at_fix_price", "fen"),
}
_SEPARATE = {"rate": "is_discount_rate", "decrease": "is_decrease", "fix_price": "is_fix_price"}


def activity_params(doc: Document, problems: ProblemCollector, ctx: NormaliseContext) -> dict[str, Any]:
    spec = doc.spec
    params: dict[str, Any] = {
        "activity_name": spec["title"],
        "description": spec["description"],
        "out_act_id": doc.name,
        "shop_ids": list(spec["shop_ids"]),
        "terminals": [_TERMINALS[t] for t in spec["terminals"]],
        "member_limit": _MEMBERS[spec.get("members", "all")],
    }
    params.update(_window(spec["window"], problems, ctx))
    crowd = spec.get("crowd") or {}
    if "merchant" in crowd:
        params["merchant_crowd_code"] = crowd["merchant"]
    if "txd" in crowd:
        params["txd_crowd_code"] = crowd["txd"]
    if "limits" in spec:
        params["limit_info"] = {_LIMITS[k]: v for k, v in spec["limits"].items()}
    if "period" in spec:
        params["period_config"] = _period(spec["period"], problems)
    if "priority" in spec:
        params["priority_value"] = spec["priority"]
    for yaml_key, wire_key in _SIMPLE_FLAGS.items():
        if yaml_key in spec:
            params[wire_key] = spec[yaml_key]
    if spec.get("channels"):
        params["by_channel"] = True
        params["channel_config_list"] = [{"channel": _CHANNELS[c]} for c in spec["channels"]]
    if "rule" in spec:
        params["activity_rule"] = _activity_rule(spec["rule"], problems)
    groups = spec.get("logic_groups") or []
    if groups:
        params["logic_group_rules"] = [_logic_group(g, i, problems) for i, g in enumerate(groups)]
        _check_unique([g["number"] for g in groups], ("spec", "logic_groups"), "number", problems)
    params["rule_stairs"] = [_stair(s, i, problems) for i, s in enumerate(spec["stairs"])]
    return params


def _window(window: Mapping[str, str], problems: ProblemCollector, ctx: NormaliseContext) -> dict[str, int]:
    try:
        start = parse_iso(window["start"])
        end = parse_iso(window["end"])
    except UnitError as exc:
        problems.add(("spec", "window"), str(exc))
        return {}
    if end <= start:
        problems.add(("spec", "window", "end"), end_after_start(window["end"], window["start"]))
    # A window already over is no problem of the file: the plan skips or leaves it (phase).
    return {"start_time": to_epoch_ms(start), "end_time": to_epoch_ms(end)}


def _period(period: Mapping[str, Any], problems: ProblemCollector) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if "weekdays" in period:
        config["weekdays"] = sorted((_WEEKDAYS[d] for d in period["weekdays"]), key=int)
    if "daily" in period:
        spans = []
        for index, span in enumerate(period["daily"]):
            start, end = (_with_seconds(part) for part in span.split("-"))
            if end <= start:
                problems.add(("spec", "period", "daily", index), _("'{span}' ends before it starts").format(span=span))
            spans.append(f"{start}_{end}")
        config["every_day_periods"] = spans
    return config


def _with_seconds(clock: str) -> str:
    return clock if clock.count(":") == 2 else f"{clock}:00"


def _activity_rule(rule: Mapping[str, Any], problems: ProblemCollector) -> dict[str, Any]:
    wire: dict[str, Any] = {wire_key: rule[key] for key, wire_key in _RULE_FLAGS.items() if key in rule}
    if "ceiling" in rule:
        wire["ceiling_amount"] = fen(rule["ceiling"], ("spec", "rule", "ceiling"), problems)
    if "depreciable" in rule:
        wire["discount_fee_mode"] = 1 if rule["depreciable"] else 0
    return wire


def _condition(when: Mapping[str, Any], path: tuple[Any, ...], problems: ProblemCollector) -> dict[str, Any]:
    if "amount_at_least" in when:
        return {"is_amount": True, "amount": fen(when["amount_at_least"], path + ("amount_at_least",), problems)}
    return {"is_count": True, "count": when["count_at_least"]}


def _stair(stair: Mapping[str, Any], index: int, problems: ProblemCollector) -> dict[str, Any]:
    path: tuple[Any, ...] = ("spec", "stairs", index)
    wire: dict[str, Any] = {"number": index + 1}
    wire.update(_condition(stair["when"], path + ("when",), problems))
    if "overlay_group_condition" in stair:
        wire["is_overlay_logic_group_condition"] = stair["overlay_group_condition"]
    (form, value), = stair["discount"].items()
    discount_path = path + ("discount", form)
    if form in COVER_ALL:
        wire["cover_all_discount_rule"] = _rule_object(COVER_ALL, form, value, discount_path, problems)
    elif form == "cap_count":
        (sub, sub_value), = value.items()
        wire["cap_count_discount_rule"] = _rule_object(CAP_COUNT, sub, sub_value, discount_path + (sub,), problems)
    elif form == "nth":
        (sub, sub_value), = value.items()
        wire["count_at_discount_rule"] = _rule_object(NTH, sub, sub_value, discount_path + (sub,), problems)
    elif form == "separate_pricing":
        wire["separate_pricing_discount_rule"] = {flag: flag == _SEPARATE[value] for flag in _SEPARATE.values()}
    return wire


def _rule_object(
    table: Mapping[str, tuple[str, str, str]], form: str, value: Any, path: tuple[Any, ...], problems: ProblemCollector
) -> dict[str, Any]:
    """The TOP rule objects carry one flag per form; exactly the chosen one is true."""
    flag, field, unit = table[form]
    wire: dict[str, Any] = {other_flag: other_flag == flag for other_flag, _, _ in table.values()}
    wire[field] = permille(value, path, problems) if unit == "permille" else fen(value, path, problems, positive=True)
    return wire


def _logic_group(group: Mapping[str, Any], index: int, problems: ProblemCollector) -> dict[str, Any]:
    path: tuple[Any, ...] = ("spec", "logic_groups", index)
    group_type = group.get("type", "normal")
    wire: dict[str, Any] = {"number": group["number"], "logic_group_type": _GROUP_TYPES[group_type]}
    if "when" in group:
        condition = _condition(group["when"], path + ("when",), problems)
        wire.update({k: v for k, v in condition.items() if k in ("amount", "count")})
    if group_type == "exchange" and "extra_items" not in group:
        problems.add(path, _("an exchange group needs extra_items (how many items a buyer may exchange)"))
    optional = {
        "extra_items": "can_extra_item_num",
        "exchange_name": "exchange_group_name",
        "exchange_order": "exchange_group_order",
        "ratio": "ratio",
        "effective": "is_effective_group",
    }
    wire.update({wire_key: group[key] for key, wire_key in optional.items() if key in group})
    if "discount" in group:
        (form, value), = group["discount"].items()
        wire["cover_all_discount_rule"] = _rule_object(COVER_ALL, form, value, path + ("discount", form), problems)
    return wire


def item_params(doc: Document, problems: ProblemCollector, activity: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    group_numbers = {g["number"] for g in activity.get("logic_group_rules", [])}
    separate = _separate_pricing_forms(activity)
    items: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(doc.spec.get("items") or []):
        path: tuple[Any, ...] = ("spec", "items", index)
        sku = item["sku"]
        if sku in items:
            problems.add(path + ("sku",), _("sku {sku} is listed twice in this pool").format(sku=sku))
            continue
        wire: dict[str, Any] = {"sku_code": sku}
        if "group" in item:
            if item["group"] not in group_numbers:
                problems.add(path + ("group",), _("logic group {group} is not declared in spec.logic_groups").format(
                    group=item["group"]))
            wire["logic_group_number"] = item["group"]
        wire.update(_item_price(item, path, problems))
        for form in separate:
            if form not in item:
                problems.add(path, _("a stair uses separate_pricing: {form}, so every item needs its own {form}").format(
                    form=form))
        items[sku] = wire
    return items


def _separate_pricing_forms(activity: Mapping[str, Any]) -> set[str]:
    forms: set[str] = set()
    for stair in activity["rule_stairs"]:
        rule = stair.get("separate_pricing_discount_rule")
        if rule:
            forms.update(form for form, flag in _SEPARATE.items() if rule[flag])
    return forms


def _item_price(item: Mapping[str, Any], path: tuple[Any, ...], problems: ProblemCollector) -> dict[str, Any]:
    # additem's units differ per field on its own page: fix_price in fen, rate as 300=3折, and
    # decrease_money in yuan. Each follows the page, so the conversions differ on purpose.
    if "fix_price" in item:
        return {"is_fix_price": True, "fix_price": fen(item["fix_price"], path + ("fix_price",), problems, positive=True)}
    if "rate" in item:
        return {"is_discount_rate": True, "discount_rate": permille(item["rate"], path + ("rate",), problems)}
    if "decrease" in item:
        amount = _decrease_money(item["decrease"], path + ("decrease",), problems)
        return {"is_decrease_money": True, "decrease_money": amount} if amount is not None else {}
    return {}


def _decrease_money(value: Any, path: tuple[Any, ...], problems: ProblemCollector) -> int | None:
    """additem's decrease_money, in whole yuan.

    TOP's sources disagree: the additem page says 减钱【元】 but types it as an integer (Number), the
    SDK's ItemPoolSku.decrease_money is int64 with doc "减钱【元】", while every other money field of
    the family (stairs' decrease_money, fix_price, amount) is fen. If it were really fen, sending
    yuan gives buyers 1/100 of the discount; sending fen where TOP reads yuan would give 100x.
    So whole yuan are sent as the page says, and an amount with fen in it is refused here rather
    than rounded (README: "Units that rest on one source").
    """
    try:
        amount = whole_yuan(value)
    except UnitError:
        problems.add(path, _("{value} yuan has fen in it: an item's own decrease is sent to TOP in whole yuan "
                             "(additem's page says 元 but types it as an integer, so fen cannot be sent safely); "
                             'use a whole amount such as "2.00", or a fix_price or rate for this item').format(
            value=value))
        return None
    if amount <= 0:
        problems.add(path, _("a decrease must be at least 1 yuan"))
        return None
    return amount


def _check_unique(values: Sequence[Any], path: tuple[Any, ...], field: str, problems: ProblemCollector) -> None:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            problems.add(path + (index, field), _("{field} {value} is used twice").format(field=field, value=value))
        seen.add(value)
