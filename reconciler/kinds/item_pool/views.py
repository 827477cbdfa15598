"""ItemPoolActivity, what TOP shows: an activity as queryactivity returns it, worked out from the
params it was created with (query_view) and read from TOP's answer (live_view), both in one
canonical form (ints, no empties) so that comparing them finds drift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.kinds.item_pool.wire import QUERY
from reconciler.kinds.units import whole_as_int
from reconciler.top.answers import top_list, top_rows


# activity.create's page (../shared/top-api/methods/alibaba.wdk.marketing.itempool.activity.create.json),
# limit_info: "-1为不限制，默认为不限制": a limit of -1 means none, as a limit not sent does.
NO_LIMIT = -1


def query_view(activity: Mapping[str, Any]) -> dict[str, Any]:
    """What queryactivity returns for an activity created with these params.

    The sandbox implements the same mapping independently; a disagreement shows up as a plan
    that never converges in the contract tests.
    """
    stairs = activity["rule_stairs"]
    groups = activity.get("logic_group_rules") or []
    exchange = next((g for g in groups if g.get("logic_group_type") == 2), None)
    enable_multiple = bool((activity.get("activity_rule") or {}).get("enable_multiple", False))
    view: dict[str, Any] = {
        "out_act_id": activity["out_act_id"],
        "activity_name": activity["activity_name"],
        "description": activity["description"],
        "start_time": activity["start_time"],
        "end_time": activity["end_time"],
        "terminals": sorted(int(t) for t in activity["terminals"]),
        "member_limit": activity["member_limit"],
        "shop_ids": [str(s) for s in activity["shop_ids"]],
        "merchant_crowd_code": activity.get("merchant_crowd_code"),
        "txd_crowd_code": activity.get("txd_crowd_code"),
        "limit_info": {
            k: v
            for k, v in (activity.get("limit_info") or {}).items()
            if k in ("user_limit_cnt", "user_daily_limit_cnt", "daily_limit_cnt") and v != NO_LIMIT
        },
        "rule_stairs": [_stair_view(s, enable_multiple, exchange) for s in stairs],
    }
    shown: dict[str, Any] = _without_empty(view)
    return shown


def expected_view(activity: Mapping[str, Any], shown: Mapping[str, Any]) -> dict[str, Any]:
    """query_view(activity) as it can be compared with `shown` (a live_view): without out_act_id when
    TOP shows none. Such an activity was made in the seller's console and linked by id (`reconciler
    import`, `export --import`); no call can give it an out_act_id afterwards, so the manifest's name
    is not a difference to replace it for. A re-created activity carries the name as usual."""
    view = query_view(activity)
    if "out_act_id" not in shown:
        view.pop("out_act_id", None)
    return view


def _stair_view(stair: Mapping[str, Any], enable_multiple: bool, exchange: Mapping[str, Any] | None) -> dict[str, Any]:
    cover = stair.get("cover_all_discount_rule") or {}
    count_at = stair.get("count_at_discount_rule") or {}
    view: dict[str, Any] = {
        "amount_at": bool(stair.get("is_amount", False)),
        "amount": stair.get("amount"),
        "count_at": bool(stair.get("is_count", False)),
        "count": stair.get("count"),
        "count_begin": any(v for k, v in count_at.items() if k.startswith("is_count_at_")),
        "enable_multiple": enable_multiple,
        "is_exchange": exchange is not None,
        "can_extra_item_num": exchange.get("can_extra_item_num") if exchange else None,
    }
    for flag, field, view_flag, view_field in (
        ("is_cover_all_decrease_money", "cover_all_decrease_money", "decrease", "decrease_money"),
        ("is_cover_all_discount_rate", "cover_all_discount_rate", "discount", "discount_rate"),
        ("is_cover_all_fix_price", "cover_all_fix_price", "fix_price", "fix_price_amount"),
    ):
        on = bool(cover.get(flag, False))
        view[view_flag] = on
        view[view_field] = cover.get(field) if on else None
    return view


def live_view(live_activity: Mapping[str, Any]) -> dict[str, Any]:
    """The query answer in the same canonical form as query_view (types, order, empties).
    Its lists come in either of TOP's shapes; item names from TOP's Java SDK convention
    (Number[] -> number, String[] -> string, Rulestairs[] -> rulestairs)."""
    view = {key: live_activity.get(key) for key in (
        "out_act_id", "activity_name", "description", "start_time", "end_time", "member_limit",
        "merchant_crowd_code", "txd_crowd_code", "limit_info",
    )}
    limits = live_activity.get("limit_info")
    if isinstance(limits, Mapping):  # -1 is "no limit", the default: the same as a limit not set
        view["limit_info"] = {k: v for k, v in limits.items() if whole_as_int(v) != NO_LIMIT}
    view["rule_stairs"] = [dict(stair) for stair in top_rows(live_activity.get("rule_stairs"), "rulestairs", where=QUERY)]
    view["terminals"] = sorted(int(t) for t in top_list(live_activity.get("terminals"), "number", where=QUERY))
    view["shop_ids"] = [str(s) for s in top_list(live_activity.get("shop_ids"), "string", where=QUERY)]
    shown: dict[str, Any] = _without_empty(as_ints(view))
    return shown


# Leaves are checked first (most values are), and dict before Mapping: isinstance(x, Mapping) is
# an ABC check, slow enough to matter across a shop's thousand activities.
_LEAVES = (str, int, type(None))
_MAPPINGS = (dict, Mapping)
_CONTAINERS = (dict, list)  # inside TOP's answers and normalised specs, nested values are plain


def as_ints(value: Any) -> Any:
    """units.whole_as_int all the way down: a whole Decimal anywhere in `value` becomes an int."""
    if isinstance(value, _MAPPINGS):  # leaves stay as they are: no call per leaf
        return {k: v if isinstance(v, _LEAVES) else as_ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if isinstance(v, _LEAVES) else as_ints(v) for v in value]
    return whole_as_int(value)


def _without_empty(value: Any) -> Any:
    if isinstance(value, _MAPPINGS):
        cleaned = {}
        for key, item in value.items():
            if isinstance(item, _CONTAINERS):  # leaves stay as they are: no call per leaf
                item = _without_empty(item)
            if item is not None and item != {} and item != []:
                cleaned[key] = item
        return cleaned
    if isinstance(value, list):
        return [_without_empty(item) if isinstance(item, _CONTAINERS) else item for item in value]
    return value
