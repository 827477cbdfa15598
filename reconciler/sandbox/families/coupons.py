"""Shop coupons (``taobao.promotion.coupon*``) as the sandbox emulates them.

Rules, from the method pages (``top-api/methods/*.json`` and the error tables of TOP's pages).
Parameters are read with params.py: a required parameter that is missing answers code 40
(``isv.missing-parameter``), a malformed one code 41 (``isv.invalid-parameter``), both naming the
parameter first in ``sub_msg``; a broken
business rule answers code 15 with the page's ``isv.*`` sub_code.

``taobao.promotion.coupon.add``
  * ``denominations`` (required) is whole yuan and must be 3, 5, 10, 20, 50 or 100, else
    ``isv.parameter-denominations-error``. ``10.00`` or ``1000`` are not "10": the first is not
    a Long (code 41), the second is fen sent by mistake (denominations error).
  * ``condition`` is whole yuan (``500`` = 满500元); absent means denomination + 1; ``0`` means no
    threshold; anything else below the denomination is ``isv.parameter-condition-error``.
  * ``start_time`` (optional) and ``end_time`` (required) are ``yyyy-MM-dd HH:mm:ss`` in GMT+8;
    epoch ms or ISO 8601 are refused with code 41. ``end_time`` must be at least today 23:59:59
    (GMT+8), at most 6 calendar months from now, and not before ``start_time``; else
    ``isv.parameter-endtime-error``.
  * At most 50 valid coupons per shop (valid = not yet ended; the page counts 有效期内 coupons and
    coupons.get cannot show a start time, so a coupon that has not started yet counts too). The
    page names no sub_code for this; the sandbox answers ``isv.coupon-count-over-limit``.

``taobao.promotion.coupons.get``
  * Pages of at most 20 (``page_size`` > 20 is code 41), ``page_no`` from 1; every coupon the shop
    ever created, ended ones included, oldest first. Filters: ``coupon_id``, ``denominations``
    (yuan, like add), ``end_time`` (the page does not say how it filters; the sandbox returns
    coupons ending at or before it).
  * Answers money in **fen**: ``denominations`` 1000 and ``condition`` 9900 for a coupon added as
    10 and 99. No start time is returned (the response has no such field).

``taobao.promotion.coupon.send`` / ``taobao.promotion.coupon.sns.send``
  * ``coupon_id`` must be one of this shop's coupons that has not ended, else ``isv.coupon-error``
    (优惠券不存在或者优惠券已经过期).
  * ``buyer_nick`` (comma-joined) holds at most 100 nicks; ``buyer_ids`` / ``ouid_data`` (send)
    and ``open_uids`` (sns.send) at most 999 each; but one call sends at most 100 coupons, so all
    buyers of one call together are at most 100: code 41 otherwise; a call naming no buyer at all is
    code 40 (each list is optional on the page, but one must be there).
  * Per buyer: a nick or id starting with ``fail-`` does not exist (reason 买家不存在); the sandbox
    has no other buyers to refuse, so tests can make any buyer fail on purpose. A buyer may get
    the same coupon more than once (TOP does not refuse it), which lets tests see double sends.
  * The answer, as the page says: when every buyer got the coupon it is empty (send: only
    ``is_success: true``); otherwise it lists ``failure_buyers`` (with ``reason``) and
    ``coupon_results`` (with ``coupon_number``). ``is_success`` stays true even when every buyer
    failed. sns.send's response has no ``is_success`` field at all.

Handlers return lists as bare arrays (the ``simplify=true`` form); without ``simplify=true`` the
server wraps them with the shape spec's item names (``{"coupons": {"coupon": [...]}}``,
``failure_buyers`` → ``error_message``, ``coupon_results`` → ``coupon_result``; see shapes.py).
Parameter types are checked against the pages first (request_params.py).

State (per shop, namespace ``coupons``): ``{"coupons": {"<id>": {...record...}}}``; each record
keeps what add stored and ``grants``: one entry per coupon sent, for tests to inspect.
"""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any

from reconciler.sandbox import params
from reconciler.sandbox.codec import GMT8, TIME_FORMAT
from reconciler.sandbox.context import CallContext, MethodSpec
from reconciler.sandbox.errors import business_error, invalid_argument, missing_argument

NAMESPACE = "coupons"
COUPON_ID_SEQUENCE = "coupons.coupon"
FIRST_COUPON_ID = 50001
COUPON_NUMBER_SEQUENCE = "coupons.number"
FIRST_COUPON_NUMBER = 880000001
DENOMINATIONS = (3, 5, 10, 20, 50, 100)
MAX_VALID_COUPONS = 50
MAX_END_MONTHS = 6
MAX_PAGE_SIZE = 20
MAX_COUPONS_PER_SEND = 100
MAX_NICKS = 100
MAX_OPEN_IDS = 999
FAILING_PREFIX = "fail-"
NO_SUCH_BUYER = "买家不存在"
SELF_CREATED = "自己创建"


# --------------------------------------------------------------------------- parameter parsing


def _long(ctx: CallContext, name: str, *, required: bool = False) -> int | None:
    """Ids, whole yuan and page numbers: never negative here."""
    return params.long(ctx, name, required=required, minimum=0)


def _ouids(ctx: CallContext) -> list[str]:
    entries = params.json_array(ctx, "ouid_data")
    if not all(isinstance(e, dict) and isinstance(e.get("ouid"), str) for e in entries):
        raise invalid_argument("ouid_data", 'must be a JSON array of {"ouid": "..."}')
    if len(entries) > MAX_OPEN_IDS:
        raise invalid_argument("ouid_data", f"lists {len(entries)} entries; at most {MAX_OPEN_IDS} are allowed")
    return [entry["ouid"] for entry in entries]


# --------------------------------------------------------------------------- state


def _coupons(ctx: CallContext) -> dict[str, Any]:
    space = ctx.namespace(NAMESPACE)
    coupons: dict[str, Any] = space.setdefault("coupons", {})
    return coupons


def _ends(record: dict[str, Any]) -> datetime:
    return datetime.strptime(record["end_time"], TIME_FORMAT).replace(tzinfo=GMT8)


def _is_valid(record: dict[str, Any], now: datetime) -> bool:
    return _ends(record) >= now


def _add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


# --------------------------------------------------------------------------- coupon.add


def _check_denomination(denomination: int) -> None:
    if denomination not in DENOMINATIONS:
        raise business_error(
            "parameter-denominations-error",
            f"面额必须是3,5,10,20,50,100 (denominations is whole yuan; got {denomination})",
        )


def _condition(denomination: int, condition: int | None) -> int:
    if condition is None:
        return denomination + 1  # the page: 默认使用条件面额+1
    if condition != 0 and condition < denomination:
        raise business_error(
            "parameter-condition-error",
            f"优惠券的使用条件不能小于面额 (condition {condition} yuan is below the denomination "
            f"{denomination}; 0 means no condition)",
        )
    return condition


def _check_times(start: datetime | None, end: datetime, now: datetime) -> None:
    end_of_today = now.replace(hour=23, minute=59, second=59, microsecond=0)
    latest = _add_months(now, MAX_END_MONTHS)
    if end < end_of_today:
        raise business_error(
            "parameter-endtime-error",
            f"优惠券的结束日期必须大于等于当天 {end_of_today.strftime(TIME_FORMAT)}",
        )
    if end > latest:
        raise business_error(
            "parameter-endtime-error",
            f"优惠券结束日期不能大于6个月 (latest end now: {latest.strftime(TIME_FORMAT)})",
        )
    if start is not None and start > end:
        raise business_error("parameter-endtime-error", "优惠券的结束日期不能早于生效时间 (end_time is before start_time)")


def _check_cap(ctx: CallContext, now: datetime) -> None:
    valid = sum(1 for record in _coupons(ctx).values() if _is_valid(record, now))
    if valid >= MAX_VALID_COUPONS:
        raise business_error(
            "coupon-count-over-limit",
            f"有效期内的店铺优惠券总数量不超过{MAX_VALID_COUPONS}张 (this shop has {valid} valid coupons)",
        )


def add_coupon(ctx: CallContext) -> dict[str, Any]:
    denomination = _long(ctx, "denominations", required=True)
    condition = _long(ctx, "condition")
    start = params.top_time(ctx, "start_time")
    end = params.top_time(ctx, "end_time", required=True)
    assert denomination is not None and end is not None
    now = params.now(ctx)
    _check_denomination(denomination)
    condition = _condition(denomination, condition)
    _check_times(start, end, now)
    _check_cap(ctx, now)
    coupon_id = ctx.store.next_id(COUPON_ID_SEQUENCE, FIRST_COUPON_ID)
    _coupons(ctx)[str(coupon_id)] = {
        "coupon_id": coupon_id,
        "denominations": denomination,  # yuan, as added; answered in fen
        "condition": condition,  # yuan, as added; answered in fen
        "start_time": (start or now).strftime(TIME_FORMAT),
        "end_time": end.strftime(TIME_FORMAT),
        "creat_time": now.strftime(TIME_FORMAT),
        "grants": [],
    }
    return {"coupon_id": coupon_id}


# --------------------------------------------------------------------------- coupons.get


def _coupon_view(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "coupon_id": record["coupon_id"],
        "denominations": record["denominations"] * 100,
        "condition": record["condition"] * 100,
        "creat_time": record["creat_time"],
        "end_time": record["end_time"],
        "create_channel": SELF_CREATED,
    }


def get_coupons(ctx: CallContext) -> dict[str, Any]:
    coupon_id = _long(ctx, "coupon_id")
    denomination = _long(ctx, "denominations")
    ends_by = params.top_time(ctx, "end_time")
    page_no = _long(ctx, "page_no") or 1
    page_size = _long(ctx, "page_size") or MAX_PAGE_SIZE
    if page_size > MAX_PAGE_SIZE:
        raise invalid_argument("page_size", f"must be at most {MAX_PAGE_SIZE}, got {page_size}")
    records = sorted(_coupons(ctx).values(), key=lambda record: record["coupon_id"])
    matching = [
        record
        for record in records
        if (coupon_id is None or record["coupon_id"] == coupon_id)
        and (denomination is None or record["denominations"] == denomination)
        and (ends_by is None or _ends(record) <= ends_by)
    ]
    page = matching[(page_no - 1) * page_size : page_no * page_size]
    return {"total_results": len(matching), "coupons": [_coupon_view(record) for record in page]}


# --------------------------------------------------------------------------- sends


def _sendable_coupon(ctx: CallContext, coupon_id: int) -> dict[str, Any]:
    record: dict[str, Any] | None = _coupons(ctx).get(str(coupon_id))
    if record is None or not _is_valid(record, params.now(ctx)):
        raise business_error("coupon-error", f"优惠券不存在或者优惠券已经过期 (coupon {coupon_id})")
    return record


def _check_buyer_count(buyers: list[tuple[str, str]], fields: str) -> None:
    if not buyers:  # each list is optional on the page, but one of them must name a buyer
        raise missing_argument("buyer_nick", f"(or {fields}): name at least one buyer")
    if len(buyers) > MAX_COUPONS_PER_SEND:
        raise invalid_argument(
            "buyer_nick", f"{len(buyers)} buyers in one call; 每次只能发送{MAX_COUPONS_PER_SEND}张"
        )


def _send(ctx: CallContext, buyers: list[tuple[str, str]], *, with_flag: bool, fields: str) -> dict[str, Any]:
    """Send to each (answer field, buyer) pair; the answer follows the page's shape rules."""
    coupon_id = _long(ctx, "coupon_id", required=True)
    assert coupon_id is not None
    _check_buyer_count(buyers, fields)
    record = _sendable_coupon(ctx, coupon_id)
    failures: list[dict[str, Any]] = []
    results: list[dict[str, Any]] = []
    for field, buyer in buyers:
        if buyer.startswith(FAILING_PREFIX):
            failures.append({field: buyer, "reason": NO_SUCH_BUYER})
            continue
        number = ctx.store.next_id(COUPON_NUMBER_SEQUENCE, FIRST_COUPON_NUMBER)
        record["grants"].append({field: buyer, "coupon_number": number, "at": ctx.now_ms, "via": ctx.method})
        results.append({field: buyer, "coupon_number": number})
    answer: dict[str, Any] = {"is_success": True} if with_flag else {}
    if failures:
        answer["failure_buyers"] = failures
        answer["coupon_results"] = results
    return answer


def send_coupon(ctx: CallContext) -> dict[str, Any]:
    nicks = params.names(ctx, "buyer_nick", MAX_NICKS)
    open_uids = params.names(ctx, "buyer_ids", MAX_OPEN_IDS)
    ouids = _ouids(ctx)
    buyers = [("buyer_nick", n) for n in nicks] + [("open_uid", u) for u in open_uids] + [("ouid", o) for o in ouids]
    return _send(ctx, buyers, with_flag=True, fields="buyer_ids, ouid_data")


def sns_send_coupon(ctx: CallContext) -> dict[str, Any]:
    nicks = params.names(ctx, "buyer_nick", MAX_NICKS)
    open_uids = params.names(ctx, "open_uids", MAX_OPEN_IDS)
    buyers = [("buyer_nick", n) for n in nicks] + [("open_uid", u) for u in open_uids]
    return _send(ctx, buyers, with_flag=False, fields="open_uids")


METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("taobao.promotion.coupon.add", add_coupon, writes=True),
    MethodSpec("taobao.promotion.coupons.get", get_coupons),
    MethodSpec("taobao.promotion.coupon.send", send_coupon, writes=True),
    MethodSpec("taobao.promotion.coupon.sns.send", sns_send_coupon, writes=True),
)
