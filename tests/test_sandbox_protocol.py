"""The sandbox speaks TOP's protocol: gateway checks, envelopes, item-pool methods, test endpoints.

Requests are built and signed here with hashlib/hmac directly (never with reconciler.top), and
sent over real HTTP on loopback, the way the official SDKs send them: system params in the URL
query, business params in a form-encoded POST body.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, SandboxServer

OTHER_SESSION = "sandbox-session-other-shop"
GMT8 = timezone(timedelta(hours=8))
DAY_MS = 86_400_000
CREATE = "alibaba.wdk.marketing.itempool.activity.create"
QUERY = "alibaba.wdk.marketing.itempool.queryactivity"
DELETE = "alibaba.wdk.marketing.itempool.deleteactivity"
ADD_ITEM = "alibaba.wdk.marketing.itempool.additem"
REMOVE_ITEM = "alibaba.wdk.marketing.itempool.removeitem"
QUERY_ITEMS = "alibaba.wdk.marketing.itempool.queryitems"


# --------------------------------------------------------------------------- request helpers


def top_sign(params: dict[str, str], secret: str, sign_method: str) -> str:
    text = "".join(f"{k}{v}" for k, v in sorted(params.items()) if v != "")
    data, key = text.encode(), secret.encode()
    if sign_method == "md5":
        return hashlib.md5(key + data + key).hexdigest().upper()
    digest = hashlib.md5 if sign_method == "hmac" else hashlib.sha256
    return hmac.new(key, data, digest).hexdigest().upper()


def gmt8_now(offset: timedelta = timedelta()) -> str:
    return (datetime.now(GMT8) + offset).strftime("%Y-%m-%d %H:%M:%S")


def encode(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def build(
    method: str,
    business: dict[str, Any] | None = None,
    *,
    session: str | None = DEMO_SESSION,
    sign_method: str = "md5",
    timestamp: str | None = None,
    app_key: str = DEMO_APP_KEY,
    secret: str = DEMO_APP_SECRET,
    extra: dict[str, str] | None = None,
    omit: tuple[str, ...] = (),
) -> tuple[dict[str, str], dict[str, str]]:
    """(system params with sign, business params), all as strings; ``omit`` drops system params."""
    system = {
        "method": method,
        "app_key": app_key,
        "timestamp": timestamp or gmt8_now(),
        "format": "json",
        "v": "2.0",
        "sign_method": sign_method,
        **({"session": session} if session else {}),
        **(extra or {}),
    }
    system = {key: value for key, value in system.items() if key not in omit}
    body = {key: encode(value) for key, value in (business or {}).items()}
    system["sign"] = top_sign({**system, **body}, secret, sign_method)
    return system, body


def post(client: httpx.Client, server: SandboxServer, system: dict[str, str], body: dict[str, str]) -> dict[str, Any]:
    response = client.post(server.gateway, params=system, data=body)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    payload: dict[str, Any] = response.json()
    return payload


def call(
    client: httpx.Client, server: SandboxServer, method: str, business: dict[str, Any] | None = None, **kw: Any
) -> dict[str, Any]:
    return post(client, server, *build(method, business, **kw))


def ok(payload: dict[str, Any], method: str) -> dict[str, Any]:
    key = method.removeprefix("taobao.").replace(".", "_") + "_response"
    assert key in payload, payload
    fields: dict[str, Any] = payload[key]
    assert isinstance(fields.pop("request_id"), str)
    return fields


def error(payload: dict[str, Any]) -> dict[str, Any]:
    assert list(payload) == ["error_response"], payload
    fields: dict[str, Any] = payload["error_response"]
    assert fields["request_id"]
    return fields


def refused(payload: dict[str, Any], method: str, rule: str) -> dict[str, Any]:
    """An item-pool business refusal: a successful envelope whose result says success=false
    (MarketResult / MarketPageResult: error_code, message), as TOP reports them for this family."""
    result: dict[str, Any] = ok(payload, method)["result"]
    assert result["success"] is False and result["error_code"] == f"isv.{rule}", result
    assert set(result) == {"success", "error_code", "message"}
    return result


def create_refused(payload: dict[str, Any], rule: str) -> dict[str, Any]:
    """activity.create's refusal: its page's top-level is_success=false, fail_code, message."""
    fields = ok(payload, CREATE)
    assert fields == {"is_success": False, "fail_code": f"isv.{rule}", "message": fields["message"]}, fields
    return fields


def assert_error(payload: dict[str, Any], code: int, sub_code: str | None = None) -> dict[str, Any]:
    fields = error(payload)
    assert fields["code"] == code, fields
    if sub_code is not None:
        assert fields["sub_code"] == sub_code, fields
    return fields


# --------------------------------------------------------------------------- fixtures


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def client() -> Iterator[httpx.Client]:  # one client: building its TLS context costs ~50 ms
    with httpx.Client(timeout=10) as http:
        yield http


def now_ms() -> int:
    return int(time.time() * 1000)


def activity(**overrides: Any) -> dict[str, Any]:
    start = now_ms()
    request: dict[str, Any] = {
        "activity_name": "618商品池满30-12",
        "description": "618商品池活动",
        "start_time": start,
        "end_time": start + 3 * DAY_MS,
        "shop_ids": ["123", "456"],
        "terminals": ["1", "2"],
        "out_act_id": "fresh-618-30-12",
        "member_limit": -1,
        "priority_value": 10,
        "merchant_crowd_code": "OLD_USER",
        "limit_info": {"user_daily_limit_cnt": 20, "user_limit_cnt": 20, "total_limit_cnt": 20, "daily_limit_cnt": 10},
        "period_config": {"weekdays": ["1", "5"], "every_day_periods": ["03:00:00_05:00:00"]},
        "activity_rule": {"enable_multiple": False, "item_overlay": True},
        "rule_stairs": [
            {
                "number": 1,
                "is_amount": True,
                "amount": 3000,
                "cover_all_discount_rule": {"is_cover_all_decrease_money": True, "cover_all_decrease_money": 1200},
            },
            {
                "number": 2,
                "is_count": True,
                "count": 3,
                "cover_all_discount_rule": {"is_cover_all_discount_rate": True, "cover_all_discount_rate": 800},
                "count_at_discount_rule": {"is_count_at_discount_rate": False},
            },
            {
                "number": 3,
                "count": 2,
                "cover_all_discount_rule": {"is_cover_all_fix_price": True, "cover_all_fix_price": 990},
                "count_at_discount_rule": {"is_count_at_fix_price": True, "count_at_fix_price": 500},
            },
        ],
        "logic_group_rules": [
            {"number": 1, "logic_group_type": 1},
            {"number": 2, "logic_group_type": 2, "can_extra_item_num": 2},
        ],
    }
    request.update(overrides)
    return request


def create(client: httpx.Client, sandbox: SandboxServer, request: dict[str, Any], **kw: Any) -> int:
    fields = ok(call(client, sandbox, CREATE, {"param": request}, **kw), CREATE)
    assert fields["is_success"] is True
    activity_id: int = fields["data"]
    return activity_id


# --------------------------------------------------------------------------- gateway


def test_time_get_needs_no_session(sandbox: SandboxServer, client: httpx.Client) -> None:
    fields = ok(call(client, sandbox, "taobao.time.get", session=None), "taobao.time.get")
    sandbox_time = datetime.strptime(fields["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
    assert abs(sandbox_time - datetime.now(GMT8)) < timedelta(seconds=5)
    assert list(fields) == ["time"]


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_every_sign_method_is_accepted(sandbox: SandboxServer, client: httpx.Client, sign_method: str) -> None:
    ok(call(client, sandbox, "taobao.time.get", sign_method=sign_method), "taobao.time.get")


@pytest.mark.parametrize("sign_method", ["md5", "hmac", "hmac-sha256"])
def test_wrong_signature_is_code_25(sandbox: SandboxServer, client: httpx.Client, sign_method: str) -> None:
    system, body = build("taobao.time.get", sign_method=sign_method, secret="not-the-secret")
    fields = assert_error(post(client, sandbox, system, body), 25)
    assert fields["msg"] == "Invalid Signature"


def test_tampered_business_param_breaks_the_signature(sandbox: SandboxServer, client: httpx.Client) -> None:
    system, body = build(QUERY, {"param0": {"activity_id": 1}})
    body["param0"] = json.dumps({"activity_id": 2})
    assert_error(post(client, sandbox, system, body), 25)


def test_empty_params_are_not_signed(sandbox: SandboxServer, client: httpx.Client) -> None:
    system, body = build("taobao.time.get", extra={"partner_id": ""})
    assert system["partner_id"] == ""
    ok(post(client, sandbox, system, body), "taobao.time.get")


def test_missing_sign_and_bad_sign_method(sandbox: SandboxServer, client: httpx.Client) -> None:
    system, body = build("taobao.time.get")
    del system["sign"]
    assert_error(post(client, sandbox, system, body), 24)
    system, body = build("taobao.time.get")
    system["sign_method"] = "sha1"
    assert_error(post(client, sandbox, system, body), 43, "isv.invalid-sign-method")
    ok(call(client, sandbox, "taobao.time.get", omit=("sign_method",)), "taobao.time.get")  # md5 by default


def test_method_checks(sandbox: SandboxServer, client: httpx.Client) -> None:
    system, body = build("taobao.time.get")
    del system["method"]
    assert_error(post(client, sandbox, system, body), 21)
    fields = assert_error(call(client, sandbox, "taobao.no.such.method"), 22)
    assert fields["msg"] == "Invalid Method"


def test_app_key_checks(sandbox: SandboxServer, client: httpx.Client) -> None:
    assert_error(call(client, sandbox, "taobao.time.get", app_key="999"), 29)
    system, body = build("taobao.time.get")
    del system["app_key"]
    assert_error(post(client, sandbox, system, body), 28)


def test_session_checks(sandbox: SandboxServer, client: httpx.Client) -> None:
    assert_error(call(client, sandbox, QUERY, {"param0": {"activity_id": 1}}, session=None), 26)
    fields = assert_error(call(client, sandbox, QUERY, {"param0": {"activity_id": 1}}, session="stolen"), 27)
    assert fields["sub_code"] == "invalid-sessionkey"


def test_timestamp_checks(sandbox: SandboxServer, client: httpx.Client) -> None:
    assert_error(call(client, sandbox, "taobao.time.get", timestamp=gmt8_now(timedelta(minutes=-11))), 31)
    assert_error(call(client, sandbox, "taobao.time.get", timestamp=gmt8_now(timedelta(minutes=11))), 31)
    assert_error(call(client, sandbox, "taobao.time.get", timestamp=str(now_ms() - 11 * 60_000)), 31)
    assert_error(call(client, sandbox, "taobao.time.get", timestamp="yesterday"), 31)
    ok(call(client, sandbox, "taobao.time.get", timestamp=gmt8_now(timedelta(minutes=-9))), "taobao.time.get")
    ok(call(client, sandbox, "taobao.time.get", timestamp=str(now_ms())), "taobao.time.get")
    assert_error(call(client, sandbox, "taobao.time.get", omit=("timestamp",)), 30)


def test_version_and_format_checks(sandbox: SandboxServer, client: httpx.Client) -> None:
    assert_error(call(client, sandbox, "taobao.time.get", extra={"v": "1.0"}), 34)
    assert_error(call(client, sandbox, "taobao.time.get", extra={"format": "xml"}), 23)
    assert_error(call(client, sandbox, "taobao.time.get", omit=("v",)), 32)
    assert_error(call(client, sandbox, "taobao.time.get", omit=("format",)), 23)


def test_get_with_every_param_in_the_query(sandbox: SandboxServer, client: httpx.Client) -> None:
    system, body = build("taobao.time.get")
    response = client.get(sandbox.gateway, params={**system, **body})
    ok(response.json(), "taobao.time.get")


def test_all_params_in_the_body(sandbox: SandboxServer, client: httpx.Client) -> None:
    system, body = build(CREATE, {"param": activity()})
    response = client.post(sandbox.gateway, data={**system, **body})
    assert ok(response.json(), CREATE)["data"] == 10001


def test_simplify_answers_at_the_root(sandbox: SandboxServer, client: httpx.Client) -> None:
    payload = call(client, sandbox, "taobao.time.get", extra={"simplify": "true"})
    assert set(payload) == {"time", "request_id"}
    payload = call(client, sandbox, CREATE, {"param": activity()}, extra={"simplify": "true"})
    assert payload["is_success"] is True and payload["data"] == 10001
    payload = call(client, sandbox, QUERY, {"param0": {"activity_id": 999}}, extra={"simplify": "true"})
    assert payload["result"] == {"success": False, "error_code": "isv.activity-not-exist",
                                 "message": "activity 999 does not exist"}
    query = {"activity_id": 10001, "page": {"page_size": 10, "current": 1}}
    payload = call(client, sandbox, QUERY_ITEMS, {"param": query}, extra={"simplify": "true"})
    assert payload["result"]["item_pool_sku_list"] == []  # a bare array, not {"item_pool_sku": []}
    payload = call(client, sandbox, QUERY, {"param0": {"activity_id": 10001}}, extra={"simplify": "true"})
    assert payload["result"]["data"]["terminals"] == [1, 2] and payload["result"]["data"]["shop_ids"] == ["123", "456"]


def test_unknown_path_is_404(sandbox: SandboxServer, client: httpx.Client) -> None:
    assert client.get(sandbox.url + "/router/other").status_code == 404
    assert client.get(sandbox.url + "/_sandbox/reset").status_code == 405


# --------------------------------------------------------------------------- item pool


def test_item_pool_lifecycle(sandbox: SandboxServer, client: httpx.Client) -> None:
    request = activity()
    activity_id = create(client, sandbox, request)
    assert activity_id == 10001

    data = ok(call(client, sandbox, QUERY, {"param0": {"activity_id": activity_id}}), QUERY)["result"]
    assert data["success"] is True
    assert data["data"] == {
        "out_act_id": "fresh-618-30-12",
        "activity_id": activity_id,
        "activity_name": "618商品池满30-12",
        "description": "618商品池活动",
        "start_time": request["start_time"],
        "end_time": request["end_time"],
        # Without simplify=true every list is wrapped in its item element (shape_overlay.json).
        "terminals": {"number": [1, 2]},
        "shop_ids": {"string": ["123", "456"]},
        "member_limit": -1,
        "merchant_crowd_code": "OLD_USER",
        "limit_info": {"user_daily_limit_cnt": 20, "user_limit_cnt": 20, "daily_limit_cnt": 10},
        "rule_stairs": {"rulestairs": [
            {
                "amount_at": True, "amount": 3000, "count_at": False, "count_begin": False,
                "decrease": True, "decrease_money": 1200, "discount": False, "fix_price": False,
                "enable_multiple": False, "is_exchange": True, "can_extra_item_num": 2,
            },
            {
                "amount_at": False, "count_at": True, "count": 3, "count_begin": False,
                "decrease": False, "discount": True, "discount_rate": 800, "fix_price": False,
                "enable_multiple": False, "is_exchange": True, "can_extra_item_num": 2,
            },
            {
                "amount_at": False, "count_at": False, "count": 2, "count_begin": True,
                "decrease": False, "discount": False, "fix_price": True, "fix_price_amount": 990,
                "enable_multiple": False, "is_exchange": True, "can_extra_item_num": 2,
            },
        ]},
    }

    common = {"activity_id": activity_id}
    skus = [
        {"sku_code": "6901234", "is_fix_price": True, "fix_price": 990},
        {"sku_code": "6901235", "is_decrease_money": True, "decrease_money": 2, "logic_group_number": 2},
        {"sku_code": "6901236", "is_discount_rate": True, "discount_rate": 600},
    ]
    for sku in skus:
        added = ok(call(client, sandbox, ADD_ITEM, {"param0": sku, "param1": common}), ADD_ITEM)["result"]
        assert added["success"] is True
        assert added["data"]["sku_code"] == sku["sku_code"]
        assert added["data"]["sku_name"] == f"商品{sku['sku_code']}"
        assert set(json.loads(added["data"]["item_shop_relation"]).values()) == {"123", "456"}

    def page(current: int) -> dict[str, Any]:
        query = {"activity_id": activity_id, "page": {"page_size": 2, "current": current}}
        result: dict[str, Any] = ok(call(client, sandbox, QUERY_ITEMS, {"param": query}), QUERY_ITEMS)["result"]
        return result

    first, second = page(1), page(2)
    assert (first["total"], first["page_size"], first["current"], first["total_page"]) == (3, 2, 1, 2)
    assert [item["sku_code"] for item in first["item_pool_sku_list"]["item_pool_sku"]] == ["6901234", "6901235"]
    assert [item["sku_code"] for item in second["item_pool_sku_list"]["item_pool_sku"]] == ["6901236"]
    assert set(second["item_pool_sku_list"]["item_pool_sku"][0]) == {"sku_code", "sku_name", "item_shop_relation"}
    assert page(3)["item_pool_sku_list"] == {"item_pool_sku": []}

    removed = ok(call(client, sandbox, REMOVE_ITEM, {"param0": {"sku_code": "6901235"}, "param1": common}), REMOVE_ITEM)
    assert removed["result"] == {"success": True, "data": True}
    assert [item["sku_code"] for item in page(1)["item_pool_sku_list"]["item_pool_sku"]] == ["6901234", "6901236"]
    again = call(client, sandbox, REMOVE_ITEM, {"param0": {"sku_code": "6901235"}, "param1": common})
    refused(again, REMOVE_ITEM, "item-not-in-pool")

    deleted = ok(call(client, sandbox, DELETE, {"param": common}), DELETE)
    assert deleted["result"] == {"success": True, "data": True}
    refused(call(client, sandbox, QUERY, {"param0": common}), QUERY, "activity-not-exist")
    refused(call(client, sandbox, DELETE, {"param": common}), DELETE, "activity-not-exist")


def test_duplicate_out_act_id_is_rejected_until_deleted(sandbox: SandboxServer, client: httpx.Client) -> None:
    first = create(client, sandbox, activity())
    fields = create_refused(call(client, sandbox, CREATE, {"param": activity()}), "out-act-id-duplicate")
    assert "fresh-618-30-12" in fields["message"]
    assert create(client, sandbox, activity(), session=OTHER_SESSION) > first  # another shop may reuse it
    ok(call(client, sandbox, DELETE, {"param": {"activity_id": first}}), DELETE)
    create(client, sandbox, activity())


def test_stairs_are_required_and_non_empty(sandbox: SandboxServer, client: httpx.Client) -> None:
    create_refused(call(client, sandbox, CREATE, {"param": activity(rule_stairs=[])}), "rule-stairs-empty")
    request = activity()
    del request["rule_stairs"]
    fields = assert_error(call(client, sandbox, CREATE, {"param": request}), 40, "isv.missing-parameter")
    assert fields["sub_msg"] == "param.rule_stairs: is required"
    stairs = [{"number": 1, "is_amount": True, "amount": 100}, {"number": 1, "is_amount": True, "amount": 200}]
    duplicated = call(client, sandbox, CREATE, {"param": activity(rule_stairs=stairs)})
    create_refused(duplicated, "rule-stair-number-duplicate")


def test_time_range_rules(sandbox: SandboxServer, client: httpx.Client) -> None:
    start = now_ms() + DAY_MS
    backwards = activity(start_time=start, end_time=start - 1)
    create_refused(call(client, sandbox, CREATE, {"param": backwards}), "invalid-time-range")
    over = activity(start_time=now_ms() - 2 * DAY_MS, end_time=now_ms() - DAY_MS)
    create_refused(call(client, sandbox, CREATE, {"param": over}), "invalid-time-range")


@pytest.mark.parametrize(
    ("param", "field"),
    [
        ("{not json", "param"),
        (activity(activity_name=""), "param.activity_name"),
        (activity(shop_ids=[]), "param.shop_ids"),
        (activity(terminals=["3"]), "param.terminals[0]"),
        (activity(start_time="soon"), "param.start_time"),
        (activity(rule_stairs=[{"number": 1, "amount": "12.5"}]), "param.rule_stairs[0].amount"),
        (
            activity(rule_stairs=[{"number": 1, "cover_all_discount_rule": {"is_cover_all_discount_rate": True,
                                                                             "cover_all_discount_rate": 1000}}]),
            "param.rule_stairs[0].cover_all_discount_rule.cover_all_discount_rate",
        ),
    ],
)
def test_invalid_create_arguments_name_the_field(
    sandbox: SandboxServer, client: httpx.Client, param: Any, field: str
) -> None:
    fields = assert_error(call(client, sandbox, CREATE, {"param": param}), 41, "isv.invalid-parameter")
    assert fields["sub_msg"].startswith(f"{field}:"), fields["sub_msg"]


def test_a_value_its_flag_needs_absent_is_code_40(sandbox: SandboxServer, client: httpx.Client) -> None:
    """Required by a flag of the same object, not by the page: still a missing parameter (issue 18.4)."""
    request = activity(rule_stairs=[{"number": 1, "cover_all_discount_rule": {"is_cover_all_decrease_money": True}}])
    fields = assert_error(call(client, sandbox, CREATE, {"param": request}), 40, "isv.missing-parameter")
    assert fields["sub_msg"] == "param.rule_stairs[0].cover_all_discount_rule.cover_all_decrease_money: is required"


def test_a_nested_required_field_absent_is_code_40(sandbox: SandboxServer, client: httpx.Client) -> None:
    request = activity(rule_stairs=[{"is_amount": True, "amount": 100}])
    fields = assert_error(call(client, sandbox, CREATE, {"param": request}), 40, "isv.missing-parameter")
    assert fields["sub_msg"] == "param.rule_stairs[0].number: is required"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shop_ids": "123,456"}, "param.shop_ids"),  # String[] inside JSON is a JSON array, not commas
        ({"terminals": [1, 2]}, "param.terminals[0]"),  # String[]: strings, not numbers
        ({"start_time": str(now_ms())}, "param.start_time"),  # Number: a JSON number, not a string
        ({"rule_stairs": [{"number": "1", "is_amount": True, "amount": 3000}]}, "param.rule_stairs[0].number"),
        ({"rule_stairs": [{"number": 1, "is_amount": "true", "amount": 3000}]}, "param.rule_stairs[0].is_amount"),
        ({"rule_stairs": [{"number": 1, "is_amount": True, "amount": 3000.5}]}, "param.rule_stairs[0].amount"),
        ({"limit_info": {"user_limit_cnt": "2"}}, "param.limit_info.user_limit_cnt"),
        ({"activty_name": "typo"}, "param.activty_name"),  # a field the page does not list
    ],
)
def test_loose_value_encodings_are_refused_naming_the_path(
    sandbox: SandboxServer, client: httpx.Client, changes: dict[str, Any], field: str
) -> None:
    fields = assert_error(call(client, sandbox, CREATE, {"param": activity(**changes)}), 41, "isv.invalid-parameter")
    assert fields["sub_msg"].startswith(f"{field}:"), fields["sub_msg"]


def test_a_whole_json_number_and_null_fields_are_accepted(sandbox: SandboxServer, client: httpx.Client) -> None:
    request = activity(out_act_id=None, txd_crowd_code=None)  # null means "not set", as Java SDKs omit it
    request["rule_stairs"] = [{"number": 1, "is_amount": True, "amount": 3000.0}]
    activity_id = create(client, sandbox, request)
    data = ok(call(client, sandbox, QUERY, {"param0": {"activity_id": activity_id}}), QUERY)["result"]["data"]
    assert "out_act_id" not in data
    assert data["rule_stairs"]["rulestairs"][0]["amount"] == 3000


def test_additem_rules(sandbox: SandboxServer, client: httpx.Client) -> None:
    activity_id = create(client, sandbox, activity())
    common = {"activity_id": activity_id}
    ok(call(client, sandbox, ADD_ITEM, {"param0": {"sku_code": "1"}, "param1": common}), ADD_ITEM)
    again = call(client, sandbox, ADD_ITEM, {"param0": {"sku_code": "1"}, "param1": common})
    refused(again, ADD_ITEM, "item-already-in-pool")
    refused(
        call(client, sandbox, ADD_ITEM, {"param0": {"sku_code": "2", "logic_group_number": 9}, "param1": common}),
        ADD_ITEM, "logic-group-not-exist",
    )
    two_benefits = {"sku_code": "3", "is_fix_price": True, "fix_price": 100, "is_discount_rate": True,
                    "discount_rate": 500}
    both = call(client, sandbox, ADD_ITEM, {"param0": two_benefits, "param1": common})
    assert_error(both, 41, "isv.invalid-parameter")
    # decrease_money is 【元】 and typed Number on the page: whole yuan only, so fen cannot slip in.
    fen = {"sku_code": "4", "is_decrease_money": True, "decrease_money": 1.5}
    fields = assert_error(call(client, sandbox, ADD_ITEM, {"param0": fen, "param1": common}), 41)
    assert fields["sub_msg"].startswith("param0.decrease_money:")
    unknown = call(client, sandbox, ADD_ITEM, {"param0": {"sku_code": "5"}, "param1": {"activity_id": 1}})
    refused(unknown, ADD_ITEM, "activity-not-exist")
    fields = assert_error(call(client, sandbox, ADD_ITEM, {"param1": common}), 40, "isv.missing-parameter")
    assert fields["sub_msg"] == "param0: is required"
    fields = assert_error(call(client, sandbox, ADD_ITEM, {"param0": "sku_code=1", "param1": common}), 41)
    assert fields["sub_msg"].startswith("param0: is a ItemPoolSku: send it as JSON text")


def test_queryitems_page_rules_and_filter(sandbox: SandboxServer, client: httpx.Client) -> None:
    activity_id = create(client, sandbox, activity())
    for sku in ("a", "b", "c"):
        business = {"param0": {"sku_code": sku}, "param1": {"activity_id": activity_id}}
        ok(call(client, sandbox, ADD_ITEM, business), ADD_ITEM)
    for page_size in (0, 101):
        query = {"activity_id": activity_id, "page": {"page_size": page_size, "current": 1}}
        assert_error(call(client, sandbox, QUERY_ITEMS, {"param": query}), 41, "isv.invalid-parameter")
    query = {"activity_id": activity_id, "page": {"page_size": 100, "current": 1}, "sku_codes": ["c", "a", "zz"]}
    result = ok(call(client, sandbox, QUERY_ITEMS, {"param": query}), QUERY_ITEMS)["result"]
    assert result["total"] == 2 and result["total_page"] == 1
    assert [item["sku_code"] for item in result["item_pool_sku_list"]["item_pool_sku"]] == ["a", "c"]
    commas = call(client, sandbox, QUERY_ITEMS, {"param": {**query, "sku_codes": "c,a"}})
    assert assert_error(commas, 41, "isv.invalid-parameter")["sub_msg"].startswith("param.sku_codes: is a String[]")


def test_concurrent_calls_are_serialised(sandbox: SandboxServer, client: httpx.Client) -> None:
    activity_id = create(client, sandbox, activity())

    def add(sku: str) -> None:  # httpx.Client is thread-safe; its pool opens parallel connections
        business = {"param0": {"sku_code": sku}, "param1": {"activity_id": activity_id}}
        ok(call(client, sandbox, ADD_ITEM, business), ADD_ITEM)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(add, [f"sku-{n}" for n in range(24)]))
    query = {"activity_id": activity_id, "page": {"page_size": 100, "current": 1}}
    assert ok(call(client, sandbox, QUERY_ITEMS, {"param": query}), QUERY_ITEMS)["result"]["total"] == 24
    assert len(client.get(sandbox.url + "/_sandbox/calls").json()["calls"]) == 26


def test_shops_are_isolated(sandbox: SandboxServer, client: httpx.Client) -> None:
    activity_id = create(client, sandbox, activity())
    foreign = call(client, sandbox, QUERY, {"param0": {"activity_id": activity_id}}, session=OTHER_SESSION)
    refused(foreign, QUERY, "activity-not-exist")


# --------------------------------------------------------------------------- test endpoints


def test_call_log_records_business_params_only(sandbox: SandboxServer, client: httpx.Client) -> None:
    request = activity()
    create(client, sandbox, request, sign_method="hmac-sha256")
    call(client, sandbox, QUERY, {"param0": {"activity_id": 42}}, session="stolen-session-key")
    call(client, sandbox, "taobao.time.get", session=None)
    raw = client.get(sandbox.url + "/_sandbox/calls").text
    calls = json.loads(raw)["calls"]
    assert [(c["method"], c["session"], c["ok"]) for c in calls] == [
        (CREATE, "demo-shop", True),
        (QUERY, None, False),
        ("taobao.time.get", None, True),
    ]
    assert json.loads(calls[0]["params"]["param"]) == request
    assert calls[1]["params"] == {"param0": '{"activity_id": 42}'}
    assert all(isinstance(c["at"], int) for c in calls)
    never_logged = (DEMO_APP_SECRET, DEMO_SESSION, "stolen-session-key", '"sign"', "sign_method", "app_key")
    for secret in never_logged:
        assert secret not in raw


def test_calls_clear_and_reset(sandbox: SandboxServer, client: httpx.Client) -> None:
    activity_id = create(client, sandbox, activity())
    assert client.post(sandbox.url + "/_sandbox/calls/clear").json() == {"ok": True}
    assert client.get(sandbox.url + "/_sandbox/calls").json() == {"calls": []}
    ok(call(client, sandbox, QUERY, {"param0": {"activity_id": activity_id}}), QUERY)  # state kept
    state = client.get(sandbox.url + "/_sandbox/state").json()
    assert str(activity_id) in state["shops"]["demo-shop"]["itempool"]["activities"]

    assert client.post(sandbox.url + "/_sandbox/reset").json() == {"ok": True}
    assert client.get(sandbox.url + "/_sandbox/calls").json() == {"calls": []}
    refused(call(client, sandbox, QUERY, {"param0": {"activity_id": activity_id}}), QUERY, "activity-not-exist")
    assert create(client, sandbox, activity()) == 10001  # ids restart too


def test_state_survives_a_restart_with_a_data_file(tmp_path: Path, client: httpx.Client) -> None:
    data_file = tmp_path / "sandbox.json"
    with SandboxServer(data_file=str(data_file)) as first:
        activity_id = create(client, first, activity())
        sku = {"sku_code": "6901235", "is_decrease_money": True, "decrease_money": 2}
        ok(call(client, first, ADD_ITEM, {"param0": sku, "param1": {"activity_id": activity_id}}), ADD_ITEM)
    assert data_file.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]

    with SandboxServer(data_file=str(data_file)) as second:
        query = {"activity_id": activity_id, "page": {"page_size": 10, "current": 1}}
        result = ok(call(client, second, QUERY_ITEMS, {"param": query}), QUERY_ITEMS)["result"]
        items = result["item_pool_sku_list"]["item_pool_sku"]
        assert [item["sku_code"] for item in items] == ["6901235"]
        assert create(client, second, activity(out_act_id="another")) == activity_id + 1
        state = client.get(second.url + "/_sandbox/state").text
        assert '"decrease_money":2' in state  # whole yuan, as sent
