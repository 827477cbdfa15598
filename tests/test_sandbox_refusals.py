"""How the sandbox answers a broken business rule, family by family, and the code-50 fault.

* most families: ``error_response`` code 15 with an ``isv.*`` sub_code (promotionmisc's "no such
  activity" in TOP's suffix form ``isv.activity-not-exist:activityId``);
* the item-pool family: a successful envelope whose ``result`` says ``success: false`` with
  ``error_code`` and ``message`` (activity.create: top-level ``is_success: false``, ``fail_code``);
* the ``refusal_code_50`` fault: the same refusal as ``error_response`` code 50 with the same
  sub_code, which TOP answers too.
Over real HTTP in both answer shapes; plus the shape wrapper's refusal to guess an item name.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.shapes import ShapeError, wrap_lists
from tests.sandbox_calls import RawTop

ITEM_POOL = "alibaba.wdk.marketing.itempool"
QUERY = f"{ITEM_POOL}.queryactivity"
GET = "taobao.promotionmisc.item.activity.get"
MISSING_ACTIVITY = {"param0": '{"activity_id": 424242}'}


@pytest.fixture
def top() -> Iterator[RawTop]:
    with SandboxServer() as server, httpx.Client(timeout=10) as http:
        yield RawTop(server, http)


def set_faults(top: RawTop, faults: dict[str, Any]) -> httpx.Response:
    return top.http.post(f"{top.server.url}/_sandbox/faults", json=faults)


def test_promotionmisc_refuses_with_code_15_and_the_suffixed_sub_code(top: RawTop) -> None:
    error = top.error(GET, {"activity_id": 424242})
    assert (error["code"], error["msg"], error["sub_code"]) == (15, "Remote service error", "isv.activity-not-exist:activityId")


def test_item_pool_refuses_inside_a_successful_envelope(top: RawTop) -> None:
    assert top.ok(QUERY, MISSING_ACTIVITY)["result"] == {
        "success": False, "error_code": "isv.activity-not-exist", "message": "activity 424242 does not exist"}
    add = top.ok(f"{ITEM_POOL}.additem", {"param0": '{"sku_code": "1"}', "param1": '{"activity_id": 7}'})
    assert add["result"]["success"] is False and add["result"]["error_code"] == "isv.activity-not-exist"
    created = top.ok(f"{ITEM_POOL}.activity.create", {"param": '{"activity_name": "a", "description": "b", '
                     '"start_time": 1, "end_time": 2, "shop_ids": ["1"], "terminals": ["1"], "rule_stairs": []}'})
    assert created == {"is_success": False, "fail_code": "isv.rule-stairs-empty",
                       "message": "rule_stairs must hold at least one stair"}
    # A refusal is no success: the call log says so, and nothing counts as a write.
    assert [call["ok"] for call in top.calls()] == [False, False, False]


def test_parameter_format_refusals_stay_error_responses_in_the_item_pool(top: RawTop) -> None:
    error = top.error(QUERY, {"param0": '{"activity_id": "x"}'})
    assert (error["code"], error["sub_code"]) == (41, "isv.invalid-parameter")
    assert top.error(QUERY, {})["code"] == 40


@pytest.mark.parametrize("method", [GET, QUERY])
def test_the_code_50_fault_turns_a_refusal_into_code_50_with_its_sub_code(top: RawTop, method: str) -> None:
    assert set_faults(top, {"refusal_code_50": {"methods": [method], "count": 1}}).status_code == 200
    business = {"activity_id": 424242} if method == GET else MISSING_ACTIVITY
    top.ok("taobao.time.get", session=None)  # no refusal: the count is not spent
    error = top.error(method, business)
    expected = "isv.activity-not-exist:activityId" if method == GET else "isv.activity-not-exist"
    assert (error["code"], error["msg"], error["sub_code"]) == (50, "Remote service error", expected)
    assert "424242" in error["sub_msg"]
    again = top.call(method, business)  # count 1: spent, back to the family's own way
    if method == GET:
        assert again["error_response"]["code"] == 15
    else:
        assert again[f"{QUERY.replace('.', '_')}_response"]["result"]["success"] is False


def test_the_code_50_fault_without_methods_hits_every_refusal_and_reads_back(top: RawTop) -> None:
    assert set_faults(top, {"refusal_code_50": {}}).status_code == 200
    faults = top.http.get(f"{top.server.url}/_sandbox/faults").json()["faults"]
    assert faults["refusal_code_50"] == {"rate": 1.0}
    assert set_faults(top, faults).status_code == 200  # what GET shows can be sent back
    assert top.error(GET, {"activity_id": 1})["code"] == 50
    assert top.error(QUERY, MISSING_ACTIVITY)["code"] == 50
    assert top.error("taobao.promotion.coupon.send", {"coupon_id": 1, "buyer_nick": "a"})["code"] == 50
    assert set_faults(top, {"refusal_code_50": {"mode": "close"}}).status_code == 400


def test_a_list_no_spec_names_is_refused_not_guessed() -> None:
    with pytest.raises(ShapeError, match=r"time_get_response\.extra"):
        wrap_lists("taobao.time.get", {"time": "2027-01-01 00:00:00", "extra": [1]})
    nested = {"result": {"success": True, "data": {"activity_id": 1, "channels": ["31"]}}}
    with pytest.raises(ShapeError, match=r"data\.channels"):
        wrap_lists(QUERY, nested)
    assert wrap_lists(QUERY, {"result": {"data": {"terminals": [1], "rule_stairs": [{"amount": 1}]}}}) == {
        "result": {"data": {"terminals": {"number": [1]}, "rule_stairs": {"rulestairs": [{"amount": 1}]}}}}
