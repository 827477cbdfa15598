from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from reconciler.errors import (
    TopCallLimitError,
    TopError,
    TopPermanentError,
    TopRetryableError,
    TopTransportError,
)
from reconciler.top.envelope import (
    TopDailyQuotaError,
    classify_error,
    parse_ban_seconds,
    parse_response,
    response_key,
)

POOL_CREATE = "alibaba.wdk.marketing.itempool.activity.create"


def body(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def error_body(**fields: Any) -> bytes:
    return body({"error_response": fields})


@pytest.mark.parametrize(
    ("method", "key"),
    [
        ("taobao.item.update.listing", "item_update_listing_response"),
        ("taobao.time.get", "time_get_response"),
        (POOL_CREATE, "alibaba_wdk_marketing_itempool_activity_create_response"),
    ],
)
def test_response_key(method: str, key: str) -> None:
    assert response_key(method) == key


def test_wrapped_success_taobao() -> None:
    payload = parse_response(
        "taobao.promotion.coupons.get",
        body({"promotion_coupons_get_response": {"total_results": 1, "coupons": {"coupon": [{"denominations": 500}]}, "request_id": "r1"}}),
    )
    assert payload["coupons"] == {"coupon": [{"denominations": 500}]}


def test_wrapped_success_alibaba_keeps_decimals() -> None:
    raw = '{"alibaba_wdk_marketing_itempool_activity_create_response": {"result": {"model": 42, "rate": 0.60}}}'
    payload = parse_response(POOL_CREATE, raw)
    assert payload["result"]["rate"] == Decimal("0.60")
    assert isinstance(payload["result"]["rate"], Decimal)


@pytest.mark.parametrize("method", ["taobao.time.get", POOL_CREATE])
def test_simplify_shape_returns_whole_body(method: str) -> None:
    document = {"time": "2026-06-18 00:00:00", "request_id": "r2"}
    assert parse_response(method, body(document)) == document


@pytest.mark.parametrize("method", ["taobao.time.get", POOL_CREATE])
def test_error_response_raises(method: str) -> None:
    with pytest.raises(TopPermanentError) as info:
        parse_response(method, error_body(code=15, msg="Remote service error", sub_code="isv.invalid-parameter", sub_msg="bad", request_id="r3"))
    exc = info.value
    assert (exc.method, exc.code, exc.sub_code, exc.sub_msg, exc.request_id) == (method, 15, "isv.invalid-parameter", "bad", "r3")


def test_response_wrapped_for_another_method_is_a_transport_error() -> None:
    with pytest.raises(TopTransportError):
        parse_response("taobao.time.get", body({"item_seller_get_response": {"item": {}}}))


@pytest.mark.parametrize("raw", [b"<html>502</html>", b"\xff\xfe", b"[1, 2]", b'"text"', b'{"error_response": "x"}', b'{"time_get_response": []}'])
def test_malformed_bodies_are_transport_errors(raw: bytes) -> None:
    with pytest.raises(TopTransportError):
        parse_response("taobao.time.get", raw)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-api-access-count", "sub_msg": "This ban will last for 12 more seconds"}, TopCallLimitError),
        ({"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-dynamic-access-count"}, TopCallLimitError),
        ({"code": 7, "msg": "App Call Limited"}, TopCallLimitError),
        ({"code": 4, "msg": "User Call Limited"}, TopCallLimitError),
        ({"code": 5, "msg": "Session Call Limited"}, TopCallLimitError),
        ({"code": 6, "msg": "Partner Call Limited"}, TopCallLimitError),
        ({"code": 8, "msg": "App Call Exceeds Limited Frequency"}, TopCallLimitError),
        ({"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-app-access-count", "sub_msg": "This ban will last for 71000 more seconds"}, TopDailyQuotaError),
        ({"code": 15, "msg": "Remote service error", "sub_code": "isp.top-remote-connection-timeout"}, TopRetryableError),
        ({"code": 15, "msg": "Remote service error", "sub_code": "isp.remote-connection-error-tmall"}, TopRetryableError),
        ({"code": 10, "msg": "Service Currently Unavailable"}, TopRetryableError),
        ({"code": 50, "msg": "Remote service error"}, TopRetryableError),
        ({"code": 50, "msg": "Remote service error", "sub_code": "isv.item-not-exist"}, TopPermanentError),
        ({"code": 15, "msg": "Remote service error", "sub_code": "isv.coupon-count-exceeded"}, TopPermanentError),
        ({"code": 11, "msg": "Insufficient ISV Permissions"}, TopPermanentError),
        ({"code": 25, "msg": "Invalid Signature"}, TopPermanentError),
        ({"code": 26, "msg": "Missing Session"}, TopPermanentError),
        ({"code": 27, "msg": "Invalid session", "sub_code": "invalid-sessionkey"}, TopPermanentError),
        ({"code": 31, "msg": "Invalid Timestamp"}, TopPermanentError),
        ({"code": 41, "msg": "Invalid Arguments"}, TopPermanentError),
        ({"code": 43, "msg": "Parameter Error"}, TopPermanentError),
        ({"msg": "no code at all"}, TopPermanentError),
    ],
)
def test_classification(fields: dict[str, Any], expected: type[TopError]) -> None:
    exc = classify_error("taobao.promotion.coupon.add", fields)
    assert type(exc) is expected


def test_call_limit_carries_ban_seconds() -> None:
    with pytest.raises(TopCallLimitError) as info:
        parse_response("taobao.time.get", error_body(code=7, msg="App Call Limited", sub_code="accesscontrol.limited-by-api-access-count", sub_msg="This ban will last for 37 more seconds"))
    assert info.value.ban_seconds == 37.0
    assert info.value.retryable


def test_call_limit_without_ban_message_has_no_ban_seconds() -> None:
    exc = classify_error("m", {"code": 7, "msg": "App Call Limited"})
    assert isinstance(exc, TopCallLimitError) and exc.ban_seconds is None


def test_daily_quota_is_permanent_and_says_so() -> None:
    exc = classify_error("m", {"code": 7, "msg": "App Call Limited", "sub_code": "accesscontrol.limited-by-app-access-count"})
    assert isinstance(exc, TopPermanentError) and not exc.retryable
    assert "daily call quota is exhausted" in str(exc)


@pytest.mark.parametrize(
    ("sub_msg", "seconds"),
    [("This ban will last for 5 more seconds", 5.0), ("this BAN will last for 1.5 more seconds", 1.5), ("nope", None), (None, None), ("", None)],
)
def test_parse_ban_seconds(sub_msg: str | None, seconds: float | None) -> None:
    assert parse_ban_seconds(sub_msg) == seconds


def test_string_code_is_understood() -> None:
    assert type(classify_error("m", {"code": "7", "msg": "x"})) is TopCallLimitError


def test_message_is_built_from_top_fields_only() -> None:
    exc = classify_error("taobao.time.get", {"code": 15, "msg": "Remote service error", "sub_code": "isv.x", "sub_msg": "why", "request_id": "rid", "extra": "SHOULD-NOT-APPEAR"})
    assert str(exc) == "taobao.time.get: code 15 Remote service error [isv.x] - why (request_id rid)"
