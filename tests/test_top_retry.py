"""The client's retries, QPS budget, concurrent reads and clock correction.

Unit tests hand the client an httpx.MockTransport; the rest talk to the sandbox over HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from reconciler.errors import (
    ReconcilerError,
    TopAmbiguousWriteError,
    TopCallLimitError,
    TopNotSentError,
    TopPermanentError,
    TopRetryableError,
)
from reconciler.top import Credentials, TopClient
from reconciler.top.ratelimit import Budgets, QpsBudget
from reconciler.top.retry import RetryPolicy, SettingError
from reconciler.top.settings import ClientSettings
from tests.conftest import Sandbox
from tests.fault_tools import FAST_RETRY, client_for, set_faults

SECRET = "retry-secret-VALUE"
SESSION = "retry-session-VALUE"
CREDS = Credentials("12345678", SECRET, SESSION, "https://gw.example.test/router/rest")
READ = "taobao.promotion.coupons.get"
WRITE = "taobao.promotion.coupon.add"

Answer = Callable[[httpx.Request], httpx.Response]
GMT8 = timezone(timedelta(hours=8))


def envelope(method: str, **fields: Any) -> httpx.Response:
    key = method.removeprefix("taobao.").replace(".", "_") + "_response"
    return httpx.Response(200, json={key: fields})


def top_error(code: int, sub_code: str | None = None, sub_msg: str | None = None) -> httpx.Response:
    error: dict[str, Any] = {"code": code, "msg": "error"}
    if sub_code:
        error["sub_code"] = sub_code
    if sub_msg:
        error["sub_msg"] = sub_msg
    return httpx.Response(200, json={"error_response": error})


ISP = top_error(15, "isp.top-remote-service-unavailable")


class Script:
    """Answers requests in order from a list (the last one repeats); records what was sent."""

    def __init__(self, *answers: httpx.Response | type[Exception]) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        if isinstance(answer, type):
            raise answer("scripted failure", request=request)  # type: ignore[call-arg]
        return answer

    @property
    def methods(self) -> list[str]:
        return [request.url.params["method"] for request in self.requests]


def scripted(script: Script, **kwargs: Any) -> TopClient:
    kwargs.setdefault("retry", FAST_RETRY)
    return TopClient(CREDS, transport=httpx.MockTransport(script), **kwargs)


# ---- reads -----------------------------------------------------------------------------------


def test_a_read_is_retried_through_isp_errors_and_5xx(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="reconciler.top")
    script = Script(ISP, httpx.Response(502), top_error(10), envelope(READ, total_results=0))
    with scripted(script) as client:
        assert client.call(READ, {"marker": "PARAM-VALUE"}) == {"total_results": 0}
    assert len(script.requests) == 4
    assert client.stats.reads == 1  # one logical call, four attempts
    retries = [r.getMessage() for r in caplog.records if r.name == "reconciler.top.retry"]
    assert len(retries) == 3 and "isp.top-remote-service-unavailable" in retries[0]
    assert not any("PARAM-VALUE" in text or SESSION in text or SECRET in text for text in retries)


@pytest.mark.parametrize("failure", [httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.ConnectError])
def test_a_read_is_retried_through_network_failures(failure: type[Exception]) -> None:
    script = Script(failure, envelope(READ, total_results=1))
    with scripted(script) as client:
        assert client.call(READ) == {"total_results": 1}
    assert len(script.requests) == 2


def test_retries_give_up_after_the_policy_and_raise_the_last_error() -> None:
    script = Script(ISP)
    with scripted(script, retry=RetryPolicy(attempts=3, backoff=0)) as client, pytest.raises(TopRetryableError) as info:
        client.call(READ)
    assert len(script.requests) == 3
    assert info.value.sub_code == "isp.top-remote-service-unavailable"


def test_permanent_errors_are_not_retried() -> None:
    script = Script(top_error(15, "isv.invalid-parameter"))
    with scripted(script) as client, pytest.raises(TopPermanentError):
        client.call(READ)
    assert len(script.requests) == 1


def test_the_default_client_sends_each_call_once() -> None:
    script = Script(ISP, envelope(READ))
    with TopClient(CREDS, transport=httpx.MockTransport(script)) as client, pytest.raises(TopRetryableError):
        client.call(READ)
    assert len(script.requests) == 1


# ---- call limits -----------------------------------------------------------------------------


def ban(seconds: str) -> httpx.Response:
    return top_error(7, "accesscontrol.limited-by-api-access-count", f"This ban will last for {seconds} more seconds")


def test_a_call_limit_ban_is_waited_out_even_for_a_write() -> None:
    script = Script(ban("0.2"), envelope(WRITE, coupon_id=1))
    started = time.monotonic()
    with scripted(script) as client:
        assert client.call(WRITE, {"denominations": 5}) == {"coupon_id": 1}
    assert time.monotonic() - started >= 0.2
    assert len(script.requests) == 2  # rejected at the gate, so sending it again is safe


def test_a_ban_pauses_every_client_sharing_the_app_budget() -> None:
    budget = QpsBudget(1000)
    banned = Script(ban("0.3"), envelope(READ))
    other = Script(envelope(READ))
    with scripted(banned, budget=budget) as first, scripted(other, budget=budget) as second:
        thread = threading.Thread(target=first.call, args=(READ,))
        thread.start()
        while budget.remaining_ban() == 0:
            time.sleep(0.005)
        remaining = budget.remaining_ban()
        started = time.monotonic()
        second.call(READ)
        waited = time.monotonic() - started
        thread.join()
    assert waited >= remaining - 0.01, "the second client must not call while TOP bans the app"
    assert len(other.requests) == 1


def test_a_ban_longer_than_the_policy_waits_fails_clearly() -> None:
    script = Script(ban("600"))
    with scripted(script) as client, pytest.raises(TopPermanentError) as info:
        client.call(READ)
    assert len(script.requests) == 1
    assert "banned this app's calls for 600 s" in str(info.value) and "TOP_MAX_BAN_SECONDS" in str(info.value)
    assert isinstance(info.value.__cause__, TopCallLimitError)


def test_the_daily_quota_is_not_waited_for() -> None:
    script = Script(top_error(7, "accesscontrol.limited-by-app-access-count", "This ban will last for 3 more seconds"))
    with scripted(script) as client, pytest.raises(TopPermanentError, match="daily call quota"):
        client.call(READ)
    assert len(script.requests) == 1


# ---- writes are never re-sent blindly ---------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [ISP, httpx.Response(502), httpx.Response(504), httpx.ReadTimeout, httpx.RemoteProtocolError, httpx.WriteError],
    ids=["isp", "502", "504", "read-timeout", "dropped", "write-error"],
)
def test_a_write_that_may_have_run_is_ambiguous_and_sent_once(failure: httpx.Response | type[Exception]) -> None:
    script = Script(failure, envelope(WRITE, coupon_id=1))
    with scripted(script) as client, pytest.raises(TopAmbiguousWriteError) as info:
        client.call(WRITE, {"denominations": 5})
    assert len(script.requests) == 1
    assert "may or may not have made this change" in str(info.value)
    assert info.value.__cause__ is not None
    assert SECRET not in str(info.value) and SESSION not in str(info.value)


@pytest.mark.parametrize("failure", [httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout])
def test_a_write_that_never_left_is_sent_again(failure: type[Exception]) -> None:
    script = Script(failure, envelope(WRITE, coupon_id=7))
    with scripted(script) as client:
        assert client.call(WRITE, {"denominations": 5}) == {"coupon_id": 7}
    assert len(script.requests) == 2


def test_not_sent_is_a_transport_error_that_says_so() -> None:
    script = Script(httpx.ConnectError)
    with scripted(script, retry=RetryPolicy.single_attempt()) as client, pytest.raises(TopNotSentError) as info:
        client.call(WRITE)
    assert "was not sent" in str(info.value)


# ---- the QPS budget --------------------------------------------------------------------------


def test_the_budget_paces_calls_to_its_qps() -> None:
    budget = QpsBudget(50)
    started = time.monotonic()
    for _ in range(25):  # evenly paced, no burst: 24 gaps of at least 1/50 s
        budget.acquire()
    assert time.monotonic() - started >= 0.45


def test_repeated_bans_slow_the_budget_for_the_rest_of_the_run() -> None:
    clock = [100.0]
    budget = QpsBudget(20, monotonic=lambda: clock[0])
    paced = budget.calls_per_second()
    budget.pause(1)  # a first ban: a burst of jitter, perhaps
    budget.pause(0.9)  # another call caught in that same ban
    assert budget.calls_per_second() == paced and budget.bans == 1
    clock[0] += 2
    budget.pause(1)  # banned again: TOP allows less than TOP_QPS
    budget.pause(0.9)
    assert budget.bans == 2 and budget.calls_per_second() == pytest.approx(paced / 1.25)
    clock[0] += 2
    budget.pause(1)
    assert budget.calls_per_second() == pytest.approx(paced / 1.25**2)
    for _ in range(30):
        clock[0] += 2
        budget.pause(1)
    assert budget.calls_per_second() == 1.0, "never slower than a call a second"


def test_one_budget_per_app_key() -> None:
    budgets = Budgets(10)
    assert budgets.for_app("a") is budgets.for_app("a")
    assert budgets.for_app("a") is not budgets.for_app("b")
    budgets.close()


# ---- settings ---------------------------------------------------------------------------------


def test_settings_from_the_environment() -> None:
    settings = ClientSettings.from_env(
        {"TOP_QPS": "4", "TOP_CONCURRENCY": "16", "TOP_TIMEOUT": "2.5", "TOP_RETRY_ATTEMPTS": "3",
         "TOP_RETRY_BACKOFF": "0.1", "TOP_MAX_BAN_SECONDS": "30", "TOP_TOKEN_FILE": "/tmp/t.json"}
    )
    assert settings.qps == 4 and settings.workers == 4  # never more threads than the budget allows
    assert settings.retry == RetryPolicy(attempts=3, backoff=0.1, max_ban_seconds=30)
    assert settings.timeout.read == 2.5 and str(settings.token_file.path) == "/tmp/t.json"
    assert ClientSettings.from_env({}).retry == RetryPolicy()


@pytest.mark.parametrize(("name", "value"), [("TOP_QPS", "0"), ("TOP_QPS", "lots"), ("TOP_RETRY_BACKOFF", "-1")])
def test_bad_settings_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(SettingError) as info:
        ClientSettings.from_env({name: value})
    assert name in str(info.value) and isinstance(info.value, ReconcilerError)


# ---- concurrent reads ------------------------------------------------------------------------


def test_call_many_reads_concurrently_and_keeps_order(sandbox: Sandbox) -> None:
    set_faults(sandbox, latency=0.05)
    with client_for(sandbox, concurrency=10) as client:
        started = time.monotonic()
        answers = client.call_many("taobao.time.get", [None] * 20)
        elapsed = time.monotonic() - started
    assert len(answers) == 20 and all("time" in answer for answer in answers)
    assert elapsed < 0.5, f"20 reads of 50 ms took {elapsed:.2f} s: they did not overlap"
    assert client.stats.reads == 20


ITEM_GET = "taobao.promotionmisc.item.activity.get"


def test_call_many_returns_or_raises_errors(sandbox: Sandbox) -> None:
    with client_for(sandbox, concurrency=4) as client:
        # An unknown promotionmisc activity is refused with error_response (code 15); the item-pool
        # family would answer a success envelope with the refusal in its body.
        unknown = [{"activity_id": 1}, {"activity_id": 2}]
        answers = client.call_many(ITEM_GET, unknown, return_exceptions=True)
        assert all(isinstance(answer, TopPermanentError) for answer in answers)
        assert answers[0].sub_code.startswith("isv.activity-not-exist")
        with pytest.raises(TopPermanentError):
            client.call_many(ITEM_GET, unknown[:1] * 3)
        with pytest.raises(ValueError, match="write"):
            client.call_many("alibaba.wdk.marketing.itempool.additem", [{}])


# ---- clock skew ------------------------------------------------------------------------------


def test_clock_skew_is_measured_with_time_get_and_corrected() -> None:
    local = 1781712000.0  # 2026-06-18 00:00:00 GMT+8
    seen: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        method = request.url.params["method"]
        seen.append(f"{method}@{request.url.params['timestamp']}")
        if method == "taobao.time.get":
            return envelope(method, time="2026-06-18 00:08:00")  # TOP is 8 minutes ahead
        if request.url.params["timestamp"] < "2026-06-18 00:07:00":
            return top_error(31, "isv.invalid-timestamp")
        return envelope(method, total_results=0)

    with TopClient(CREDS, transport=httpx.MockTransport(answer), clock=lambda: local, retry=FAST_RETRY) as client:
        assert client.call(READ) == {"total_results": 0}
        assert client.call(READ) == {"total_results": 0}  # measured once, corrected from then on
    assert [entry.split("@")[0] for entry in seen] == [READ, "taobao.time.get", READ, READ]
    assert seen[2].endswith("00:08:00")


def test_a_clock_off_by_more_than_ten_minutes_reads_tops_date_header(sandbox: Sandbox) -> None:
    set_faults(sandbox, clock_offset=3600)  # TOP's clock runs an hour ahead of ours
    with client_for(sandbox) as client:
        answer = client.call("taobao.time.get")
        client.call_many("taobao.time.get", [None] * 3)
    top_time = datetime.strptime(answer["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
    assert abs((top_time - datetime.now(GMT8)).total_seconds() - 3600) < 5
    # The first call is refused (code 31); so is time.get, whose Date header still tells TOP's
    # time; then the call is sent again with a corrected timestamp, and so is every later call.
    assert [call["ok"] for call in sandbox.calls()] == [False, False, True, True, True, True]
