"""The sandbox's Taoke cash gift methods (淘礼金) keep the rules of their pages, and are called as
TOP's SDKs call them: with the promoter's Alimama (Taoke) app and no seller session."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET, DEMO_SESSION, SandboxServer
from tests.sandbox_calls import GMT8, RawTop, gmt8

CREATE = "taobao.tbk.dg.vegas.tlj.create"
STOP = "taobao.tbk.dg.vegas.tlj.stop"
REPORT = "taobao.tbk.dg.vegas.tlj.report"
ADZONE = 110550123456
AS_PROMOTER: dict[str, Any] = {"app": (DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET), "session": None}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def top(http: httpx.Client) -> Iterator[RawTop]:
    with SandboxServer() as server:
        yield RawTop(server, http)


def soon(days: float) -> str:
    return gmt8(datetime.now(GMT8) + timedelta(days=days))


def gift(**overrides: Any) -> dict[str, Any]:
    request: dict[str, Any] = {
        "adzone_id": ADZONE,
        "item_id": "220000000123",
        "total_num": 1000,
        "name": "零食礼金5元",
        "user_total_win_num_limit": 1,
        "security_switch": True,
        "security_level": 0,
        "per_face": "5.00",
        "send_start_time": soon(1),
        "send_end_time": soon(4),
        "use_end_time_mode": 1,
        "use_end_time": "3",
    }
    request.update(overrides)
    return {key: value for key, value in request.items() if value is not None}


def create(top: RawTop, **overrides: Any) -> dict[str, Any]:
    result: dict[str, Any] = top.ok(CREATE, gift(**overrides), **AS_PROMOTER)["result"]
    assert result["success"] is True
    return result


def test_create_answers_the_rights_id_and_reserves_the_budget(top: RawTop) -> None:
    result = create(top)
    model = result["model"]
    assert model["rights_id"].startswith("tlj") and model["vegas_code"] in model["send_url"]
    assert model["available_fee"] == "95000.00"  # 100,000.00 - 1000 × 5.00 yuan
    assert isinstance(model["item_today_num_left"], int)


def test_per_face_is_yuan_not_fen(top: RawTop) -> None:
    # 500 meant as 5.00 yuan in fen would reserve 500,000 yuan: more than the account holds.
    assert top.error(CREATE, gift(per_face="500"), **AS_PROMOTER)["sub_code"] == "isv.insufficient-funds"
    assert top.error(CREATE, gift(per_face="5.001"), **AS_PROMOTER)["code"] == 41
    assert top.error(CREATE, gift(per_face="0"), **AS_PROMOTER)["code"] == 41


@pytest.mark.parametrize(
    "missing",
    ["adzone_id", "item_id", "total_num", "name", "user_total_win_num_limit", "security_switch", "per_face",
     "send_start_time"],
)
def test_required_fields(top: RawTop, missing: str) -> None:
    error = top.error(CREATE, gift(**{missing: None}), **AS_PROMOTER)
    assert (error["code"], error["sub_code"]) == (40, "isv.missing-parameter") and missing in error["sub_msg"]


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"use_end_time_mode": None}, "use_end_time_mode: is required"),
        ({"use_end_time": None}, "use_end_time: is required"),
        ({"use_end_time_mode": 2, "use_end_time": "2030-01-02"}, "use_start_time: is required with use_end_time_mode 2"),
    ],
)
def test_fields_the_mode_needs_are_missing_parameters_code_40(top: RawTop, overrides: dict[str, Any], says: str) -> None:
    """The page marks neither required, but a gift needs a validity: absent is code 40 like any
    missing parameter (one code for a missing parameter in every family, issue 18.4)."""
    error = top.error(CREATE, gift(**overrides), **AS_PROMOTER)
    assert (error["code"], error["sub_code"]) == (40, "isv.missing-parameter") and error["sub_msg"].startswith(says), error


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"security_switch": False}, "security_switch: must be true"),
        ({"security_level": 1}, "security_level: must be 0"),
        ({"name": "一二三四五六七八九十一"}, "name: at most 10 characters"),
        ({"total_num": 0}, "total_num: must be at least 1"),
        ({"send_start_time": "1800000000000"}, "send_start_time: must be yyyy-MM-dd HH:mm:ss"),
        ({"send_start_time": "2026-11-11T00:00:00+08:00"}, "send_start_time: must be yyyy-MM-dd HH:mm:ss"),
        ({"use_end_time_mode": 3}, "use_end_time_mode: must be 1"),
        ({"use_end_time": "8"}, "use_end_time: must be at most 7"),
        ({"use_end_time": "2026-12-01"}, "use_end_time: must be a whole number"),
        ({"use_start_time": "2026-12-01"}, "use_start_time: must not be sent"),
        ({"use_end_time_mode": 2, "use_start_time": "2030/01/01", "use_end_time": "2030-01-02"}, "yyyy-MM-dd"),
    ],
)
def test_malformed_fields_are_code_41(top: RawTop, overrides: dict[str, Any], says: str) -> None:
    error = top.error(CREATE, gift(**overrides), **AS_PROMOTER)
    assert error["code"] == 41 and says in error["sub_msg"], error


@pytest.mark.parametrize(
    ("overrides", "sub_code"),
    [  # built inside the test, so times relative to now use the test's (pinned) clock, not collection time
        (lambda: {"send_end_time": soon(0.5)}, "isv.invalid-time-range"),  # ends before it starts
        (lambda: {"send_start_time": soon(-3), "send_end_time": soon(-1)}, "isv.invalid-time-range"),  # over already
        (lambda: {"use_end_time_mode": 2, "use_start_time": "2030-01-05", "use_end_time": "2030-01-02"},
         "isv.invalid-use-time"),
        (lambda: {"use_end_time_mode": 2, "use_start_time": "2020-01-01", "use_end_time": "2020-01-02"},
         "isv.invalid-use-time"),
    ],
)
def test_business_rules_are_code_15(top: RawTop, overrides: Callable[[], dict[str, Any]], sub_code: str) -> None:
    error = top.error(CREATE, gift(**overrides()), **AS_PROMOTER)
    assert (error["code"], error["sub_code"]) == (15, sub_code), error


def test_absolute_use_days(top: RawTop) -> None:
    start = (datetime.now(GMT8) + timedelta(days=1)).date()
    create(top, use_end_time_mode=2, use_start_time=start.isoformat(), use_end_time=(start + timedelta(days=5)).isoformat())


def test_stop_once_then_never_again(top: RawTop) -> None:
    rights_id = create(top)["model"]["rights_id"]
    answer = top.ok(STOP, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)
    assert answer["model"]["update_success"] is True and answer["result_success"] is True
    again = top.error(STOP, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)
    assert (again["code"], again["sub_code"]) == (15, "isv.tlj-already-stopped")
    # The unclaimed budget came back: a new gift of the full 100,000 yuan fits again.
    create(top, per_face="100.00", total_num=1000)


def test_stop_and_report_check_the_gift_and_its_adzone(top: RawTop) -> None:
    rights_id = create(top)["model"]["rights_id"]
    for method in (STOP, REPORT):
        assert top.error(method, {"rights_id": "tlj-nope", "adzone_id": ADZONE}, **AS_PROMOTER)["sub_code"] == "isv.tlj-not-exist"
        assert top.error(method, {"rights_id": rights_id, "adzone_id": 1}, **AS_PROMOTER)["sub_code"] == "isv.adzone-mismatch"
        assert top.error(method, {"rights_id": rights_id}, **AS_PROMOTER)["code"] == 40


def test_report_figures_in_their_units(top: RawTop) -> None:
    rights_id = create(top)["model"]["rights_id"]
    top.setup("/_sandbox/tlj/usage", {"rights_id": rights_id, "claimed": 120, "used": 45,
                                      "refunded": 2, "paid_orders": 40, "paid_amount": "3456.70"})
    extra = top.ok(REPORT, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)["model"]["extra"]
    assert extra["win_pv"] == 120 and extra["win_sum_amt"] == "600.00"
    assert extra["use_num"] == 45 and extra["use_sum_amt"] == "225.00"
    assert extra["get_rate"] == "12.00" and extra["use_rate"] == "37.50"  # percentages
    assert extra["alipay_num"] == 40 and extra["alipay_amt"] == "3456.70"
    assert extra["remaining_num"] == 0  # still issuing: nothing counts as left over yet
    top.ok(STOP, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)
    extra = top.ok(REPORT, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)["model"]["extra"]
    assert extra["remaining_num"] == 880 and extra["remaining_amt"] == "4400.00"


def test_usage_endpoint_refuses_impossible_figures(top: RawTop) -> None:
    rights_id = create(top, total_num=10)["model"]["rights_id"]
    response = top.http.post(f"{top.server.url}/_sandbox/tlj/usage", json={"rights_id": rights_id, "claimed": 11})
    assert response.status_code == 400


@pytest.mark.parametrize(("claimed", "rate"), [(1, "1.00"), (99, "99.00"), (100, "100.00")])
def test_get_rate_is_a_percentage(top: RawTop, claimed: int, rate: str) -> None:
    rights_id = create(top, total_num=100)["model"]["rights_id"]
    top.setup("/_sandbox/tlj/usage", {"rights_id": rights_id, "claimed": claimed, "used": 1})
    extra = top.ok(REPORT, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)["model"]["extra"]
    assert extra["get_rate"] == rate and extra["win_pv"] == claimed


# ---- who may call: the Taoke app, without a seller session ------------------------------------------


def test_tlj_methods_need_no_session_and_the_call_log_shows_the_app(top: RawTop) -> None:
    rights_id = create(top)["model"]["rights_id"]
    top.ok(REPORT, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)
    top.ok(STOP, {"rights_id": rights_id, "adzone_id": ADZONE}, **AS_PROMOTER)
    logged = top.calls()
    assert [call["method"] for call in logged] == [CREATE, REPORT, STOP]
    assert all(call["app"] == DEMO_ALIMAMA_APP_KEY and call["session_sent"] is False for call in logged)
    assert all(call["session"] is None and call["ok"] for call in logged)
    # The gift is the promoter's (kept per Taoke app key), not any seller's.
    state = top.http.get(f"{top.server.url}/_sandbox/state").json()
    assert rights_id in state["apps"][DEMO_ALIMAMA_APP_KEY]["tbk"]["gifts"] and state["shops"] == {}


def test_the_sellers_app_is_refused_like_an_app_without_the_api_package(top: RawTop) -> None:
    rights_id = create(top)["model"]["rights_id"]
    for method, business in ((CREATE, gift()), (STOP, {"rights_id": rights_id, "adzone_id": ADZONE}),
                             (REPORT, {"rights_id": rights_id, "adzone_id": ADZONE})):
        error = top.error(method, business)  # the seller's demo app, with its session
        assert (error["code"], error["sub_code"]) == (11, "isv.permission-api-package-limit"), error


def test_a_session_sent_along_is_ignored(top: RawTop) -> None:
    # No public source says whether TOP checks a session on a method that needs none; the sandbox
    # ignores it (as for every session-less method) and logs that one came along.
    result = top.ok(CREATE, gift(), app=AS_PROMOTER["app"], session=DEMO_SESSION)["result"]
    assert result["success"] is True
    (logged,) = top.calls()
    assert logged["session_sent"] is True and logged["app"] == DEMO_ALIMAMA_APP_KEY
