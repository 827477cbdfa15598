"""Taoke cash gifts, 淘礼金 (``taobao.tbk.dg.vegas.tlj.*``), as the sandbox emulates them.

Who calls them: a Taoke promoter (淘宝客-推广者), with an Alimama (Taoke) app's key and its ad
zone, and no seller session. Evidence: TOP's generated Go SDK calls all three with
``Client.Execute(method, ...)`` and no session argument (github.com/toodo-fun/topsdk,
``ability1826/Ability1826.go``), where seller methods of that generated SDK take one
(``ExecuteWithSession("taobao.promotion.activity.get", ..., session)``, github.com/qcfengdaai/topsdk
``ability641/Ability641.go``); TOP's Python SDK request
classes (``top.api.TbkDgVegasTljReportRequest``) carry only ``adzone_id`` and ``rights_id``. So:

* the three methods need no session (``needs_session=False``); a session that comes along anyway
  is ignored, as for every session-less method here. No public source says whether TOP checks
  one; the official SDKs and our client never send one for these methods. The call log records
  the calling ``app`` (key) and ``session_sent`` so tests can tell;
* only a Taoke app may call them: the seller's demo app gets code 11
  ``isv.permission-api-package-limit`` (``MethodSpec.taoke_app``, checked in server.py);
* gifts and funds belong to the promoter's account, kept per app key
  (``Store.app_namespace(app_key, "tbk")``); a gift remembers the ad zone it was created for.

Rules, from the method pages (``top-api/methods/taobao.tbk.dg.vegas.tlj.*.json``):

``taobao.tbk.dg.vegas.tlj.create``
  * Required (code 40 when absent): ``adzone_id``, ``item_id``, ``total_num``, ``name``,
    ``user_total_win_num_limit``, ``security_switch``, ``per_face``, ``send_start_time``.
  * Code 41 when malformed: ``security_switch`` must be ``true`` (必须设置为true);
    ``security_level``, when sent, must be ``0`` (必须传入0); ``name`` at most 10 characters;
    ``per_face`` a yuan amount (单位元, at most two decimals, 支持两位小数) above 0 — ``500`` is
    500 yuan, not 5; ``total_num``, ``user_total_win_num_limit``, ``adzone_id`` whole numbers of
    at least 1; ``send_start_time`` / ``send_end_time`` ``yyyy-MM-dd HH:mm:ss`` (GMT+8);
    ``use_end_time_mode`` 1 (relative) or 2 (absolute). The page marks neither ``use_end_time``
    nor its mode required, but a gift without a validity cannot be used: the sandbox asks for both
    (code 40 when absent, like any missing parameter; so is ``use_start_time`` in mode 2).
    Relative: ``use_end_time`` is a whole number of days 1..7 and ``use_start_time`` must not be
    sent (无需填写). Absolute: ``use_start_time`` and ``use_end_time`` are days ``yyyy-MM-dd``
    (from 00:00:00 to 23:59:59 GMT+8). ``campaign_type`` is ignored (已下线).
  * Code 15 business rules: ``isv.invalid-time-range`` (send_end_time not after
    send_start_time, or already past), ``isv.invalid-use-time`` (absolute use window that ends
    before it starts, before issuing starts, or before today), ``isv.insufficient-funds``
    (per_face × total_num above the account's available funds, 100,000.00 yuan to start with).
  * Answer: ``result {success, msg_code, msg_info, model {rights_id, send_url, vegas_code,
    available_fee (yuan, 2 decimals), item_today_num_left}}``.
``taobao.tbk.dg.vegas.tlj.stop``
  * ``rights_id`` and ``adzone_id`` required; an unknown (or another account's) rights_id is
    ``isv.tlj-not-exist``; an adzone_id other than the one it was created with is
    ``isv.adzone-mismatch``; stopping a stopped gift is ``isv.tlj-already-stopped``. Stopping
    pauses issuing only (暂停发放): gifts already claimed stay usable. The unclaimed budget
    returns to the account. Answer: ``model {update_success}``, ``result_success``.
``taobao.tbk.dg.vegas.tlj.report``
  * ``rights_id`` and ``adzone_id`` required, same lookups; only gifts created in the last 150
    days (只提供近150天的数据), else ``isv.tlj-report-unavailable``. Answer: ``model {extra {...}}``
    with counts as numbers, money as yuan strings with two decimals and rates as strings.
    ``get_rate`` (领取率, claimed / total) and ``use_rate`` (使用率, used / claimed) are
    percentages with two decimals ("12.00" = 12 %, "100.00" = all claimed): the page gives no unit,
    the issue's evidence has a public caller compare get_rate with 100 (we could not find it
    again), and a percentage is the reading whose wrong guess costs least (reconciler.kinds.
    taoke_cash_gift.issuing_over).
    ``remaining_num`` / ``remaining_amt`` count only once issuing is over (stopped or past
    send_end_time), as the page defines them.

Figures come from ``POST /_sandbox/tlj/usage`` (:func:`record_usage`), which stands in for
buyers claiming and using gifts.

State (per Taoke app key, namespace ``tbk``): ``{"funds": "100000.00", "gifts": {"<rights_id>": {...}}}``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date, datetime, time
from decimal import Decimal
from typing import Any

from reconciler.sandbox import params
from reconciler.sandbox.codec import GMT8
from reconciler.sandbox.context import CallContext, MethodSpec
from reconciler.sandbox.errors import business_error, invalid_argument, missing_argument
from reconciler.sandbox.store import Store

NAMESPACE = "tbk"
GIFT_SEQUENCE = "tbk.tlj"
FIRST_GIFT = 1
STARTING_FUNDS = Decimal("100000.00")
MAX_NAME_CHARS = 10
MAX_RELATIVE_DAYS = 7
REPORT_DAYS = 150
ITEM_DAILY_GIFTS = 10_000  # the sandbox's figure for item_today_num_left
DEMO_ALIMAMA_APP_KEY = "23456789"  # the demo Taoke app; server.py lists it with its secret
_CENT = Decimal("0.01")
_HUNDRED = Decimal(100)


def _account(store: Store, app_key: str) -> dict[str, Any]:
    """The promoter's account behind a Taoke app key: its funds and its gifts."""
    space = store.app_namespace(app_key, NAMESPACE)
    space.setdefault("funds", format(STARTING_FUNDS, "f"))
    space.setdefault("gifts", {})
    return space


def _ctx_account(ctx: CallContext) -> dict[str, Any]:
    return _account(ctx.store, ctx.app_key)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp()) * 1000


# --------------------------------------------------------------------------- create


def _use_window(ctx: CallContext, send_start: datetime) -> dict[str, Any]:
    mode = params.long(ctx, "use_end_time_mode")
    if mode is None:
        raise missing_argument("use_end_time_mode", "(1 relative days or 2 absolute days)")
    if mode not in (1, 2):
        raise invalid_argument("use_end_time_mode", f"must be 1 (relative) or 2 (absolute), got {mode}")
    if params.text(ctx, "use_end_time") is None:
        raise missing_argument("use_end_time", "(how long a claimed gift can be used)")
    if mode == 1:
        if params.text(ctx, "use_start_time") is not None:
            raise invalid_argument("use_start_time", "must not be sent with use_end_time_mode 1 (the claim starts it)")
        days = params.long(ctx, "use_end_time", minimum=1, maximum=MAX_RELATIVE_DAYS)
        return {"use_end_time_mode": 1, "use_days": days}
    start = params.day(ctx, "use_start_time")
    end = params.day(ctx, "use_end_time")
    if start is None:
        raise missing_argument("use_start_time", "with use_end_time_mode 2 (a day, yyyy-MM-dd)")
    assert end is not None
    today = params.now(ctx).date()
    if end < start:
        raise business_error("invalid-use-time", f"use_end_time {end} is before use_start_time {start}")
    if end < today:
        raise business_error("invalid-use-time", f"use_end_time {end} is already over (today is {today}, GMT+8)")
    if _day_end(end) < send_start:
        raise business_error("invalid-use-time", f"gifts would expire on {end}, before issuing starts")
    return {"use_end_time_mode": 2, "use_start": start.isoformat(), "use_end": end.isoformat()}


def _day_end(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), GMT8)


def _create_request(ctx: CallContext) -> dict[str, Any]:
    for name in ("adzone_id", "item_id", "total_num", "name", "user_total_win_num_limit", "security_switch",
                 "per_face", "send_start_time"):
        params.text(ctx, name, required=True)
    if params.boolean(ctx, "security_switch", required=True) is not True:
        raise invalid_argument("security_switch", "must be true (必须设置为true)")
    level = params.long(ctx, "security_level")
    if level is not None and level != 0:
        raise invalid_argument("security_level", f"must be 0 (必须传入0), got {level}")
    name = params.text(ctx, "name", required=True) or ""
    if len(name) > MAX_NAME_CHARS:
        raise invalid_argument("name", f"at most {MAX_NAME_CHARS} characters, got {len(name)}")
    per_face = params.yuan(ctx, "per_face", required=True)
    assert per_face is not None
    if per_face <= 0:
        raise invalid_argument("per_face", f"must be above 0 yuan, got {per_face}")
    send_start = params.top_time(ctx, "send_start_time", required=True)
    send_end = params.top_time(ctx, "send_end_time")
    assert send_start is not None
    if send_end is not None and send_end <= send_start:
        raise business_error("invalid-time-range", "send_end_time must be after send_start_time")
    if send_end is not None and _ms(send_end) <= ctx.now_ms:
        raise business_error("invalid-time-range", "send_end_time is already past: the gift could never be issued")
    request: dict[str, Any] = {
        "adzone_id": params.long(ctx, "adzone_id", required=True, minimum=1),
        "item_id": params.text(ctx, "item_id", required=True),
        "total_num": params.long(ctx, "total_num", required=True, minimum=1),
        "per_user": params.long(ctx, "user_total_win_num_limit", required=True, minimum=1),
        "name": name,
        "per_face": format(per_face.quantize(_CENT), "f"),
        "send_start": _ms(send_start),
        "send_end": _ms(send_end) if send_end is not None else None,
    }
    request.update(_use_window(ctx, send_start))
    return request


def create(ctx: CallContext) -> dict[str, Any]:
    request = _create_request(ctx)
    account = _ctx_account(ctx)
    budget = Decimal(request["per_face"]) * request["total_num"]
    funds = Decimal(account["funds"])
    if budget > funds:
        raise business_error(
            "insufficient-funds", f"{request['total_num']} × {request['per_face']} = {budget} yuan, only {funds} available"
        )
    account["funds"] = format((funds - budget).quantize(_CENT), "f")
    serial = ctx.store.next_id(GIFT_SEQUENCE, FIRST_GIFT)
    token = hashlib.sha256(f"tlj:{serial}".encode()).hexdigest()
    rights_id = "tlj" + token[:21]
    vegas_code = token[21:29].upper()
    account["gifts"][rights_id] = {
        **request,
        "rights_id": rights_id,
        "vegas_code": vegas_code,
        "created": ctx.now_ms,
        "stopped": None,  # epoch ms once stopped
        "usage": {"claimed": 0, "used": 0, "refunded": 0, "paid_orders": 0, "paid_amount": "0.00"},
    }
    return {
        "result": {
            "success": True,
            "msg_code": "0",
            "msg_info": "调用成功",
            "model": {
                "rights_id": rights_id,
                "send_url": f"https://uland.taobao.com/taolijin/edetail?vegasCode={vegas_code}&type=qtz",
                "vegas_code": vegas_code,
                "available_fee": account["funds"],
                "item_today_num_left": ITEM_DAILY_GIFTS,
            },
        }
    }


# --------------------------------------------------------------------------- stop and report


def _gift(ctx: CallContext) -> dict[str, Any]:
    rights_id = params.text(ctx, "rights_id", required=True)
    adzone_id = params.long(ctx, "adzone_id", required=True, minimum=1)
    gift: dict[str, Any] | None = _ctx_account(ctx)["gifts"].get(rights_id)
    if gift is None:
        raise business_error("tlj-not-exist", f"no Taoke cash gift {rights_id} in this account")
    if gift["adzone_id"] != adzone_id:
        raise business_error("adzone-mismatch", f"gift {rights_id} was created for adzone {gift['adzone_id']}")
    return gift


def _issuing_over(gift: Mapping[str, Any], now_ms: int) -> bool:
    return gift["stopped"] is not None or (gift["send_end"] is not None and gift["send_end"] <= now_ms)


def stop(ctx: CallContext) -> dict[str, Any]:
    gift = _gift(ctx)
    if gift["stopped"] is not None:
        raise business_error("tlj-already-stopped", f"gift {gift['rights_id']} is already stopped")
    gift["stopped"] = ctx.now_ms
    account = _ctx_account(ctx)
    unclaimed = (gift["total_num"] - gift["usage"]["claimed"]) * Decimal(gift["per_face"])
    account["funds"] = format((Decimal(account["funds"]) + unclaimed).quantize(_CENT), "f")
    return {"model": {"update_success": True}, "result_success": True, "msg_code": "0", "msg_info": "调用成功"}


def _yuan(amount: Decimal) -> str:
    return format(amount.quantize(_CENT), "f")


def _rate(part: int, whole: int) -> str:
    """A percentage with two decimals: 1 of 100 is "1.00", all of them "100.00"."""
    return format((_HUNDRED * part / whole).quantize(_CENT) if whole else Decimal("0.00"), "f")


def report(ctx: CallContext) -> dict[str, Any]:
    gift = _gift(ctx)
    if ctx.now_ms - gift["created"] > REPORT_DAYS * 86_400_000:
        raise business_error("tlj-report-unavailable", f"figures are kept for {REPORT_DAYS} days only")
    usage = gift["usage"]
    per_face = Decimal(gift["per_face"])
    remaining = gift["total_num"] - usage["claimed"] if _issuing_over(gift, ctx.now_ms) else 0
    paid = Decimal(usage["paid_amount"])
    extra = {
        "get_rate": _rate(usage["claimed"], gift["total_num"]),
        "use_rate": _rate(usage["used"], usage["claimed"]),
        "alipay_num": usage["paid_orders"],
        "alipay_amt": _yuan(paid),
        "pre_pub_share_fee_for_disp": _yuan(paid * Decimal("0.05")),
        "cm_settle_amt": _yuan(paid * Decimal("0.03")),
        "win_pv": usage["claimed"],
        "win_sum_amt": _yuan(per_face * usage["claimed"]),
        "remaining_num": remaining,
        "remaining_amt": _yuan(per_face * remaining),
        "use_num": usage["used"],
        "use_sum_amt": _yuan(per_face * usage["used"]),
        "refund_num": usage["refunded"],
        "refund_sum_amt": _yuan(per_face * usage["refunded"]),
    }
    return {"model": {"extra": extra}, "result_success": True, "msg_code": "0", "msg_info": "调用成功"}


# --------------------------------------------------------------------------- test set-up


def record_usage(store: Store, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/tlj/usage``: what buyers did with a gift, standing in for real buyers.

    Body: ``{"rights_id": "...", "claimed": 120, "used": 45, "refunded": 2, "paid_orders": 40,
    "paid_amount": "3456.70"}`` (all figures optional, totals so far); ``app_key`` names the Taoke
    app whose gift it is, the demo Alimama app when absent.
    """
    app_key, rights_id = payload.get("app_key", DEMO_ALIMAMA_APP_KEY), payload.get("rights_id")
    with store.lock:
        gift = _account(store, str(app_key))["gifts"].get(rights_id) if isinstance(app_key, str) else None
        if gift is None:
            raise ValueError(f"no gift {rights_id!r} in the account of Taoke app {app_key!r}")
        usage = dict(gift["usage"])
        for name in ("claimed", "used", "refunded", "paid_orders"):
            if name in payload:
                usage[name] = int(payload[name])
        if "paid_amount" in payload:
            usage["paid_amount"] = _yuan(Decimal(str(payload["paid_amount"])))
        if not 0 <= usage["used"] <= usage["claimed"] <= gift["total_num"] or usage["refunded"] > usage["used"]:
            raise ValueError("figures must satisfy 0 <= refunded <= used <= claimed <= total_num")
        gift["usage"] = usage
        store.save()
        return {"ok": True, "usage": usage}


METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("taobao.tbk.dg.vegas.tlj.create", create, writes=True, needs_session=False, taoke_app=True),
    MethodSpec("taobao.tbk.dg.vegas.tlj.stop", stop, writes=True, needs_session=False, taoke_app=True),
    MethodSpec("taobao.tbk.dg.vegas.tlj.report", report, needs_session=False, taoke_app=True),
)

