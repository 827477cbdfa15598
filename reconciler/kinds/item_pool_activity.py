"""ItemPoolActivity: the `alibaba.wdk.marketing.itempool.*` methods.

What TOP allows, and so what the plan can do:
- There is no update method and no list method. An activity is created, queried by id, deleted.
  Any change to the activity itself is a replace: delete the old one, then create the new one.
  Deleting first is deliberate: two overlapping copies of one promotion would stack for buyers.
- Pool items are added and removed one sku per call, so membership changes by delta.
- queryactivity returns only part of what was created (no activity_rule, logic groups, period,
  priority, channels) and queryitems returns no per-item prices. The state store keeps what was
  last applied; the plan compares the manifest with that record and with what TOP does return
  (so changes made in the seller console still show up where TOP lets us see them).
- `out_act_id` carries the resource name on TOP, so an activity can be recognised without state.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from reconciler.errors import PlanError, TopPermanentError, TopShapeError
from reconciler.kinds.base import (
    Caller,
    Kind,
    ensure_success,
    LiveState,
    NormaliseContext,
    Phase,
    PlanContext,
    ProblemCollector,
    new_id_ref,
    resource_key,
    source_of,
)
from reconciler.kinds.common import fen, permille, phase_at, which_side_moved
from reconciler.kinds.price_terms import stair_text, threshold_text, unit_price
from reconciler.kinds.wording import arrow, epoch_text, fen_field_text, items_text
from reconciler.kinds.units import (
    UnitError,
    from_epoch_ms,
    parse_iso,
    to_epoch_ms,
    whole_yuan,
    yuan_to_fen,
)
from reconciler.manifest import Document
from reconciler.top.answers import sub_code_is, top_list, top_rows
from reconciler.model import (
    Action,
    Call,
    Change,
    DropLink,
    Link,
    Ref,
    Resource,
    SetLink,
    SetRecordEntry,
)
from reconciler.pricing.rules import (
    NO_THRESHOLD,
    Form,
    Items,
    Period,
    PoolActivity,
    PriceRule,
    Reward,
    Scope,
    Stair,
    Threshold,
    UnitPrice,
    When,
    Window,
)

CREATE = "alibaba.wdk.marketing.itempool.activity.create"
QUERY = "alibaba.wdk.marketing.itempool.queryactivity"
DELETE = "alibaba.wdk.marketing.itempool.deleteactivity"
ADD_ITEM = "alibaba.wdk.marketing.itempool.additem"
REMOVE_ITEM = "alibaba.wdk.marketing.itempool.removeitem"
QUERY_ITEMS = "alibaba.wdk.marketing.itempool.queryitems"

ITEMS_PAGE_SIZE = 100  # the largest page queryitems serves
# How queryactivity says an activity id is unknown. No public page shows the item-pool family's
# code (the sandbox's is its own choice), so both spellings are accepted; any other refusal stops
# the plan rather than being read as "gone", which would create the activity a second time.
ACTIVITY_NOT_EXIST_CODES = ("isv.activity-not-exist", "activity-not-exist")

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
_COVER_ALL = {
    "decrease": ("is_cover_all_decrease_money", "cover_all_decrease_money", "fen"),
    "rate": ("is_cover_all_discount_rate", "cover_all_discount_rate", "permille"),
    "fix_price": ("is_cover_all_fix_price", "cover_all_fix_price", "fen"),
    "each_fix_price": ("is_each_fix_price", "each_fix_price", "fen"),
}
_CAP_COUNT = {
    "each_fix_price": ("is_cap_count_each_fix_price", "cap_count_each_fix_price", "fen"),
    "rate": ("is_cap_count_discount_rate", "cap_count_discount_rate", "permille"),
    "decrease": ("is_cap_count_decrease_money", "cap_count_decrease_money", "fen"),
    "fix_price": ("is_cap_count_fix_price", "cap_count_fix_price", "fen"),
}
_NTH = {
    "rate": ("is_count_at_discount_rate", "count_at_discount_rate", "permille"),
    "decrease": ("is_count_at_decrease_money", "count_at_decrease_money", "fen"),
    "fix_price": ("is_count_at_fix_price", "count_at_fix_price", "fen"),
}
_SEPARATE = {"rate": "is_discount_rate", "decrease": "is_decrease", "fix_price": "is_fix_price"}
_ITEM_PRICE_FIELDS = ("fix_price", "rate", "decrease")


class ItemPoolActivity(Kind):
    kind = "ItemPoolActivity"
    schema = "item-pool-activity.schema.json"
    read_methods = (QUERY, QUERY_ITEMS)
    write_methods = (CREATE, DELETE, ADD_ITEM, REMOVE_ITEM)

    # ---- manifest → wire -------------------------------------------------------------------

    def normalise(self, doc: Document, ctx: NormaliseContext) -> Resource:
        problems = ProblemCollector(doc)
        activity = _activity_params(doc, problems, ctx)
        items = _item_params(doc, problems, activity)
        problems.raise_if_any()
        return Resource(
            key=resource_key(doc),
            spec={"activity": activity, "items": items},
            source=source_of(doc),
            prevent_destroy=bool(doc.metadata.get("prevent_destroy", False)),
        )

    # ---- live state ------------------------------------------------------------------------

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        # No list call exists, so only linked activities can be read, by id; the reads of
        # different activities run concurrently (within the app's QPS budget).
        live = LiveState()
        links = ctx.links_of(self.kind)
        activities = _read_activities(client, [int(link.remote_id) for link in links])
        for link in links:
            live.by_name[link.key.name] = activities[int(link.remote_id)]
        return live

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Look on TOP whether a write whose answer was lost took effect (see Kind.recover).

        - additem / removeitem: queryitems filtered to the sku says whether it is in the pool.
        - deleteactivity: queryactivity answering activity-not-exist means it is done.
        - activity.create: cannot be recovered. TOP has no list method and queryactivity needs
          the activity id, which is exactly what was lost; out_act_id cannot be searched. A
          re-send would rely on TOP refusing a second activity with the same out_act_id, which
          the method's page does not promise (only our sandbox does), so apply stops and says
          how to find and adopt the activity instead of guessing.
        """
        if method in (ADD_ITEM, REMOVE_ITEM):
            activity_id = int(params["param1"]["activity_id"])
            sku = str(params["param0"]["sku_code"])
            in_pool = _sku_in_pool(client, activity_id, sku)
            if method == ADD_ITEM:
                return {"result": {"success": True, "data": {"sku_code": sku}}} if in_pool else None
            return None if in_pool else {"result": {"success": True, "data": True}}
        if method == DELETE:
            activity_id = int(params["param"]["activity_id"])
            gone = _read_activities(client, [activity_id], with_items=False)[activity_id] is None
            return {"result": {"success": True, "data": True}} if gone else None
        if method == CREATE:
            activity = params["param"]
            out_act_id = activity.get("out_act_id", "?")
            raise PlanError(
                f"{CREATE}: TOP did not say whether it created activity {out_act_id!r} (the answer was lost or "
                "was a platform error), and TOP offers no way to find an item-pool activity without its id. "
                "Look in the seller console "
                f"for {activity.get('activity_name', out_act_id)!r}: if it is there, adopt it with "
                f"`reconciler import ItemPoolActivity {out_act_id} ACTIVITY_ID`, then plan again; if it is not, "
                "record that with `reconciler journal resolve ENTRY --not-applied` (`reconciler journal list --open` "
                "shows the entry)"
            )
        return super().recover(client, method, params)

    # ---- diff → calls ----------------------------------------------------------------------

    def plan_change(
        self, desired: Resource | None, link: Link | None, live: Any | None, ctx: PlanContext
    ) -> Change | None:
        if desired is None:
            assert link is not None
            return _plan_delete(link, live)
        if link is None:
            return _plan_create(desired, reason="")
        if live is None:
            return _plan_create(
                desired,
                reason=f"activity {link.remote_id} is gone on TOP (deleted outside the reconciler); "
                "it will be created again",
            )
        return _plan_existing(desired, link, live)


    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """TOP refuses to create an activity that is over; one that exists is left alone."""
        activity = resource.spec["activity"]
        return phase_at(from_epoch_ms(activity["start_time"]), from_epoch_ms(activity["end_time"]), ctx.now)

    def import_record(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        if not remote_id.isdigit():
            raise PlanError(f"an item-pool activity id is a number, not {remote_id!r}")
        live = _read_one(client, int(remote_id))
        if live is None:
            raise PlanError(f"item-pool activity {remote_id} does not exist on TOP (or was deleted)")
        out_act_id = live["activity"].get("out_act_id")
        if out_act_id and out_act_id != desired.key.name:
            raise PlanError(
                f"activity {remote_id} carries out_act_id {out_act_id!r}, not {desired.key.name!r}: "
                "it belongs to another manifest or tool"
            )
        # TOP returns neither the activity's rules nor item prices, so nothing is recorded as applied
        # for them: the next plan compares what TOP does return and says what it must assume.
        return {"activity": None, "items": {sku: {"sku_code": sku} for sku in live["skus"]}, "imported": True}


    def price_rules(self, resource: Resource) -> list[PriceRule]:
        """The activity as a price rule: its items' own prices, its stairs and logic-group
        discounts, and the flags that decide how it combines (see reconciler.pricing.stacking)."""
        return [price_rule(resource)]


# ---- normalisation helpers -----------------------------------------------------------------


def _activity_params(doc: Document, problems: ProblemCollector, ctx: NormaliseContext) -> dict[str, Any]:
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
        problems.add(("spec", "window", "end"), f"end {window['end']} must be after start {window['start']}")
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
                problems.add(("spec", "period", "daily", index), f"'{span}' ends before it starts")
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
    if form in _COVER_ALL:
        wire["cover_all_discount_rule"] = _rule_object(_COVER_ALL, form, value, discount_path, problems)
    elif form == "cap_count":
        (sub, sub_value), = value.items()
        wire["cap_count_discount_rule"] = _rule_object(_CAP_COUNT, sub, sub_value, discount_path + (sub,), problems)
    elif form == "nth":
        (sub, sub_value), = value.items()
        wire["count_at_discount_rule"] = _rule_object(_NTH, sub, sub_value, discount_path + (sub,), problems)
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
        problems.add(path, "an exchange group needs extra_items (how many items a buyer may exchange)")
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
        wire["cover_all_discount_rule"] = _rule_object(_COVER_ALL, form, value, path + ("discount", form), problems)
    return wire


def _item_params(doc: Document, problems: ProblemCollector, activity: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    group_numbers = {g["number"] for g in activity.get("logic_group_rules", [])}
    separate = _separate_pricing_forms(activity)
    items: dict[str, dict[str, Any]] = {}
    for index, item in enumerate(doc.spec.get("items") or []):
        path: tuple[Any, ...] = ("spec", "items", index)
        sku = item["sku"]
        if sku in items:
            problems.add(path + ("sku",), f"sku {sku} is listed twice in this pool")
            continue
        wire: dict[str, Any] = {"sku_code": sku}
        if "group" in item:
            if item["group"] not in group_numbers:
                problems.add(path + ("group",), f"logic group {item['group']} is not declared in spec.logic_groups")
            wire["logic_group_number"] = item["group"]
        wire.update(_item_price(item, path, problems))
        for form in separate:
            if form not in item:
                problems.add(path, f"a stair uses separate_pricing: {form}, so every item needs its own {form}")
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
        problems.add(path, f"{value} yuan has fen in it: an item's own decrease is sent to TOP in whole yuan "
                           "(additem's page says 元 but types it as an integer, so fen cannot be sent safely); "
                           "use a whole amount such as \"2.00\", or a fix_price or rate for this item")
        return None
    if amount <= 0:
        problems.add(path, "a decrease must be at least 1 yuan")
        return None
    return amount


def _check_unique(values: Sequence[Any], path: tuple[Any, ...], field: str, problems: ProblemCollector) -> None:
    seen: set[Any] = set()
    for index, value in enumerate(values):
        if value in seen:
            problems.add(path + (index, field), f"{field} {value} is used twice")
        seen.add(value)


# ---- reading ------------------------------------------------------------------------------


def _read_one(client: Caller, activity_id: int) -> dict[str, Any] | None:
    return _read_activities(client, [activity_id])[activity_id]


def _read_activities(
    client: Caller, activity_ids: Sequence[int], *, with_items: bool = True
) -> dict[int, dict[str, Any] | None]:
    """Each activity with its pool's skus, None when it is gone on TOP: one round of concurrent
    reads per step (the activities, then each page of items), not one activity after another."""
    answers = client.call_many(QUERY, [{"param0": {"activity_id": i}} for i in activity_ids], return_exceptions=True)
    activities: dict[int, dict[str, Any] | None] = {}
    for activity_id, answer in zip(activity_ids, answers, strict=True):
        try:
            if isinstance(answer, Exception):
                raise answer
            activities[activity_id] = {"activity": _activity_data(answer)}
        except TopPermanentError as exc:
            if not _is_activity_gone(exc):
                raise
            activities[activity_id] = None
    if with_items:
        present = [i for i, activity in activities.items() if activity is not None]
        for activity_id, skus in _read_skus(client, present).items():
            activity = activities[activity_id]
            assert activity is not None
            activity["skus"] = skus
    return activities


def market_result(method: str, answer: Mapping[str, Any]) -> Mapping[str, Any]:
    """The `result` of an item-pool answer, after its in-body verdict.

    The alibaba.wdk.marketing.itempool.* methods answer a business refusal inside a successful
    envelope: `result.success=false` with `error_code`/`message` (MarketResult and MarketPageResult
    in ../shared/top-api/shapes/), or `is_success=false` with `fail_code` (activity.create's page).
    Either is a TopPermanentError carrying TOP's code as sub_code, never data to read.
    """
    ensure_success(method, answer)
    result = answer.get("result")
    if not isinstance(result, Mapping):
        raise TopShapeError(method, msg="the answer has no result object")
    return result


def _activity_data(answer: Mapping[str, Any]) -> Mapping[str, Any]:
    data = market_result(QUERY, answer).get("data")
    if not isinstance(data, Mapping):
        # Not read as "gone": an activity that exists but came back without data would be created
        # a second time. The method page (../shared/top-api/methods/) types data as ItemPoolActivity.
        raise TopShapeError(QUERY, msg="result.data is not an activity object; cannot tell whether the activity exists")
    return data


def _is_activity_gone(error: TopPermanentError) -> bool:
    """queryactivity's refusal for an unknown activity id, whether TOP sends it as error_response
    (sub_code) or in the body (error_code), with or without the `isv.` prefix and a `:detail`.
    No public page shows the item-pool family's code, so only this read decides "gone": a delete
    refused this way is confirmed by reading (recover, plan), never taken as done on its word."""
    return any(sub_code_is(error.sub_code, code) for code in ACTIVITY_NOT_EXIST_CODES)


def _items_query(activity_id: int, page: int, **extra: Any) -> dict[str, Any]:
    return {"param": {"activity_id": activity_id, "page": {"page_size": ITEMS_PAGE_SIZE, "current": page}, **extra}}


def _pool_rows(answer: Mapping[str, Any]) -> tuple[list[Mapping[str, Any]], int]:
    """One queryitems page: its sku rows (either shape) and the number of pages."""
    result = market_result(QUERY_ITEMS, answer)
    rows = top_rows(result.get("item_pool_sku_list"), "item_pool_sku", where=QUERY_ITEMS)
    return rows, int(result.get("total_page") or 0)


def _read_skus(client: Caller, activity_ids: Sequence[int]) -> dict[int, list[str]]:
    skus: dict[int, list[str]] = {i: [] for i in activity_ids}
    page = 1
    pending = list(activity_ids)
    while pending:
        answers = client.call_many(QUERY_ITEMS, [_items_query(i, page) for i in pending])
        more: list[int] = []
        for activity_id, answer in zip(pending, answers, strict=True):
            rows, pages = _pool_rows(answer)
            skus[activity_id].extend(str(row["sku_code"]) for row in rows)
            if page < pages:
                more.append(activity_id)
        pending = more
        page += 1
    return skus


def _sku_in_pool(client: Caller, activity_id: int, sku: str) -> bool:
    rows, _ = _pool_rows(client.call(QUERY_ITEMS, _items_query(activity_id, 1, sku_codes=[sku])))
    return any(str(row.get("sku_code")) == sku for row in rows)


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
            if k in ("user_limit_cnt", "user_daily_limit_cnt", "daily_limit_cnt")
        },
        "rule_stairs": [_stair_view(s, enable_multiple, exchange) for s in stairs],
    }
    shown: dict[str, Any] = _without_empty(view)
    return shown


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
    view["rule_stairs"] = [dict(stair) for stair in top_rows(live_activity.get("rule_stairs"), "rulestairs", where=QUERY)]
    view["terminals"] = sorted(int(t) for t in top_list(live_activity.get("terminals"), "number", where=QUERY))
    view["shop_ids"] = [str(s) for s in top_list(live_activity.get("shop_ids"), "string", where=QUERY)]
    shown: dict[str, Any] = _without_empty(_ints(view))
    return shown


# Leaves are checked first (most values are), and dict before Mapping: isinstance(x, Mapping) is
# an ABC check, slow enough to matter across a shop's thousand activities.
_LEAVES = (str, int, type(None))
_MAPPINGS = (dict, Mapping)
_CONTAINERS = (dict, list)  # inside TOP's answers and normalised specs, nested values are plain


def _ints(value: Any) -> Any:
    """TOP's JSON numbers arrive as int or Decimal; integral ones compare as int."""
    if isinstance(value, _MAPPINGS):  # leaves stay as they are: no call per leaf
        return {k: v if isinstance(v, _LEAVES) else _ints(v) for k, v in value.items()}
    if isinstance(value, list):
        return [v if isinstance(v, _LEAVES) else _ints(v) for v in value]
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


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


# ---- planning -----------------------------------------------------------------------------


def _activity_ref(activity_id: int | Ref) -> dict[str, Any]:
    return {"activity_id": activity_id}


def _add_item_call(activity: Mapping[str, Any], item: Mapping[str, Any]) -> Call:
    # `activity` (one _activity_ref per change) and the desired `item` are shared, not copied: a
    # plan from empty holds a call per pool item (200,000 in a big shop), and nothing changes a
    # planned call's values (apply resolves Refs into new dicts; the state store copies records).
    return Call(
        ADD_ITEM,
        {"param0": item, "param1": activity},
        effects=(SetRecordEntry("items", item["sku_code"], item),),
    )


def _remove_item_call(activity_id: int, sku: str, applied: Mapping[str, Any] | None) -> Call:
    item: dict[str, Any] = {"sku_code": sku}
    if applied and "logic_group_number" in applied:
        item["logic_group_number"] = applied["logic_group_number"]
    return Call(
        REMOVE_ITEM,
        {"param0": item, "param1": _activity_ref(activity_id)},
        effects=(SetRecordEntry("items", sku, None),),
    )


def _create_calls(desired: Resource) -> list[Call]:
    activity = desired.spec["activity"]
    new_id = new_id_ref(desired.key)
    calls = [
        Call(
            CREATE,
            {"param": dict(activity)},
            binds={new_id.name: "data"},
            effects=(SetLink(new_id, {"activity": dict(activity), "items": {}}),),
        )
    ]
    activity_ref = _activity_ref(new_id)
    calls.extend(_add_item_call(activity_ref, item) for item in desired.spec["items"].values())
    return calls


def _plan_create(desired: Resource, reason: str) -> Change:
    items = desired.spec["items"]
    return Change(
        key=desired.key,
        action=Action.CREATE,
        calls=tuple(_create_calls(desired)),
        reason=reason,
        details=(_create_summary(desired.spec["activity"], items),),
        source=desired.source,
    )


def _plan_delete(link: Link, live: Any | None) -> Change:
    if live is None:
        return Change(
            key=link.key,
            action=Action.DELETE,
            calls=(),
            reason=f"activity {link.remote_id} is already gone on TOP; only the state entry is removed",
            effects=(DropLink(),),
        )
    return Change(
        key=link.key,
        action=Action.DELETE,
        calls=(Call(DELETE, {"param": _activity_ref(int(link.remote_id))}, effects=(DropLink(),)),),
        reason="its manifest was removed",
    )


def _plan_existing(desired: Resource, link: Link, live: Mapping[str, Any]) -> Change | None:
    activity = desired.spec["activity"]
    applied = link.record.get("activity")
    # Drift is TOP against what was last applied (the manifest may have moved since); an imported
    # activity has no record, so TOP is compared with the manifest.
    # Its lines read in TOP's direction, what was applied → what TOP shows ("on TOP: …").
    drifted = _differences(query_view(applied if applied is not None else activity), live_view(live["activity"]))
    if applied is None and not drifted:
        return _plan_adopt(desired, link, _plan_items(desired, link, live))
    changed = _differences(applied or {}, activity)
    if changed or drifted:
        wire = _wire_changes(applied or {}, activity) + _wire_changes(
            query_view(applied if applied is not None else activity), live_view(live["activity"]), on_top=True)
        return replace(_plan_replace(desired, link, changed, drifted), wire_changes=tuple(wire))
    return _plan_items(desired, link, live)


def _plan_adopt(desired: Resource, link: Link, items: Change | None) -> Change:
    """An imported activity matches the manifest wherever TOP shows it; what TOP does not return
    (rules, logic groups, period, priority, channels) is recorded as the manifest says, and its pool
    items are brought to the manifest's in the same change, so one apply converges."""
    reason = (
        f"imported activity {link.remote_id} matches the manifest in every field TOP returns; the fields TOP "
        "does not return (activity_rule, logic groups, period, priority, channels) are assumed to be as the "
        "manifest says and recorded so"
    )
    if items is None:
        record = {"activity": dict(desired.spec["activity"]), "items": dict(link.record.get("items") or {})}
        return Change(
            key=desired.key,
            action=Action.UPDATE,
            calls=(),
            reason=reason + " (no call to TOP)",
            source=desired.source,
            effects=(SetLink(link.remote_id, record),),
        )
    # Recorded only once every item call succeeded, when the pool is exactly the manifest's; if one
    # fails, the activity stays unrecorded and the next plan adopts it again from what TOP shows.
    record = {"activity": dict(desired.spec["activity"]), "items": dict(desired.spec["items"])}
    return Change(
        key=desired.key,
        action=Action.UPDATE,
        calls=items.calls,
        reason=f"{reason}; {items.reason}",
        details=items.details,
        source=desired.source,
        effects=(SetLink(link.remote_id, record),),
    )


def _plan_replace(desired: Resource, link: Link, changed: list[str], drifted: list[str]) -> Change:
    old_id = int(link.remote_id)
    why = which_side_moved(bool(changed), bool(drifted))
    calls = [Call(DELETE, {"param": _activity_ref(old_id)}, effects=(DropLink(),))]
    calls.extend(_create_calls(desired))
    return Change(
        key=desired.key,
        action=Action.REPLACE,
        calls=tuple(calls),
        reason=(
            f"{why}; TOP cannot update an item-pool activity in place, so activity "
            f"{old_id} is deleted first (two copies would stack for buyers) and created again "
            f"with its {len(desired.spec['items'])} item(s)"
        ),
        details=tuple(changed + [f"on TOP: {line}" for line in drifted]),
        source=desired.source,
    )


def _plan_items(desired: Resource, link: Link, live: Mapping[str, Any]) -> Change | None:
    activity_id = int(link.remote_id)
    activity_ref = _activity_ref(activity_id)
    applied_items: Mapping[str, Any] = link.record.get("items") or {}
    desired_items: Mapping[str, Any] = desired.spec["items"]
    live_skus = set(live["skus"])
    if applied_items == desired_items and live_skus == desired_items.keys():
        return None  # the usual case, found by one comparison instead of one per item
    calls: list[Call] = []
    details: list[str] = []
    for sku in sorted(live_skus - desired_items.keys()):
        calls.append(_remove_item_call(activity_id, sku, applied_items.get(sku)))
        details.append(f"- item {sku}")
    # == already compares Decimal 990 equal to int 990; _normal only runs where that finds a difference.
    repriced = (sku for sku, item in desired_items.items() if sku in live_skus and applied_items.get(sku) != item
                and _normal(applied_items.get(sku)) != _normal(item))
    for sku in sorted(repriced):
        # No per-item update exists: a changed price or group is a remove and an add.
        calls.append(_remove_item_call(activity_id, sku, applied_items.get(sku)))
        calls.append(_add_item_call(activity_ref, desired_items[sku]))
        details.append(f"~ item {sku}: {_describe_item(applied_items.get(sku))} → {_describe_item(desired_items[sku])}")
    for sku in sorted(desired_items.keys() - live_skus):
        calls.append(_add_item_call(activity_ref, desired_items[sku]))
        details.append(f"+ item {sku}")
    if not calls:
        return None
    return Change(
        key=desired.key,
        action=Action.UPDATE,
        calls=tuple(calls),
        reason="pool items change by delta",
        details=tuple(details),
        source=desired.source,
    )


def _normal(value: Any) -> Any:
    return _ints(value) if value is not None else None


def _describe_item(item: Mapping[str, Any] | None) -> str:
    if not item:
        return "unknown (not applied by the reconciler)"
    try:  # the item's own price in the seller's words (一口价9.90元, 8.5折, 每件减5.00元)
        own = _own_price(item)
    except (KeyError, TypeError, ValueError):
        own = None
    priced = ("fix_price", "discount_rate", "decrease_money") if own is not None else ()
    parts = [own.label] if own is not None else []
    parts += [f"{k}={v}" for k, v in sorted(item.items()) if k != "sku_code" and k not in priced and not k.startswith("is_")]
    return ", ".join(parts) or "no item price"


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What differs in the manifest's words: the stairs as sellers write them ("stairs: 满600.00元减90.00元
    → 满600.00元减100.00元"), times in GMT+8, other fields by path with yuan and 折
    ("limit_info.user_limit_cnt: 1 → 2")."""
    if before == after:  # the usual case. == already finds Decimal 990 equal to int 990; deepdiff
        return []  # (which would not, hence _ints) only words a difference, at ~1000x the cost of ==
    old, new = _ints(dict(before)), _ints(dict(after))
    lines: list[str] = []
    stairs_before, stairs_after = _stairs_text(old.get("rule_stairs")), _stairs_text(new.get("rule_stairs"))
    if stairs_before != stairs_after:  # else the stairs differ where words do not show: by path below
        lines.append(arrow("stairs", stairs_before, stairs_after))
        old.pop("rule_stairs", None)
        new.pop("rule_stairs", None)
    diff = DeepDiff(old, new, ignore_order=False, view="tree")
    for _report_type, nodes in sorted(diff.items()):
        for node in nodes:
            path = node.path(output_format="list")
            field = str(path[-1]) if path else ""
            lines.append(arrow(_path(path), _show(field, node.t1), _show(field, node.t2)))
    return sorted(lines)


def _create_summary(activity: Mapping[str, Any], items: Mapping[str, Any]) -> str:
    """'满600.00元减90.00元 on 3 item(s): 6901, 6902, 6903, 2027-11-10 20:00 → 2027-11-11 00:00 (GMT+8)'."""
    return (f"{_stairs_text(activity.get('rule_stairs'))} on {items_text(sorted(items))}, "
            f"{epoch_text(int(activity['start_time']))} → {epoch_text(int(activity['end_time']))} (GMT+8)")


def _wire_changes(before: Mapping[str, Any], after: Mapping[str, Any], *, on_top: bool = False) -> list[dict[str, Any]]:
    """The wire values behind _differences' words (plan --json): {"field": path, "before", "after"};
    `on_top` marks what differs on TOP from what was applied."""
    if before == after:
        return []
    diff = DeepDiff(_ints(dict(before)), _ints(dict(after)), ignore_order=False, view="tree")
    found = []
    for _report_type, nodes in sorted(diff.items()):
        for node in nodes:
            found.append({
                "field": _path(node.path(output_format="list")),
                "before": None if isinstance(node.t1, NotPresent) else node.t1,
                "after": None if isinstance(node.t2, NotPresent) else node.t2,
                **({"on_top": True} if on_top else {}),
            })
    return sorted(found, key=lambda entry: str(entry["field"]))


def _stairs_text(stairs: Any) -> str:
    """The wire rule_stairs in words, 满600.00元减90.00元；满3件8折 (a stair priced per item: 按商品定价)."""
    if not stairs:
        return "(none)"
    words = []
    try:
        for wire in stairs:
            stair = _price_stair(wire)
            words.append(stair.label if stair is not None else threshold_text(_price_threshold(wire)) + "按商品定价")
    except (KeyError, TypeError, ValueError, AttributeError):  # a shape the words do not know: shown by path
        return "(not in words)"
    return "；".join(words)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(field: str, value: Any) -> str:
    return "(absent)" if isinstance(value, NotPresent) else fen_field_text(field, value)


# ---- prices (the price guardrails) ---------------------------------------------------------

# Wire rule forms → price forms. 整体一口价 (fix_price) prices the covered units together; 每件一口价
# (each_fix_price) prices each unit; 第N件一口价 prices the Nth unit, so it is a unit price there.
_PRICE_FORMS = {"decrease": Form.DECREASE, "rate": Form.RATE, "fix_price": Form.FIX_TOTAL, "each_fix_price": Form.FIX_PRICE}
_RULE_SCOPES = (
    ("cover_all_discount_rule", _COVER_ALL, Scope.BASKET),
    ("cap_count_discount_rule", _CAP_COUNT, Scope.THRESHOLD_UNITS),
    ("count_at_discount_rule", _NTH, Scope.NTH),
)


def price_rule(resource: Resource) -> PoolActivity:
    activity = resource.spec["activity"]
    items: Mapping[str, Mapping[str, Any]] = resource.spec["items"]
    rule = activity.get("activity_rule") or {}
    stairs = [stair for wire in activity["rule_stairs"] if (stair := _price_stair(wire)) is not None]
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
        item_prices=tuple((sku, price) for sku, item in sorted(items.items()) if (price := _own_price(item))),
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


def _price_threshold(wire: Mapping[str, Any]) -> Threshold:
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


def _price_stair(wire: Mapping[str, Any]) -> Stair | None:
    reward = _price_reward(wire)
    if reward is None:
        return None
    threshold = _price_threshold(wire)
    return Stair(threshold, reward, stair_text(threshold, reward))


def _group_stairs(activity: Mapping[str, Any], items: Mapping[str, Mapping[str, Any]]) -> list[Stair]:
    """A logic group's own discount, on the group's items, whenever the activity applies."""
    stairs = []
    for group in activity.get("logic_group_rules") or ():
        reward = _price_reward(group)
        if reward is None:
            continue
        members = frozenset(sku for sku, item in items.items() if item.get("logic_group_number") == group["number"])
        label = f"logic group {group['number']}: {stair_text(NO_THRESHOLD, reward)}"
        condition = threshold_text(_price_threshold(group))
        stairs.append(Stair(NO_THRESHOLD, reward, label + (f" (group condition {condition} not checked)" if condition else ""), members))
    return stairs


def _own_price(item: Mapping[str, Any]) -> UnitPrice | None:
    """additem's units: fix_price in fen, discount_rate in permille, decrease_money in whole yuan."""
    if item.get("is_fix_price"):
        return unit_price(Form.FIX_PRICE, int(item["fix_price"]))
    if item.get("is_discount_rate"):
        return unit_price(Form.RATE, int(item["discount_rate"]))
    if item.get("is_decrease_money"):
        return unit_price(Form.DECREASE, yuan_to_fen(item["decrease_money"]))
    return None
