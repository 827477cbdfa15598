"""The sandbox's faults, one by one, seen by a client that sends each call once: what TOP answers,
whether the call ran, and what the connection does."""

from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import pytest

from reconciler.errors import (
    TopAmbiguousWriteError,
    TopCallLimitError,
    TopPermanentError,
    TopRetryableError,
    TopTransportError,
)
from reconciler.sandbox.faults import FaultError, FaultSettings, settings_from_flags
from reconciler.top.retry import RetryPolicy
from tests.conftest import Sandbox
from tests.fault_tools import ADD, CREATE, QUERY_ITEMS, activities_on_top, client_for, set_faults

ONCE = RetryPolicy.single_attempt()
GMT8 = timezone(timedelta(hours=8))


def activity() -> dict[str, Any]:
    start = datetime.now(GMT8) + timedelta(days=30)
    return {
        "activity_name": "fault pool", "description": "d", "out_act_id": "fault-pool",
        "start_time": int(start.timestamp() * 1000), "end_time": int((start + timedelta(days=3)).timestamp() * 1000),
        "shop_ids": ["1001"], "terminals": ["1"],
        "rule_stairs": [{"number": 1, "is_amount": True, "amount": 3000,
                         "cover_all_discount_rule": {"is_cover_all_decrease_money": True, "cover_all_decrease_money": 500}}],
    }


def add_item(activity_id: int, sku: str) -> dict[str, Any]:
    return {"param0": {"sku_code": sku}, "param1": {"activity_id": activity_id}}


def new_activity(sandbox: Sandbox) -> int:
    with client_for(sandbox, retry=ONCE) as client:
        return int(client.call(CREATE, {"param": activity()})["data"])


def faults_of(sandbox: Sandbox) -> dict[str, Any]:
    return dict(httpx.get(f"{sandbox.server.url}/_sandbox/faults").json()["faults"])


# ---- configuration ---------------------------------------------------------------------------


def test_faults_are_set_read_back_and_cleared(sandbox: Sandbox) -> None:
    set_faults(sandbox, latency=[0.01, 0.02], error_rate={"*": 0.1, ADD: 0.5}, qps_limit=20, seed=3,
               drop_answer={"methods": [ADD], "count": 1, "mode": "502"})
    faults = faults_of(sandbox)
    assert faults["latency"] == [0.01, 0.02] and faults["error_rate"] == {"*": 0.1, ADD: 0.5}
    assert faults["drop_answer"] == {"methods": [ADD], "count": 1, "rate": 1.0, "mode": "502"}
    set_faults(sandbox)
    assert faults_of(sandbox) == {}


@pytest.mark.parametrize(
    "bad",
    [{"latency": [2, 1]}, {"error_rate": 1.5}, {"qps_limit": "many"}, {"drop_answer": {"mode": "explode"}}, {"nope": 1}],
)
def test_bad_faults_are_refused_with_the_key_named(sandbox: Sandbox, bad: dict[str, Any]) -> None:
    response = httpx.post(f"{sandbox.server.url}/_sandbox/faults", json=bad)
    assert response.status_code == 400
    assert next(iter(bad)) in response.json()["error"]


def test_command_line_flags_become_the_same_settings() -> None:
    settings = settings_from_flags(
        latency="0.01-0.05", error_rates=("0.05", f"{ADD}=0.5"), qps_limit=20, ban_seconds=2,
        drop_answer=("writes",), drop_mode="timeout", hang_rate=0.01, clock_offset=-30, seed=9,
        faults_json='{"expire_sessions_after": 100}',
    )
    assert settings == FaultSettings.from_json({
        "latency": [0.01, 0.05], "error_rate": {"*": 0.05, ADD: 0.5}, "qps_limit": 20, "ban_seconds": 2,
        "drop_answer": {"mode": "timeout"}, "hang": {"rate": 0.01}, "clock_offset": -30, "seed": 9,
        "expire_sessions_after": 100,
    })
    with pytest.raises(FaultError, match="--latency"):
        settings_from_flags(latency="soon")


# ---- faults that answer an error instead of running the call --------------------------------


def test_latency_delays_each_call(sandbox: Sandbox) -> None:
    set_faults(sandbox, latency=0.1)
    with client_for(sandbox, retry=ONCE) as client:
        started = time.monotonic()
        client.call("taobao.time.get")
    assert time.monotonic() - started >= 0.1


def test_an_injected_isp_error_does_not_run_the_call(sandbox: Sandbox) -> None:
    set_faults(sandbox, error_rate={CREATE: 1.0})
    with client_for(sandbox, retry=ONCE) as client, pytest.raises(TopRetryableError) as info:
        client.call(CREATE, {"param": activity()})
    assert info.value.code == 15 and (info.value.sub_code or "").startswith("isp.")
    assert activities_on_top(sandbox) == {}


def test_error_rates_follow_their_probability(sandbox: Sandbox) -> None:
    set_faults(sandbox, error_rate=0.2, seed=1)
    with client_for(sandbox, retry=ONCE) as client:
        outcomes = client.call_many("taobao.time.get", [None] * 300, return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, TopRetryableError)]
    assert 30 <= len(errors) <= 90 and len({e.sub_code for e in errors}) > 1


def test_going_over_the_qps_limit_bans_the_app(sandbox: Sandbox) -> None:
    set_faults(sandbox, qps_limit=5, ban_seconds=0.3)
    with client_for(sandbox, retry=ONCE) as client:
        outcomes = client.call_many("taobao.time.get", [None] * 8, return_exceptions=True)
        bans = [o for o in outcomes if isinstance(o, TopCallLimitError)]
        assert len(bans) == 3 and all(not isinstance(o, Exception) for o in outcomes[:5])
        assert bans[0].code == 7 and bans[0].sub_code == "accesscontrol.limited-by-api-access-count"
        assert bans[0].sub_msg == "This ban will last for 0.30 more seconds" and bans[0].ban_seconds == 0.3
        time.sleep(0.35)
        client.call("taobao.time.get")  # the ban is over


def test_sessions_expire_after_the_set_number_of_calls(sandbox: Sandbox) -> None:
    set_faults(sandbox, expire_sessions_after=2)
    query = {"param": {"activity_id": 1, "page": {"page_size": 1, "current": 1}}}
    with client_for(sandbox, retry=ONCE) as client:
        client.call("taobao.time.get")
        with pytest.raises(TopPermanentError) as info:
            client.call(QUERY_ITEMS, query)
    assert info.value.code == 27 and info.value.sub_code == "invalid-sessionkey"


def test_a_skewed_sandbox_clock_shows_in_time_get_and_the_date_header(sandbox: Sandbox) -> None:
    set_faults(sandbox, clock_offset=-7200)
    with client_for(sandbox, retry=ONCE) as client:
        answer = client.call("taobao.time.get")
    top_time = datetime.strptime(answer["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
    assert abs((datetime.now(GMT8) - top_time).total_seconds() - 7200) < 5
    # Our timestamps were two hours ahead: refused with code 31 until the client corrected them.
    assert [call["ok"] for call in sandbox.calls()] == [False, False, True]
    date = parsedate_to_datetime(httpx.get(sandbox.gateway).headers["date"])
    assert abs((datetime.now(timezone.utc) - date).total_seconds() - 7200) < 5


# ---- faults on the connection ----------------------------------------------------------------


@pytest.mark.parametrize("mode", ["close", "502", "timeout"])
def test_a_dropped_answer_keeps_the_change(sandbox: Sandbox, mode: str) -> None:
    activity_id = new_activity(sandbox)
    set_faults(sandbox, drop_answer={"methods": [ADD], "count": 1, "mode": mode}, hang_seconds=0.5)
    with client_for(sandbox, retry=ONCE, timeout=httpx.Timeout(0.2)) as client:
        with pytest.raises(TopAmbiguousWriteError) as info:
            client.call(ADD, add_item(activity_id, "1001"))
        assert isinstance(info.value.__cause__, TopTransportError)
        client.call(ADD, add_item(activity_id, "1002"))  # count 1: the next call is answered
    assert activities_on_top(sandbox)["fault-pool"]["skus"] == ["1001", "1002"]


def test_drop_answer_defaults_to_writes_only(sandbox: Sandbox) -> None:
    set_faults(sandbox, drop_answer={"mode": "502"})
    with client_for(sandbox, retry=ONCE) as client:
        client.call("taobao.time.get")
        with pytest.raises(TopAmbiguousWriteError, match="HTTP 502"):
            client.call(CREATE, {"param": activity()})
    assert list(activities_on_top(sandbox)) == ["fault-pool"]


def test_a_hung_call_does_not_run(sandbox: Sandbox) -> None:
    activity_id = new_activity(sandbox)
    set_faults(sandbox, hang={"methods": [ADD], "count": 1}, hang_seconds=0.5)
    with client_for(sandbox, retry=ONCE, timeout=httpx.Timeout(0.2)) as client:
        with pytest.raises(TopAmbiguousWriteError, match="ReadTimeout"):
            client.call(ADD, add_item(activity_id, "1001"))
    assert activities_on_top(sandbox)["fault-pool"]["skus"] == []


# ---- tokens ----------------------------------------------------------------------------------


def test_token_methods_answer_a_json_string_and_rotate_refresh_tokens(sandbox: Sandbox) -> None:
    with client_for(sandbox, session=None, retry=ONCE) as client:
        created = client.call("taobao.top.auth.token.create", {"code": "sandbox-code-demo-shop"})
        assert isinstance(created["token_result"], str)
        result = json.loads(created["token_result"])
        assert result["taobao_user_nick"] == "demo-shop" and result["expires_in"] == 86400
        refreshed = json.loads(client.call("taobao.top.auth.token.refresh", {"refresh_token": result["refresh_token"]})["token_result"])
        assert refreshed["access_token"] != result["access_token"]
        with pytest.raises(TopPermanentError) as info:  # a refresh token works once
            client.call("taobao.top.auth.token.refresh", {"refresh_token": result["refresh_token"]})
        assert info.value.sub_code == "isv.refresh-token-invalid"
    query = {"param": {"activity_id": 1, "page": {"page_size": 1, "current": 1}}}
    with client_for(sandbox, session=refreshed["access_token"], retry=ONCE) as client:
        missing = client.call(QUERY_ITEMS, query)["result"]  # the item-pool family refuses in the body
    assert missing["error_code"] == "isv.activity-not-exist"  # past the session check: the token works
    logged = [call["params"] for call in sandbox.calls() if call["method"].startswith("taobao.top.auth")]
    assert logged == [{"code": "***"}, {"refresh_token": "***"}, {"refresh_token": "***"}]


def test_token_ttl_sets_the_lifetime_of_issued_tokens(sandbox: Sandbox) -> None:
    set_faults(sandbox, token_ttl=1)
    with client_for(sandbox, session=None, retry=ONCE) as client:
        result = json.loads(client.call("taobao.top.auth.token.create", {"code": "sandbox-code-demo-shop"})["token_result"])
    assert result["expires_in"] == 1
    time.sleep(1.05)
    with client_for(sandbox, session=result["access_token"], retry=ONCE) as client, pytest.raises(TopPermanentError) as info:
        client.call(QUERY_ITEMS, {"param": {"activity_id": 1, "page": {"page_size": 1, "current": 1}}})
    assert info.value.code == 27

