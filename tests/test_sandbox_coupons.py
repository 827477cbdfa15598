"""The sandbox's shop coupon methods: the rules of their method pages, as TOP errors.

Contract tests: our TOP client talks to the sandbox over real HTTP on loopback. Each rule
violation must come back as the error_response a caller can act on (code 41 for a malformed
request, code 15 with an isv.* sub_code for a broken business rule), and the answers must have
the shapes and units of the pages (coupons.get in fen, sends that say is_success even when
every buyer failed).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from reconciler.errors import TopPermanentError
from reconciler.kinds.units import GMT8
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, OTHER_SESSION
from reconciler.top import Credentials, TopClient
from tests.conftest import Sandbox

ADD = "taobao.promotion.coupon.add"
LIST = "taobao.promotion.coupons.get"
SEND = "taobao.promotion.coupon.send"
SNS_SEND = "taobao.promotion.coupon.sns.send"


@pytest.fixture
def top(sandbox: Sandbox) -> Iterator[TopClient]:
    with TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, sandbox.gateway)) as client:
        yield client


@pytest.fixture
def other_shop(sandbox: Sandbox) -> Iterator[TopClient]:
    with TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, OTHER_SESSION, sandbox.gateway)) as client:
        yield client


def wall(days: int = 0, *, hour: int = 23, minute: int = 59, second: int = 59) -> str:
    """A GMT+8 wall time `days` from today, in TOP's format."""
    moment = datetime.now(GMT8) + timedelta(days=days)
    return moment.replace(hour=hour, minute=minute, second=second).strftime("%Y-%m-%d %H:%M:%S")


def coupon(**changes: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"denominations": 10, "condition": 99, "end_time": wall(30)}
    params.update(changes)
    return {key: value for key, value in params.items() if value is not None}


def refused(client: TopClient, method: str, params: dict[str, Any]) -> TopPermanentError:
    with pytest.raises(TopPermanentError) as caught:
        client.call(method, params)
    return caught.value


def business(client: TopClient, method: str, params: dict[str, Any], sub_code: str) -> TopPermanentError:
    error = refused(client, method, params)
    assert (error.code, error.sub_code) == (15, sub_code), error
    return error


def invalid(client: TopClient, method: str, params: dict[str, Any], field: str) -> None:
    error = refused(client, method, params)
    assert (error.code, error.sub_code) == (41, "isv.invalid-parameter"), error
    assert (error.sub_msg or "").startswith(field), error.sub_msg


def rows(client: TopClient, **params: Any) -> list[dict[str, Any]]:
    return list(client.call(LIST, params)["coupons"])


# --------------------------------------------------------------------------- coupon.add and coupons.get


def test_add_takes_yuan_and_coupons_get_answers_fen(top: TopClient) -> None:
    end = wall(30)
    coupon_id = top.call(ADD, coupon(denominations=10, condition=99, end_time=end, start_time=wall(1, hour=0, minute=0, second=0)))["coupon_id"]
    (row,) = rows(top, coupon_id=coupon_id)
    assert row["denominations"] == 1000  # 10 yuan, answered in fen
    assert row["condition"] == 9900  # 满99元, answered in fen
    assert row["end_time"] == end
    assert "start_time" not in row  # coupons.get has no start time: it cannot identify a coupon
    assert set(row) == {"coupon_id", "denominations", "condition", "creat_time", "end_time", "create_channel"}


@pytest.mark.parametrize("denomination", [1, 4, 30, 200, 1000])
def test_denominations_outside_the_six_are_refused(top: TopClient, denomination: int) -> None:
    # 1000 is the fen-for-yuan mistake: ten yuan sent as fen is not a denomination.
    business(top, ADD, coupon(denominations=denomination, condition=0), "isv.parameter-denominations-error")


@pytest.mark.parametrize("denomination", [3, 5, 10, 20, 50, 100])
def test_the_six_denominations_are_accepted(top: TopClient, denomination: int) -> None:
    assert top.call(ADD, coupon(denominations=denomination, condition=0))["coupon_id"] > 0


def test_denomination_with_decimals_is_not_a_long(top: TopClient) -> None:
    invalid(top, ADD, coupon(denominations="10.00"), "denominations")


def test_condition_below_the_denomination_is_refused_but_zero_means_none(top: TopClient) -> None:
    business(top, ADD, coupon(denominations=20, condition=19), "isv.parameter-condition-error")
    coupon_id = top.call(ADD, coupon(denominations=20, condition=0))["coupon_id"]
    assert rows(top, coupon_id=coupon_id)[0]["condition"] == 0
    equal_id = top.call(ADD, coupon(denominations=20, condition=20))["coupon_id"]
    assert rows(top, coupon_id=equal_id)[0]["condition"] == 2000


def test_condition_defaults_to_denomination_plus_one_yuan(top: TopClient) -> None:
    coupon_id = top.call(ADD, coupon(denominations=10, condition=None))["coupon_id"]
    assert rows(top, coupon_id=coupon_id)[0]["condition"] == 1100


def test_end_before_tonight_is_refused(top: TopClient) -> None:
    earlier_today = wall(0, hour=0, minute=0, second=1)
    error = business(top, ADD, coupon(end_time=earlier_today), "isv.parameter-endtime-error")
    assert "23:59:59" in (error.sub_msg or "")
    assert top.call(ADD, coupon(end_time=wall(0)))["coupon_id"] > 0  # today 23:59:59 is allowed


def test_end_more_than_six_months_ahead_is_refused(top: TopClient) -> None:
    business(top, ADD, coupon(end_time=wall(200)), "isv.parameter-endtime-error")
    assert top.call(ADD, coupon(end_time=wall(170)))["coupon_id"] > 0


def test_start_after_end_is_refused(top: TopClient) -> None:
    business(top, ADD, coupon(start_time=wall(40), end_time=wall(30)), "isv.parameter-endtime-error")


@pytest.mark.parametrize("end", ["2027-03-31T23:59:59+08:00", "1806422399000", "2027/03/31 23:59:59"])
def test_times_must_be_top_wall_time(top: TopClient, end: str) -> None:
    # ISO 8601 and epoch ms are what a YAML author or the Python SDK would send; the page wants Date.
    invalid(top, ADD, coupon(end_time=end), "end_time")


def test_missing_required_params_are_refused(top: TopClient) -> None:
    for field in ("denominations", "end_time"):
        error = refused(top, ADD, coupon(**{field: None}))
        assert (error.code, error.sub_code) == (40, "isv.missing-parameter"), error
        assert (error.sub_msg or "").startswith(field)
    error = refused(top, SEND, {"buyer_nick": ["alice"]})
    assert (error.code, error.sub_msg) == (40, "coupon_id: is required")


def test_at_most_fifty_valid_coupons_per_shop(top: TopClient, other_shop: TopClient) -> None:
    for _ in range(50):
        top.call(ADD, coupon(condition=0))
    error = business(top, ADD, coupon(condition=0), "isv.coupon-count-over-limit")
    assert "50" in (error.sub_msg or "")
    # The cap is per shop: another seller's session has its own fifty.
    assert other_shop.call(ADD, coupon(condition=0))["coupon_id"] > 0


def test_coupons_get_pages_by_twenty(top: TopClient) -> None:
    for _ in range(23):
        top.call(ADD, coupon(condition=0))
    first = top.call(LIST, {"page_no": 1, "page_size": 20})
    second = top.call(LIST, {"page_no": 2, "page_size": 20})
    assert first["total_results"] == 23
    assert len(first["coupons"]) == 20 and len(second["coupons"]) == 3
    invalid(top, LIST, {"page_size": 21}, "page_size")


def test_shops_see_only_their_own_coupons(top: TopClient, other_shop: TopClient) -> None:
    top.call(ADD, coupon())
    assert other_shop.call(LIST, {})["total_results"] == 0


# --------------------------------------------------------------------------- sends


def test_send_to_buyers_who_all_get_it_answers_empty(top: TopClient, sandbox: Sandbox) -> None:
    coupon_id = top.call(ADD, coupon())["coupon_id"]
    answer = top.call(SEND, {"coupon_id": coupon_id, "buyer_nick": ["alice", "bob"], "buyer_ids": ["AAHuid1"]})
    assert answer["is_success"] is True
    assert "failure_buyers" not in answer and "coupon_results" not in answer  # 发送成功则返回为空
    grants = sandbox.state()["shops"]["demo-shop"]["coupons"]["coupons"][str(coupon_id)]["grants"]
    assert sorted(g.get("buyer_nick") or g.get("open_uid") for g in grants) == ["AAHuid1", "alice", "bob"]


def test_is_success_stays_true_when_buyers_fail(top: TopClient) -> None:
    coupon_id = top.call(ADD, coupon())["coupon_id"]
    partly = top.call(SEND, {"coupon_id": coupon_id, "buyer_nick": ["alice", "fail-bob"]})
    assert partly["is_success"] is True
    assert partly["failure_buyers"] == [{"buyer_nick": "fail-bob", "reason": "买家不存在"}]
    (result,) = partly["coupon_results"]
    assert result["buyer_nick"] == "alice" and result["coupon_number"] > 0

    everyone_failed = top.call(SEND, {"coupon_id": coupon_id, "buyer_nick": ["fail-a", "fail-b"]})
    assert everyone_failed["is_success"] is True  # the trap: read failure_buyers, not is_success
    assert len(everyone_failed["failure_buyers"]) == 2
    assert everyone_failed["coupon_results"] == []


def test_a_send_reaches_at_most_one_hundred_buyers(top: TopClient) -> None:
    coupon_id = top.call(ADD, coupon())["coupon_id"]
    invalid(top, SEND, {"coupon_id": coupon_id, "buyer_nick": [f"b{i}" for i in range(101)]}, "buyer_nick")
    # 100 in all, even when split between nicks and open uids.
    mixed = {"coupon_id": coupon_id, "buyer_nick": [f"b{i}" for i in range(60)], "buyer_ids": [f"u{i}" for i in range(41)]}
    invalid(top, SEND, mixed, "buyer_nick")
    assert top.call(SEND, {"coupon_id": coupon_id, "buyer_nick": [f"b{i}" for i in range(100)]})["is_success"]


def test_send_needs_a_buyer(top: TopClient) -> None:
    """No buyer at all is a missing parameter: code 40, as everywhere (each list alone is optional)."""
    coupon_id = top.call(ADD, coupon())["coupon_id"]
    error = refused(top, SEND, {"coupon_id": coupon_id})
    assert (error.code, error.sub_code) == (40, "isv.missing-parameter"), error
    assert (error.sub_msg or "").startswith("buyer_nick: is required"), error.sub_msg


def test_unknown_or_foreign_coupon_is_refused(top: TopClient, other_shop: TopClient) -> None:
    business(top, SEND, {"coupon_id": 99999999, "buyer_nick": ["alice"]}, "isv.coupon-error")
    foreign = other_shop.call(ADD, coupon())["coupon_id"]
    business(top, SEND, {"coupon_id": foreign, "buyer_nick": ["alice"]}, "isv.coupon-error")
    business(top, SNS_SEND, {"coupon_id": foreign, "buyer_nick": ["alice"]}, "isv.coupon-error")


def test_sns_send_uses_open_uids_and_has_no_success_flag(top: TopClient) -> None:
    coupon_id = top.call(ADD, coupon())["coupon_id"]
    answer = top.call(SNS_SEND, {"coupon_id": coupon_id, "open_uids": ["AAHfan1", "fail-fan2"]})
    assert "is_success" not in answer  # not in sns.send's response fields
    assert answer["failure_buyers"] == [{"open_uid": "fail-fan2", "reason": "买家不存在"}]
    assert answer["coupon_results"][0]["open_uid"] == "AAHfan1"
