"""Item-pool activities (``alibaba.wdk.marketing.itempool.*``) as the sandbox emulates them.

Error decision. The family reports business failures inside a successful envelope, as TOP does
(the pages' MarketResult / MarketPageResult carry ``success``, ``error_code``, ``message``;
activity.create's page ``is_success``, ``fail_code``, ``message``):

* request parameters are checked before the handler against the pages (``request_params.py``):
  a required field absent is code 40 ``isv.missing-parameter``, unparseable JSON, a wrong type,
  an unknown field is code 41; the handler reads the JSON objects with ``params.Fields`` and adds
  its own checks: a value its flag needs is code 40 like any missing field (``param.rule_stairs[0].amount:
  is required`` when ``is_amount``), a number out of range or contradictory flags code 41, sub_msg
  ``<json path>: <what is wrong>``.
  These stay ``error_response``: the gateway refuses them before the service runs;
* business rule violations answer HTTP 200 with a successful envelope holding
  ``{"result": {"success": false, "error_code": "isv.<rule>", "message": "..."}}``
  (activity.create: ``{"is_success": false, "fail_code": "isv.<rule>", "message": "..."}``).
  The error_code strings are the sandbox's own choice (no public source shows TOP's): the same
  ``isv.<rule>`` a code 15 sub_code would carry. The ``refusal_code_50`` fault (faults.py) answers
  them instead as ``error_response`` code 50 with that sub_code, as TOP sometimes does. Rules:
  ``activity-not-exist`` (unknown, deleted or another shop's activity),
  ``out-act-id-mismatch`` (activity_id and out_act_id name different activities),
  ``out-act-id-duplicate``, ``rule-stairs-empty``, ``rule-stair-number-duplicate``,
  ``logic-group-number-duplicate``, ``invalid-time-range`` (end not after start, or already
  ended), ``enable-multiple-not-allowed`` (上不封顶 needs exactly one 满元 stair),
  ``item-already-in-pool``, ``item-not-in-pool``, ``logic-group-not-exist``.

Values: object params arrive as JSON text; ``request_params.py`` has already checked each field
against its page type (Number a JSON whole number, String a JSON string, String[] a JSON array,
Boolean true/false; JSON null means absent), so the handler only normalises and applies ranges.
Money is integer fen, except additem's ``decrease_money`` which the page gives in yuan 【元】 and
types Number: whole yuan.
Each discount rule may enable at most one benefit (decrease / discount / fix price).

The create request is stored as parsed and normalised (ints, bools, string lists); query
answers only the fields of the queryactivity response shape, like real TOP.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from typing import Any

from reconciler.sandbox import params
from reconciler.sandbox.context import CallContext, MethodSpec
from reconciler.sandbox.errors import BusinessError, business_error, invalid_argument

NAMESPACE = "itempool"
ACTIVITY_ID_SEQUENCE = "itempool.activity"
FIRST_ACTIVITY_ID = 10001
MAX_PAGE_SIZE = 100
TERMINALS = ("1", "2")  # 1 = APP, 2 = POS
LOGIC_GROUP_TYPES = (1, 2, 3)  # normal, exchange (换购), gift (买赠)
EXCHANGE_GROUP_TYPE = 2
MEMBER_LIMITS = (-1, 1, 2)
_DAY_PERIOD = re.compile(r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]_([01][0-9]|2[0-3]|24):[0-5][0-9]:[0-5][0-9]")


# --------------------------------------------------------------------------- create: request checks

# (flag, value field, value is a rate?) per discount rule type; a rule enables at most one flag.
_COVER_ALL_BENEFITS = (
    ("is_cover_all_decrease_money", "cover_all_decrease_money", False),
    ("is_cover_all_discount_rate", "cover_all_discount_rate", True),
    ("is_cover_all_fix_price", "cover_all_fix_price", False),
    ("is_each_fix_price", "each_fix_price", False),
)
_CAP_COUNT_BENEFITS = (
    ("is_cap_count_decrease_money", "cap_count_decrease_money", False),
    ("is_cap_count_discount_rate", "cap_count_discount_rate", True),
    ("is_cap_count_fix_price", "cap_count_fix_price", False),
    ("is_cap_count_each_fix_price", "cap_count_each_fix_price", False),
)
_COUNT_AT_BENEFITS = (
    ("is_count_at_decrease_money", "count_at_decrease_money", False),
    ("is_count_at_discount_rate", "count_at_discount_rate", True),
    ("is_count_at_fix_price", "count_at_fix_price", False),
)


def _check_benefit_rule(rule: params.Fields | None, benefits: tuple[tuple[str, str, bool], ...]) -> None:
    if rule is None:
        return
    enabled = [flag for flag, _, _ in benefits if rule.boolean(flag)]
    if len(enabled) > 1:
        raise invalid_argument(rule.path, f"at most one benefit may be enabled, got {', '.join(enabled)}")
    for flag, value_field, is_rate in benefits:
        on = flag in enabled
        if is_rate:
            rule.rate(value_field, enabled=on)
        else:
            rule.integer(value_field, required=on)


def _check_stair(stair: params.Fields) -> int:
    number = stair.integer("number", required=True)
    assert number is not None
    is_amount, is_count = stair.boolean("is_amount"), stair.boolean("is_count")
    if is_amount and is_count:
        raise invalid_argument(stair.path, "is_amount (满元) and is_count (满件) cannot both be true")
    stair.integer("amount", required=is_amount)
    stair.integer("count", required=is_count)
    stair.boolean("is_overlay_logic_group_condition")
    stair.text("login_group_express")
    _check_benefit_rule(stair.child("cover_all_discount_rule"), _COVER_ALL_BENEFITS)
    _check_benefit_rule(stair.child("cap_count_discount_rule"), _CAP_COUNT_BENEFITS)
    _check_benefit_rule(stair.child("count_at_discount_rule"), _COUNT_AT_BENEFITS)
    separate = stair.child("separate_pricing_discount_rule")
    if separate is not None:
        for flag in ("is_discount_rate", "is_decrease", "is_fix_price"):
            separate.boolean(flag)
    return number


def _check_logic_group(group: params.Fields) -> int | None:
    group.one_of("logic_group_type", LOGIC_GROUP_TYPES)
    for field in ("amount", "count", "can_extra_item_num", "exchange_group_order", "ratio"):
        group.integer(field)
    group.boolean("is_effective_group")
    group.text("exchange_group_name")
    _check_benefit_rule(group.child("cover_all_discount_rule"), _COVER_ALL_BENEFITS)
    return group.integer("number")


def _check_activity_rule(rule: params.Fields | None) -> bool:
    """Returns enable_multiple (上不封顶), which a business rule checks against the stairs."""
    if rule is None:
        return False
    rule.integer("ceiling_amount")
    rule.one_of("discount_fee_mode", (0, 1))
    for flag in ("is_multi_mix", "item_overlay", "is_alone", "is_check_all_cond"):
        rule.boolean(flag)
    return rule.boolean("enable_multiple")


def _check_limit_info(limits: params.Fields | None) -> None:
    if limits is None:
        return
    for field in ("user_daily_limit_cnt", "user_limit_cnt", "total_limit_cnt", "daily_limit_cnt"):
        limits.integer(field, minimum=-1)  # -1 = unlimited


def _check_period(period: params.Fields | None) -> None:
    if period is None:
        return
    period.text_list("weekdays", allowed=("1", "2", "3", "4", "5", "6", "7"))
    for index, window in enumerate(period.text_list("every_day_periods")):
        if not _DAY_PERIOD.fullmatch(window):
            raise invalid_argument(f"{period.path}.every_day_periods[{index}]", "must look like 03:00:00_05:00:00")


def _check_channels(fields: params.Fields) -> None:
    fields.boolean("by_channel")
    for channel in fields.children("channel_config_list") or []:
        channel.text("channel", required=True)


def _check_create_request(activity: params.Fields) -> None:
    """Type and range checks of ItemPoolActivity; raises code 41 naming the field."""
    activity.text("activity_name", required=True)
    activity.text("description", required=True)
    activity.integer("start_time", required=True)
    activity.integer("end_time", required=True)
    activity.text_list("shop_ids", required=True)
    activity.text_list("terminals", required=True, allowed=TERMINALS)
    activity.text("out_act_id")
    activity.text("merchant_crowd_code")
    activity.text("txd_crowd_code")
    activity.one_of("member_limit", MEMBER_LIMITS)
    activity.integer("priority_value", minimum=1)
    for flag in ("is_comb", "exclude_single", "is_category"):
        activity.boolean(flag)
    _check_channels(activity)
    _check_limit_info(activity.child("limit_info"))
    _check_period(activity.child("period_config"))
    _check_activity_rule(activity.child("activity_rule"))
    for stair in activity.children("rule_stairs", required=True) or []:
        _check_stair(stair)
    for group in activity.children("logic_group_rules") or []:
        _check_logic_group(group)


# --------------------------------------------------------------------------- create: business rules


def _pool(ctx: CallContext) -> dict[str, Any]:
    pool = ctx.namespace(NAMESPACE)
    pool.setdefault("activities", {})
    return pool


def _live_activities(ctx: CallContext) -> list[dict[str, Any]]:
    return [record for record in _pool(ctx)["activities"].values() if not record["deleted"]]


def _first_duplicate(numbers: list[int]) -> int | None:
    seen: set[int] = set()
    for number in numbers:
        if number in seen:
            return number
        seen.add(number)
    return None


def _check_create_rules(ctx: CallContext, request: dict[str, Any]) -> None:
    stairs: list[dict[str, Any]] = request["rule_stairs"]
    if not stairs:
        raise business_error("rule-stairs-empty", "rule_stairs must hold at least one stair")
    duplicate = _first_duplicate([stair["number"] for stair in stairs])
    if duplicate is not None:
        raise business_error("rule-stair-number-duplicate", f"two rule_stairs have number {duplicate}")
    group_numbers = [group["number"] for group in request.get("logic_group_rules", []) if "number" in group]
    duplicate = _first_duplicate(group_numbers)
    if duplicate is not None:
        raise business_error("logic-group-number-duplicate", f"two logic_group_rules have number {duplicate}")
    one_amount_stair = len(stairs) == 1 and stairs[0].get("is_amount", False)
    if request.get("activity_rule", {}).get("enable_multiple") and not one_amount_stair:
        raise business_error(
            "enable-multiple-not-allowed", "enable_multiple (上不封顶) needs exactly one stair, and it must be 满元"
        )
    if request["start_time"] >= request["end_time"]:
        raise business_error("invalid-time-range", "end_time must be after start_time")
    if request["end_time"] <= ctx.now_ms:
        raise business_error("invalid-time-range", "end_time is in the past: the activity would already be over")
    out_act_id = request.get("out_act_id")
    if out_act_id and any(record["request"].get("out_act_id") == out_act_id for record in _live_activities(ctx)):
        raise business_error("out-act-id-duplicate", f"out_act_id {out_act_id!r} is already used by another activity")


def create_activity(ctx: CallContext) -> dict[str, Any]:
    request = params.json_object(ctx, "param")
    _check_create_request(params.Fields(request, "param"))
    _check_create_rules(ctx, request)
    activity_id = ctx.store.next_id(ACTIVITY_ID_SEQUENCE, FIRST_ACTIVITY_ID)
    _pool(ctx)["activities"][str(activity_id)] = {
        "activity_id": activity_id,
        "request": request,
        "created_at": ctx.now_ms,
        "deleted": False,
        "items": {},  # sku_code -> ItemPoolSku as sent, in insertion order
    }
    # The create page's response fields sit at the top level (no "result" wrapper).
    return {"is_success": True, "data": activity_id}


# --------------------------------------------------------------------------- activity lookup


def _parse_common_param(ctx: CallContext, name: str) -> tuple[int, str | None]:
    """CommonActivityParam → (activity_id, out_act_id)."""
    fields = params.Fields(params.json_object(ctx, name), name)
    activity_id = fields.integer("activity_id", required=True, minimum=1)
    assert activity_id is not None
    out_act_id = fields.text("out_act_id")
    _check_channels(fields)
    return activity_id, out_act_id


def _live_activity(ctx: CallContext, activity_id: int, out_act_id: str | None) -> dict[str, Any]:
    record: dict[str, Any] | None = _pool(ctx)["activities"].get(str(activity_id))
    if record is None or record["deleted"]:
        raise business_error("activity-not-exist", f"activity {activity_id} does not exist")
    stored_out_act_id = record["request"].get("out_act_id")
    if out_act_id and out_act_id != stored_out_act_id:
        raise business_error(
            "out-act-id-mismatch",
            f"activity {activity_id} has out_act_id {stored_out_act_id!r}, not {out_act_id!r}",
        )
    return record


def _result(data: Any) -> dict[str, Any]:
    return {"result": {"success": True, "data": data}}


def result_refusal(refusal: BusinessError) -> dict[str, Any]:
    """A broken rule in MarketResult / MarketPageResult's own fields (the pages: success, error_code,
    message), inside a successful envelope."""
    return {"result": {"success": False, "error_code": refusal.sub_code, "message": refusal.message}}


def create_refusal(refusal: BusinessError) -> dict[str, Any]:
    """activity.create's page puts its fields at the top level: is_success, fail_code, message."""
    return {"is_success": False, "fail_code": refusal.sub_code, "message": refusal.message}


# --------------------------------------------------------------------------- query activity


def _stair_view(stair: dict[str, Any], activity: dict[str, Any]) -> dict[str, Any]:
    """A stored create-stair in queryactivity's Rulestairs shape (the mapping is fixed by contract)."""
    view: dict[str, Any] = {"amount_at": stair.get("is_amount", False)}
    if "amount" in stair:
        view["amount"] = stair["amount"]
    view["count_at"] = stair.get("is_count", False)
    if "count" in stair:
        view["count"] = stair["count"]
    count_rule = stair.get("count_at_discount_rule", {})
    view["count_begin"] = any(count_rule.get(flag) is True for flag, _, _ in _COUNT_AT_BENEFITS)
    cover = stair.get("cover_all_discount_rule", {})
    for view_flag, view_value, flag, value_field in (
        ("decrease", "decrease_money", "is_cover_all_decrease_money", "cover_all_decrease_money"),
        ("discount", "discount_rate", "is_cover_all_discount_rate", "cover_all_discount_rate"),
        ("fix_price", "fix_price_amount", "is_cover_all_fix_price", "cover_all_fix_price"),
    ):
        view[view_flag] = cover.get(flag, False)
        if view[view_flag] and value_field in cover:
            view[view_value] = cover[value_field]
    view["enable_multiple"] = activity.get("activity_rule", {}).get("enable_multiple", False)
    exchange = next(
        (g for g in activity.get("logic_group_rules", []) if g.get("logic_group_type") == EXCHANGE_GROUP_TYPE), None
    )
    view["is_exchange"] = exchange is not None
    if exchange is not None and "can_extra_item_num" in exchange:
        view["can_extra_item_num"] = exchange["can_extra_item_num"]
    return view


_LIMIT_VIEW_FIELDS = ("user_limit_cnt", "user_daily_limit_cnt", "daily_limit_cnt")
_OPTIONAL_VIEW_FIELDS = ("member_limit", "merchant_crowd_code", "txd_crowd_code")


def _activity_view(record: dict[str, Any]) -> dict[str, Any]:
    """The queryactivity ``data`` object: only the fields of its documented response shape."""
    request = record["request"]
    view: dict[str, Any] = {}
    if "out_act_id" in request:
        view["out_act_id"] = request["out_act_id"]
    view["activity_id"] = record["activity_id"]
    for field in ("activity_name", "description", "start_time", "end_time"):
        view[field] = request[field]
    view["terminals"] = [int(terminal) for terminal in request["terminals"]]
    view["shop_ids"] = list(request["shop_ids"])
    for field in _OPTIONAL_VIEW_FIELDS:
        if field in request:
            view[field] = request[field]
    limits = {field: value for field, value in request.get("limit_info", {}).items() if field in _LIMIT_VIEW_FIELDS}
    if limits:
        view["limit_info"] = limits
    view["rule_stairs"] = [_stair_view(stair, request) for stair in request["rule_stairs"]]
    return view


def query_activity(ctx: CallContext) -> dict[str, Any]:
    activity_id, out_act_id = _parse_common_param(ctx, "param0")
    return _result(_activity_view(_live_activity(ctx, activity_id, out_act_id)))


def delete_activity(ctx: CallContext) -> dict[str, Any]:
    activity_id, out_act_id = _parse_common_param(ctx, "param")
    record = _live_activity(ctx, activity_id, out_act_id)
    record["deleted"] = True
    record["deleted_at"] = ctx.now_ms
    return _result(True)


# --------------------------------------------------------------------------- items


def _sku_view(sku_code: str, record: dict[str, Any]) -> dict[str, Any]:
    """The ItemPoolSku TOP answers: name and item↔shop relation (prices are not returned)."""
    return {
        "sku_code": sku_code,
        "sku_name": f"商品{sku_code}",
        "item_shop_relation": _item_shop_relation(sku_code, record["request"]["shop_ids"]),
    }


def _item_shop_relation(sku_code: str, shop_ids: list[str]) -> str:
    # "k-itemId, v-shopId": a JSON map; item ids are made up but stable per (shop, sku).
    relation = {str(600_000_000_000 + zlib.crc32(f"{shop}:{sku_code}".encode())): shop for shop in shop_ids}
    return json.dumps(relation, ensure_ascii=False, separators=(",", ":"))


_SKU_BENEFIT_FLAGS = ("is_fix_price", "is_discount_rate", "is_decrease_money")


def _check_sku(sku: params.Fields) -> str:
    """ItemPoolSku of additem: one price benefit at most, with its value present."""
    sku_code = sku.text("sku_code", required=True)
    assert sku_code is not None
    sku.data["sku_code"] = sku_code = sku_code.strip()
    sku.integer("logic_group_number", minimum=None)
    enabled = [flag for flag in _SKU_BENEFIT_FLAGS if sku.boolean(flag)]
    if len(enabled) > 1:
        allowed = ", ".join(_SKU_BENEFIT_FLAGS)
        raise invalid_argument(sku.path, f"at most one of {allowed} may be true, got {', '.join(enabled)}")
    sku.integer("fix_price", required="is_fix_price" in enabled)
    sku.rate("discount_rate", enabled="is_discount_rate" in enabled)
    sku.yuan("decrease_money", required="is_decrease_money" in enabled)
    return sku_code


def add_item(ctx: CallContext) -> dict[str, Any]:
    sku = params.json_object(ctx, "param0")
    sku_code = _check_sku(params.Fields(sku, "param0"))
    activity_id, out_act_id = _parse_common_param(ctx, "param1")
    record = _live_activity(ctx, activity_id, out_act_id)
    if sku_code in record["items"]:
        raise business_error("item-already-in-pool", f"sku {sku_code} is already in activity {activity_id}")
    group_number = sku.get("logic_group_number")
    group_numbers = {group.get("number") for group in record["request"].get("logic_group_rules", [])}
    if group_number is not None and group_number not in group_numbers:
        raise business_error(
            "logic-group-not-exist", f"activity {activity_id} has no logic group number {group_number}"
        )
    record["items"][sku_code] = sku
    return _result(_sku_view(sku_code, record))


def remove_item(ctx: CallContext) -> dict[str, Any]:
    sku_fields = params.Fields(params.json_object(ctx, "param0"), "param0")
    sku_code = (sku_fields.text("sku_code", required=True) or "").strip()
    sku_fields.integer("logic_group_number", minimum=None)
    activity_id, out_act_id = _parse_common_param(ctx, "param1")
    record = _live_activity(ctx, activity_id, out_act_id)
    if sku_code not in record["items"]:
        raise business_error("item-not-in-pool", f"sku {sku_code} is not in activity {activity_id}")
    del record["items"][sku_code]
    return _result(True)


def query_items(ctx: CallContext) -> dict[str, Any]:
    query = params.Fields(params.json_object(ctx, "param"), "param")
    activity_id = query.integer("activity_id", required=True, minimum=1)
    assert activity_id is not None
    page = query.child("page", required=True)
    assert page is not None
    page_size = page.integer("page_size", required=True, minimum=1, maximum=MAX_PAGE_SIZE)
    current = page.integer("current", required=True, minimum=1)
    assert page_size is not None and current is not None
    wanted = set(query.text_list("sku_codes")) or None  # an empty filter means "all items"
    _check_channels(query)
    record = _live_activity(ctx, activity_id, query.text("out_act_id"))
    sku_codes = [code for code in record["items"] if wanted is None or code in wanted]
    start = (current - 1) * page_size
    return {
        "result": {
            "success": True,
            "total": len(sku_codes),
            "page_size": page_size,
            "current": current,
            "total_page": math.ceil(len(sku_codes) / page_size),
            "item_pool_sku_list": [_sku_view(code, record) for code in sku_codes[start : start + page_size]],
        }
    }


_PREFIX = "alibaba.wdk.marketing.itempool"
METHODS: tuple[MethodSpec, ...] = (
    MethodSpec(f"{_PREFIX}.activity.create", create_activity, writes=True, refusal_in_body=create_refusal),
    MethodSpec(f"{_PREFIX}.queryactivity", query_activity, refusal_in_body=result_refusal),
    MethodSpec(f"{_PREFIX}.deleteactivity", delete_activity, writes=True, refusal_in_body=result_refusal),
    MethodSpec(f"{_PREFIX}.additem", add_item, writes=True, refusal_in_body=result_refusal),
    MethodSpec(f"{_PREFIX}.removeitem", remove_item, writes=True, refusal_in_body=result_refusal),
    MethodSpec(f"{_PREFIX}.queryitems", query_items, refusal_in_body=result_refusal),
)
