"""Shop discounts (``taobao.promotionmisc.*``) as the sandbox emulates them.

Two activity families share one id space and one set of range methods:

* 无条件单品优惠 ``taobao.promotionmisc.item.activity.{add,update,delete,get,list.get}``;
* 满就送 ``taobao.promotionmisc.mjs.activity.{add,update,delete,get,list.get}``;
* participating items ``taobao.promotionmisc.activity.range.{add,remove,all.remove,list.get}``,
  which take the activity id of either family.

Params are flat form fields (no JSON objects). Units, as the method pages give them: money
(``decrease_amount``, ``total_price``) in integer fen; ``discount_rate`` as 800 = 8折 (1..999;
1000 would be no discount); ``start_time`` / ``end_time`` as ``yyyy-MM-dd HH:mm:ss`` in GMT+8
(anything else, ISO 8601 or epoch ms included, is refused); booleans ``true`` / ``false``; an
absent flag means false. A value whose flag is off "has no meaning" (the pages' words) and is
dropped. ``update`` replaces every field, as its page says callers must resend unchanged ones;
mjs ``update`` has no ``type`` (fixed at add): its page does not list it, so sending one is code 41.

Error decision: a required field absent answers code 40 ``isv.missing-parameter`` (checked
against the pages before the handler, request_params.py), and so does a value its flag needs
(``decrease_amount: is required when is_decrease_money is true``); params are read with params.py. A request that is malformed in itself —
a wrong type or format, a number out of range, a name over 32 characters, more than 50
ids in one call, an id listed twice, contradictory flags — answers code 41 ``isv.invalid-parameter``
with sub_msg ``<field>: <what is wrong>``. A well-formed request that breaks a business rule
answers code 15 with sub_code ``isv.<rule>``:

  ``activity-not-exist:activityId``  unknown, deleted, other family's or another shop's activity
                             (TOP's suffix form, as the promotionmisc pages give it)
  ``invalid-time-range``     end_time not after start_time, or already over
  ``benefit-missing``        no 减钱 / 打折 (item), nor 送礼 / 包邮 (mjs): the activity would do nothing
  ``condition-missing``      a 满就送 without 满元 or 满件
  ``activity-not-partial``   range.add on an activity whose participate_range is 0 (whole shop)
  ``item-already-in-range``  range.add of an item already in the range
  ``item-not-in-range``      range.remove of an item not in the range
  ``range-limit-exceeded``   a partial activity may name at most 150 items (range.add's page)

Limits: range.add takes at most 50 ids per call (its page); range.remove's page names no limit,
so the sandbox applies the same 50 (the reconciler batches both to 50). list.get pages hold at
most 50 rows. An update to participate_range 0 clears the range: a whole-shop activity has none.
Lists are bare arrays here (the ``simplify=true`` form) and an empty list is left out, as TOP
does; without ``simplify=true`` the server wraps them with the shape spec's item names
(``{"item_promotion_list": {"item_promotion": [...]}}``; shapes.py). Parameter types, unknown and
missing required params (code 40) are checked against the pages first (request_params.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from reconciler.sandbox import params
from reconciler.sandbox.codec import GMT8, TIME_FORMAT
from reconciler.sandbox.context import CallContext, MethodSpec
from reconciler.sandbox.errors import business_error, invalid_argument, missing_argument

NAMESPACE = "promotionmisc"
ACTIVITY_ID_SEQUENCE = "promotionmisc.activity"
FIRST_ACTIVITY_ID = 20001
NAME_MAX_LENGTH = 32
GIFT_NAME_MAX_LENGTH = 32
MAX_PAGE_SIZE = 50
MAX_IDS_PER_CALL = 50
MAX_RANGE_ITEMS = 150
SHOP_MEMBER_LEVELS = (0, 1, 2, 3, 4)
ITEM, MJS = "item", "mjs"

_ITEM_ID = re.compile(r"[1-9][0-9]{0,19}")
_AREA_CODES = re.compile(r"[0-9]{6}(\*[0-9]{6})*")


# --------------------------------------------------------------------------- flat form params


def _time(ctx: CallContext, name: str) -> str:
    """A required Date, ``yyyy-MM-dd HH:mm:ss`` in GMT+8, kept in that same canonical form."""
    moment = params.top_time(ctx, name, required=True)
    assert moment is not None
    return params.format_time(moment)


def _ids(ctx: CallContext, name: str) -> list[str]:
    """Comma-joined item ids (a String on the page): at most MAX_IDS_PER_CALL, each once."""
    raw = params.text(ctx, name, required=True)
    assert raw is not None
    ids = [part.strip() for part in raw.split(",")]
    for index, item_id in enumerate(ids):
        if not _ITEM_ID.fullmatch(item_id):
            raise invalid_argument(f"{name}[{index}]", f"must be an item id (digits), got {item_id!r}")
    if len(ids) > MAX_IDS_PER_CALL:
        raise invalid_argument(name, f"at most {MAX_IDS_PER_CALL} ids per call, got {len(ids)}")
    seen: set[str] = set()
    for item_id in ids:
        if item_id in seen:
            raise invalid_argument(name, f"lists item {item_id} twice")
        seen.add(item_id)
    return ids


def _epoch_ms(wall: str) -> int:
    return int(datetime.strptime(wall, TIME_FORMAT).replace(tzinfo=GMT8).timestamp() * 1000)


# --------------------------------------------------------------------------- activity fields


def _optional(fields: dict[str, Any], flag: str, value_field: str, value: Any) -> None:
    """Keep a value only while its flag is on: the pages say it has no meaning otherwise. A value
    its flag needs is missing like a required parameter: code 40."""
    if fields.get(flag):
        if value is None:
            raise missing_argument(value_field, f"when {flag} is true")
        fields[value_field] = value


def _common_fields(ctx: CallContext) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": params.text(ctx, "name", required=True, max_length=NAME_MAX_LENGTH),
        "participate_range": params.one_of(ctx, "participate_range", (0, 1), required=True),
        "start_time": _time(ctx, "start_time"),
        "end_time": _time(ctx, "end_time"),
        "is_user_tag": params.flag(ctx, "is_user_tag"),
        "is_decrease_money": params.flag(ctx, "is_decrease_money"),
        "is_discount": params.flag(ctx, "is_discount"),
    }
    _optional(fields, "is_user_tag", "user_tag", params.text(ctx, "user_tag"))
    _optional(fields, "is_decrease_money", "decrease_amount", params.long(ctx, "decrease_amount", minimum=1))
    _optional(fields, "is_discount", "discount_rate", params.long(ctx, "discount_rate", minimum=1, maximum=999))
    if fields["is_decrease_money"] and fields["is_discount"]:
        raise invalid_argument("is_discount", "an activity either decreases the price or discounts it, not both")
    return fields


def _item_fields(ctx: CallContext, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    fields = _common_fields(ctx)
    if not (fields["is_decrease_money"] or fields["is_discount"]):
        raise business_error("benefit-missing", "set is_decrease_money or is_discount: the activity gives nothing")
    return fields


def _mjs_fields(ctx: CallContext, previous: Mapping[str, Any] | None) -> dict[str, Any]:
    fields = _common_fields(ctx)
    if previous is None:
        fields["type"] = params.one_of(ctx, "type", (1, 2), required=True)
    else:
        fields["type"] = previous["type"]  # update has no type: it is fixed at add
    for flag in ("is_amount_over", "is_item_count_over", "is_shop_member", "is_send_gift", "is_free_post"):
        fields[flag] = params.flag(ctx, flag)
    _optional(fields, "is_amount_over", "total_price", params.long(ctx, "total_price", minimum=1))
    _optional(fields, "is_item_count_over", "item_count", params.long(ctx, "item_count", minimum=1))
    fields["is_amount_multiple"] = fields["is_amount_over"] and params.flag(ctx, "is_amount_multiple")
    fields["is_item_multiple"] = fields["is_item_count_over"] and params.flag(ctx, "is_item_multiple")
    level = params.one_of(ctx, "shop_member_level", SHOP_MEMBER_LEVELS)
    _optional(fields, "is_shop_member", "shop_member_level", level)
    gift_name = params.text(ctx, "gift_name", max_length=GIFT_NAME_MAX_LENGTH)
    _optional(fields, "is_send_gift", "gift_name", gift_name)
    if fields["is_send_gift"]:
        gift = (("gift_id", params.long(ctx, "gift_id", minimum=1)), ("gift_url", params.text(ctx, "gift_url")))
        for name, value in gift:
            if value is not None:
                fields[name] = value
    if fields["is_free_post"]:
        area = params.text(ctx, "exclude_area")
        if area is not None:
            if not _AREA_CODES.fullmatch(area):
                raise invalid_argument("exclude_area", f"must be 6-digit area codes joined by '*', got {area!r}")
            fields["exclude_area"] = area
    if fields["is_amount_over"] and fields["is_item_count_over"]:
        raise invalid_argument("is_item_count_over", "a 满就送 has one condition: 满元 or 满件, not both")
    if not (fields["is_amount_over"] or fields["is_item_count_over"]):
        raise business_error("condition-missing", "set is_amount_over or is_item_count_over (满元 or 满件)")
    if not any(fields[flag] for flag in ("is_decrease_money", "is_discount", "is_send_gift", "is_free_post")):
        raise business_error(
            "benefit-missing", "set at least one of is_decrease_money, is_discount, is_send_gift, is_free_post"
        )
    return fields


def _check_times(ctx: CallContext, fields: Mapping[str, Any]) -> None:
    start, end = _epoch_ms(fields["start_time"]), _epoch_ms(fields["end_time"])
    if end <= start:
        raise business_error("invalid-time-range", "end_time must be after start_time")
    if end <= ctx.now_ms:
        raise business_error("invalid-time-range", "end_time is in the past: the activity would already be over")


def _describe(family: str, fields: Mapping[str, Any]) -> str:
    """The 'description' TOP derives: conditions, crowd and benefits in words (output only)."""
    parts: list[str] = []
    if family == MJS:
        if fields.get("is_amount_over"):
            parts.append(f"满{_yuan(fields['total_price'])}元")
        if fields.get("is_item_count_over"):
            parts.append(f"满{fields['item_count']}件")
        if fields.get("is_amount_multiple") or fields.get("is_item_multiple"):
            parts.append("上不封顶")
    if fields.get("is_shop_member"):
        parts.append(f"会员等级{fields['shop_member_level']}")
    if fields.get("is_user_tag"):
        parts.append(f"人群{fields['user_tag']}")
    if fields.get("is_decrease_money"):
        parts.append(f"减{_yuan(fields['decrease_amount'])}元")
    if fields.get("is_discount"):
        parts.append(f"打{(Decimal(fields['discount_rate']) / 100).normalize()}折")
    if fields.get("is_send_gift"):
        parts.append(f"送{fields['gift_name']}")
    if fields.get("is_free_post"):
        parts.append("包邮")
    return "，".join(parts)


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


# --------------------------------------------------------------------------- shop state


def _activities(ctx: CallContext) -> dict[str, dict[str, Any]]:
    space = ctx.namespace(NAMESPACE)
    activities: dict[str, dict[str, Any]] = space.setdefault("activities", {})
    return activities


def _live(ctx: CallContext, family: str | None) -> list[dict[str, Any]]:
    records = (r for r in _activities(ctx).values() if not r["deleted"])
    return sorted((r for r in records if family is None or r["family"] == family), key=lambda r: r["activity_id"])


def _find(ctx: CallContext, activity_id: int, family: str | None) -> dict[str, Any]:
    record = _activities(ctx).get(str(activity_id))
    if record is None or record["deleted"] or (family is not None and record["family"] != family):
        # TOP's sub code carries the field as a suffix (the promotionmisc pages' error tables).
        raise business_error("activity-not-exist:activityId", f"activity {activity_id} does not exist")
    return record


def _activity_id(ctx: CallContext) -> int:
    activity_id = params.long(ctx, "activity_id", required=True, minimum=1)
    assert activity_id is not None
    return activity_id


def _summary(record: Mapping[str, Any]) -> dict[str, Any]:
    """The few fields list.get answers (its page: id, name, description, range, times, type)."""
    fields = record["fields"]
    summary: dict[str, Any] = {
        "activity_id": record["activity_id"],
        "name": fields["name"],
        "description": _describe(record["family"], fields),
    }
    if record["family"] == MJS:
        summary["type"] = fields["type"]
    summary.update({key: fields[key] for key in ("participate_range", "start_time", "end_time")})
    return summary


def _detail(record: Mapping[str, Any]) -> dict[str, Any]:
    return {**_summary(record), **record["fields"]}


# --------------------------------------------------------------------------- activity handlers

FieldReader = Callable[[CallContext, Mapping[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True)
class _Family:
    name: str
    read_fields: FieldReader
    get_key: str  # the object get answers, e.g. "item_promotion"
    list_key: str  # the list list.get answers, e.g. "item_promotion_list"

    def add(self, ctx: CallContext) -> dict[str, Any]:
        fields = self.read_fields(ctx, None)
        _check_times(ctx, fields)
        activity_id = ctx.store.next_id(ACTIVITY_ID_SEQUENCE, FIRST_ACTIVITY_ID)
        _activities(ctx)[str(activity_id)] = {
            "activity_id": activity_id,
            "family": self.name,
            "fields": fields,
            "range": [],  # item ids in the order added
            "deleted": False,
            "created_at": ctx.now_ms,
        }
        return {"is_success": True, "activity_id": activity_id}

    def update(self, ctx: CallContext) -> dict[str, Any]:
        record = _find(ctx, _activity_id(ctx), self.name)
        fields = self.read_fields(ctx, record["fields"])
        _check_times(ctx, fields)
        record["fields"] = fields
        if fields["participate_range"] == 0:
            record["range"] = []
        return {"is_success": True}

    def delete(self, ctx: CallContext) -> dict[str, Any]:
        record = _find(ctx, _activity_id(ctx), self.name)
        record["deleted"] = True
        record["deleted_at"] = ctx.now_ms
        return {"is_success": True}

    def get(self, ctx: CallContext) -> dict[str, Any]:
        record = _find(ctx, _activity_id(ctx), self.name)
        return {self.get_key: _detail(record)}

    def list_get(self, ctx: CallContext) -> dict[str, Any]:
        activity_type = params.one_of(ctx, "activity_type", (1, 2), required=True) if self.name == MJS else None
        page_no = params.long(ctx, "page_no", required=True, minimum=1)
        page_size = params.long(ctx, "page_size", required=True, minimum=1, maximum=MAX_PAGE_SIZE)
        assert page_no is not None and page_size is not None
        records = [r for r in _live(ctx, self.name) if activity_type is None or r["fields"]["type"] == activity_type]
        page = records[(page_no - 1) * page_size : page_no * page_size]
        answer: dict[str, Any] = {"total_count": len(records)}
        if page:
            answer[self.list_key] = [_summary(r) for r in page]
        return answer


# --------------------------------------------------------------------------- range handlers


def _partial(ctx: CallContext) -> dict[str, Any]:
    record = _find(ctx, _activity_id(ctx), None)
    if record["fields"]["participate_range"] != 1:
        raise business_error(
            "activity-not-partial",
            f"activity {record['activity_id']} applies to the whole shop (participate_range 0); it has no item range",
        )
    return record


def range_add(ctx: CallContext) -> dict[str, Any]:
    record = _partial(ctx)
    ids = _ids(ctx, "ids")
    present = [item_id for item_id in ids if item_id in record["range"]]
    if present:
        raise business_error(
            "item-already-in-range", f"item {present[0]} is already in activity {record['activity_id']}"
        )
    if len(record["range"]) + len(ids) > MAX_RANGE_ITEMS:
        raise business_error(
            "range-limit-exceeded",
            f"an activity takes at most {MAX_RANGE_ITEMS} items; it has {len(record['range'])}, adding {len(ids)}",
        )
    record["range"].extend(ids)
    return {"is_success": True}


def range_remove(ctx: CallContext) -> dict[str, Any]:
    record = _find(ctx, _activity_id(ctx), None)
    ids = _ids(ctx, "ids")
    absent = [item_id for item_id in ids if item_id not in record["range"]]
    if absent:
        raise business_error("item-not-in-range", f"item {absent[0]} is not in activity {record['activity_id']}")
    record["range"] = [item_id for item_id in record["range"] if item_id not in ids]
    return {"is_success": True}


def range_all_remove(ctx: CallContext) -> dict[str, Any]:
    record = _find(ctx, _activity_id(ctx), None)
    record["range"] = []
    return {"is_success": True}


def range_list_get(ctx: CallContext) -> dict[str, Any]:
    record = _find(ctx, _activity_id(ctx), None)
    rows = [
        {"item_id": int(item_id), "activity_id": record["activity_id"], "activity_name": record["fields"]["name"]}
        for item_id in record["range"]
    ]
    return {"promotion_range_list": rows} if rows else {}


# --------------------------------------------------------------------------- registry

_ITEM = _Family(ITEM, _item_fields, "item_promotion", "item_promotion_list")
_MJS = _Family(MJS, _mjs_fields, "mjs_promotion", "mjs_promotion_list")


def _family_methods(family: _Family) -> tuple[MethodSpec, ...]:
    prefix = f"taobao.promotionmisc.{family.name}.activity"
    return (
        MethodSpec(f"{prefix}.add", family.add, writes=True),
        MethodSpec(f"{prefix}.update", family.update, writes=True),
        MethodSpec(f"{prefix}.delete", family.delete, writes=True),
        MethodSpec(f"{prefix}.get", family.get),
        MethodSpec(f"{prefix}.list.get", family.list_get),
    )


METHODS: tuple[MethodSpec, ...] = (
    *_family_methods(_ITEM),
    *_family_methods(_MJS),
    MethodSpec("taobao.promotionmisc.activity.range.add", range_add, writes=True),
    MethodSpec("taobao.promotionmisc.activity.range.remove", range_remove, writes=True),
    MethodSpec("taobao.promotionmisc.activity.range.all.remove", range_all_remove, writes=True),
    MethodSpec("taobao.promotionmisc.activity.range.list.get", range_list_get),
)
