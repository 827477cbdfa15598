"""Every method family refuses what TOP refuses in a request, the same way (issue 14, point 6).

One check (reconciler/sandbox/request_params.py) reads each method's documented requestParams
(the packaged copies of ../shared/top-api/methods/*.json) before any handler runs: an unknown
business parameter, a wrong type (top level or inside a JSON object parameter), a plain list sent
as a JSON array where TOP wants commas, or a comma string where TOP wants JSON → code 41
``isv.invalid-parameter`` naming the parameter path; a required parameter absent → code 40
``isv.missing-parameter``. Over real HTTP, signed here (not with our client).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET
from reconciler.sandbox.methods import REGISTRY
from reconciler.sandbox.server import SandboxServer
from tests.sandbox_calls import GMT8, RawTop, gmt8

AS_PROMOTER: dict[str, Any] = {"app": (DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET), "session": None}
ITEM_POOL = "alibaba.wdk.marketing.itempool"
ADZONE = 110550123456


@pytest.fixture(scope="module")
def top() -> Iterator[RawTop]:
    # Refused calls change nothing, so one server serves the module.
    with SandboxServer() as server, httpx.Client(timeout=10) as http:
        yield RawTop(server, http)


def wall(days: float) -> str:
    return gmt8(datetime.now(GMT8) + timedelta(days=days))


def kwargs(method: str) -> dict[str, Any]:
    spec = REGISTRY[method]
    if spec.taoke_app:
        return AS_PROMOTER
    return {} if spec.needs_session else {"session": None}


def refused(top: RawTop, method: str, business: dict[str, Any], code: int, path: str) -> str:
    fields = top.error(method, business, **kwargs(method))
    sub_code = {40: "isv.missing-parameter", 41: "isv.invalid-parameter"}[code]
    assert (fields["code"], fields["sub_code"]) == (code, sub_code), fields
    sub_msg: str = fields["sub_msg"]
    assert sub_msg.startswith(f"{path}:"), sub_msg
    return sub_msg


GIFT = {"adzone_id": ADZONE, "item_id": "220000000123", "total_num": 10, "name": "礼金", "user_total_win_num_limit": 1,
        "security_switch": True, "per_face": "5.00", "send_start_time": wall(1), "use_end_time_mode": 1,
        "use_end_time": "3"}
ITEM_ACTIVITY = {"name": "茶叶85折", "participate_range": 1, "start_time": wall(1), "end_time": wall(5),
                 "is_discount": True, "discount_rate": 850}
SKU = '{"sku_code": "1"}'
COMMON = '{"activity_id": 1}'

# (method, business params, the parameter path the refusal names, what it shows)
INVALID: list[tuple[str, dict[str, Any], str]] = [
    # unknown business parameters, one per family
    ("taobao.time.get", {"shop": "demo-shop"}, "shop"),
    ("taobao.items.onsale.get", {"fields": "num_iid", "page": 2}, "page"),
    ("taobao.promotion.coupon.add", {"denominations": 10, "end_time": wall(3), "amount": 10}, "amount"),
    ("taobao.promotionmisc.item.activity.get", {"activity_id": 1, "id": 1}, "id"),
    (f"{ITEM_POOL}.deleteactivity", {"param": COMMON, "param0": COMMON}, "param0"),
    ("taobao.tbk.dg.vegas.tlj.stop", {"rights_id": "x", "adzone_id": ADZONE, "session_key": "x"}, "session_key"),
    # a string where a Number is wanted (and other wrong plain types)
    ("taobao.items.onsale.get", {"fields": "num_iid", "page_size": "ten"}, "page_size"),
    ("taobao.item.update.listing", {"num_iid": 1, "num": "1.5"}, "num"),
    ("taobao.items.inventory.get", {"fields": "num_iid", "start_modified": "2027-01-01T00:00:00"}, "start_modified"),
    ("taobao.promotion.coupon.add", {"denominations": "10元", "end_time": wall(3)}, "denominations"),
    ("taobao.promotionmisc.item.activity.add", {**ITEM_ACTIVITY, "is_discount": "yes"}, "is_discount"),
    ("taobao.promotionmisc.item.activity.add", {**ITEM_ACTIVITY, "discount_rate": "8.5"}, "discount_rate"),
    ("taobao.tbk.dg.vegas.tlj.create", {**GIFT, "total_num": "many"}, "total_num"),
    ("taobao.tbk.dg.vegas.tlj.create", {**GIFT, "send_start_time": "2027/01/01 00:00:00"}, "send_start_time"),
    # a plain-value list sent as a JSON array where TOP wants commas
    ("taobao.promotion.coupon.send", {"coupon_id": 1, "buyer_nick": '["a","b"]'}, "buyer_nick"),
    ("taobao.promotion.coupon.sns.send", {"coupon_id": 1, "open_uids": '["a"]'}, "open_uids"),
    ("taobao.promotionmisc.activity.range.add", {"activity_id": 1, "ids": "[600000000001]"}, "ids"),
    ("taobao.items.onsale.get", {"fields": "num_iid", "seller_cids": '["1","2"]'}, "seller_cids"),
    ("taobao.items.onsale.get", {"fields": '["num_iid"]'}, "fields"),
    # a comma string (or other non-JSON text) where TOP wants JSON
    ("taobao.promotion.coupon.send", {"coupon_id": 1, "ouid_data": "ouid-a,ouid-b"}, "ouid_data"),
    (f"{ITEM_POOL}.queryactivity", {"param0": "1"}, "param0"),  # a JSON number, not an object
    (f"{ITEM_POOL}.additem", {"param0": "sku_code=1", "param1": COMMON}, "param0"),
    (f"{ITEM_POOL}.queryitems", {"param": '{"activity_id": 1, "page": {"page_size": 1, "current": 1}, '
                                          '"sku_codes": "a,b"}'}, "param.sku_codes"),
    # a wrong type inside a JSON object parameter
    ("taobao.promotion.coupon.send", {"coupon_id": 1, "ouid_data": '[{"ouid": 5}]'}, "ouid_data[0].ouid"),
    ("taobao.promotion.coupon.send", {"coupon_id": 1, "ouid_data": '[{"open_uid": "x"}]'}, "ouid_data[0].open_uid"),
    (f"{ITEM_POOL}.queryactivity", {"param0": '{"activity_id": "1"}'}, "param0.activity_id"),
    (f"{ITEM_POOL}.deleteactivity", {"param": '{"activity_id": 1, "by_channel": "true"}'}, "param.by_channel"),
    (f"{ITEM_POOL}.removeitem", {"param0": '{"sku_code": 1}', "param1": COMMON}, "param0.sku_code"),
    (f"{ITEM_POOL}.additem", {"param0": SKU, "param1": '{"activity_id": 1, "channel_config_list": [{"channel": 31}]}'},
     "param1.channel_config_list[0].channel"),
    (f"{ITEM_POOL}.queryitems", {"param": '{"activity_id": 1, "page": {"page_size": "10", "current": 1}}'},
     "param.page.page_size"),
]


@pytest.mark.parametrize(("method", "business", "path"), INVALID, ids=[f"{m}-{p}" for m, _, p in INVALID])
def test_a_malformed_request_is_code_41_naming_the_parameter(
    top: RawTop, method: str, business: dict[str, Any], path: str
) -> None:
    refused(top, method, business, 41, path)


MISSING: list[tuple[str, dict[str, Any], str]] = [
    ("taobao.items.onsale.get", {"page_size": 10}, "fields"),
    ("taobao.item.update.listing", {"num_iid": 1}, "num"),
    ("taobao.promotion.coupon.add", {"denominations": 10}, "end_time"),
    ("taobao.promotion.coupon.send", {"buyer_nick": "a"}, "coupon_id"),
    ("taobao.promotionmisc.item.activity.get", {}, "activity_id"),
    ("taobao.promotionmisc.activity.range.add", {"activity_id": 1}, "ids"),
    (f"{ITEM_POOL}.additem", {"param0": SKU}, "param1"),
    (f"{ITEM_POOL}.additem", {"param0": "{}", "param1": COMMON}, "param0.sku_code"),
    (f"{ITEM_POOL}.queryitems", {"param": '{"activity_id": 1}'}, "param.page"),
    ("taobao.tbk.dg.vegas.tlj.report", {"adzone_id": ADZONE}, "rights_id"),
    ("taobao.top.auth.token.refresh", {}, "refresh_token"),
]


@pytest.mark.parametrize(("method", "business", "path"), MISSING, ids=[f"{m}-{p}" for m, _, p in MISSING])
def test_a_required_parameter_absent_is_code_40_in_every_family(
    top: RawTop, method: str, business: dict[str, Any], path: str
) -> None:
    assert refused(top, method, business, 40, path) == f"{path}: is required"


def test_the_messages_say_what_top_wants(top: RawTop) -> None:
    json_list = refused(top, "taobao.promotion.coupon.send", {"coupon_id": 1, "buyer_nick": '["a"]'}, 41, "buyer_nick")
    assert "comma-joined" in json_list
    commas = refused(top, "taobao.promotion.coupon.send", {"coupon_id": 1, "ouid_data": "a,b"}, 41, "ouid_data")
    assert "JSON text" in commas
    number = refused(top, f"{ITEM_POOL}.queryactivity", {"param0": '{"activity_id": "1"}'}, 41, "param0.activity_id")
    assert "whole number" in number and "a string" in number
    unknown = refused(top, "taobao.promotionmisc.item.activity.get", {"activity_id": 1, "id": 1}, 41, "id")
    assert unknown == "id: is not a parameter of taobao.promotionmisc.item.activity.get"


def test_well_formed_values_pass_the_check(top: RawTop) -> None:
    """What the SDKs send is accepted: comma lists, JSON objects with nulls, whole JSON numbers."""
    top.ok("taobao.items.onsale.get", {"fields": "num_iid,title", "seller_cids": "1,2", "page_size": 1})
    result = top.ok(f"{ITEM_POOL}.queryactivity", {"param0": '{"activity_id": 1.0, "out_act_id": null}'})["result"]
    assert result["error_code"] == "isv.activity-not-exist"  # past the parameter check: a business answer
    top.ok("taobao.time.get", session=None)
