"""One shop's calls through its two apps (reconciler.top.apps): Taoke cash gift methods with the
shop's Alimama (Taoke) app and no session, everything else with the seller's app and session;
each app's client opened only when first needed. Against the sandbox over real HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest

from reconciler.errors import TopPermanentError
from reconciler.sandbox import DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET, DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION
from reconciler.top import Credentials, TopClient
from reconciler.top.apps import TAOKE_METHODS, ShopCaller
from reconciler.top.run import TopRun
from tests.conftest import Sandbox
from tests.sandbox_calls import GMT8, gmt8

CREATE = "taobao.tbk.dg.vegas.tlj.create"
REPORT = "taobao.tbk.dg.vegas.tlj.report"
ADZONE = 110550123456


def gift() -> dict[str, object]:
    start = datetime.now(GMT8) + timedelta(days=1)
    return {"adzone_id": ADZONE, "item_id": "220000000123", "total_num": 100, "name": "礼金", "per_face": "5.00",
            "user_total_win_num_limit": 1, "security_switch": True, "security_level": 0,
            "send_start_time": gmt8(start), "send_end_time": gmt8(start + timedelta(days=3)),
            "use_end_time_mode": 1, "use_end_time": "3"}


@pytest.fixture
def run() -> Iterator[TopRun]:
    top_run = TopRun({"TOP_QPS": "1000"})
    yield top_run
    top_run.close()


def test_the_taoke_methods_are_the_three_tlj_methods() -> None:
    assert TAOKE_METHODS == {CREATE, REPORT, "taobao.tbk.dg.vegas.tlj.stop"}


def test_tlj_calls_go_with_the_taoke_app_and_no_session_the_rest_with_the_sellers(
    sandbox: Sandbox, run: TopRun
) -> None:
    opened: list[str] = []

    def seller() -> TopClient:
        opened.append("seller")
        return TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, sandbox.gateway))

    def taoke() -> TopClient:
        opened.append("taoke")
        credentials = Credentials(DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET, None, sandbox.gateway)
        return run.open_app(credentials, sign_method="md5", read_only=False)

    caller = ShopCaller(seller, taoke)
    caller.call("taobao.time.get")
    assert opened == ["seller"]  # the Taoke app is not needed yet
    rights_id = caller.call(CREATE, gift())["result"]["model"]["rights_id"]
    caller.call_many(REPORT, [{"rights_id": rights_id, "adzone_id": ADZONE}] * 2)
    assert opened == ["seller", "taoke"]
    assert caller.stats.writes == 1 and caller.stats.reads == 3  # both apps' calls count

    logged = [(call["method"], call["app"], call["session_sent"]) for call in sandbox.calls()]
    assert logged == [
        ("taobao.time.get", DEMO_APP_KEY, True),
        (CREATE, DEMO_ALIMAMA_APP_KEY, False),
        (REPORT, DEMO_ALIMAMA_APP_KEY, False),
        (REPORT, DEMO_ALIMAMA_APP_KEY, False),
    ]
    for client in caller.opened():
        client.close()


def test_an_apps_own_client_cannot_carry_a_seller_session(run: TopRun) -> None:
    with pytest.raises(ValueError, match="must not carry a seller session"):
        run.open_app(Credentials(DEMO_ALIMAMA_APP_KEY, DEMO_ALIMAMA_APP_SECRET, DEMO_SESSION), sign_method="md5",
                     read_only=True)


def test_tlj_with_the_sellers_app_is_refused_as_top_refuses_a_missing_api_package(sandbox: Sandbox) -> None:
    # What a client that forgot the Taoke app would get: code 11, never a silent success.
    with TopClient(Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, sandbox.gateway)) as client:
        with pytest.raises(TopPermanentError) as refused:
            client.call(CREATE, gift())
    assert (refused.value.code, refused.value.sub_code) == (11, "isv.permission-api-package-limit")
