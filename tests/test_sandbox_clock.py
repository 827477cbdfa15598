"""The sandbox's business clock (POST /_sandbox/clock): business rules run at the moment a test
sets, while signatures, timestamps and taobao.time.get stay on the protocol clock, so an unchanged
client can walk a shop through a calendar (tests/test_calendar_property.py)."""

from __future__ import annotations

from datetime import datetime, timezone

import httpx
import pytest

from reconciler.errors import TopPermanentError
from reconciler.kinds.units import GMT8
from tests.conftest import Sandbox
from tests.fault_tools import client_for

ADD = "taobao.promotion.coupon.add"


def set_clock(sandbox: Sandbox, at: str | None) -> dict[str, object]:
    response = httpx.post(f"{sandbox.server.url}/_sandbox/clock", json={"at": at})
    response.raise_for_status()
    return dict(response.json())


def test_business_rules_follow_the_business_clock_and_the_protocol_stays_real(sandbox: Sandbox) -> None:
    coupon = {"denominations": 10, "condition": 99, "end_time": "2027-11-11 23:59:59"}
    with client_for(sandbox) as top:
        # A coupon ending 2027-11-11 is more than six months after 2027-01-01: refused then.
        assert set_clock(sandbox, "2027-01-01T10:00:00+08:00") == {"at": "2027-01-01T02:00:00+00:00"}
        with pytest.raises(TopPermanentError):
            top.call(ADD, coupon)
        # On 2027-11-10 it is fine; the request's real timestamp is still accepted.
        set_clock(sandbox, "2027-11-10T10:00:00+08:00")
        assert top.call(ADD, coupon)["coupon_id"]
        # time.get answers the protocol clock (clients measure their skew with it).
        answered = datetime.strptime(top.call("taobao.time.get")["time"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=GMT8)
        assert abs((answered - datetime.now(timezone.utc)).total_seconds()) < 120


def test_the_clock_is_read_back_cleared_by_null_and_by_reset(sandbox: Sandbox) -> None:
    set_clock(sandbox, "2027-11-10T10:00:00+08:00")
    assert httpx.get(f"{sandbox.server.url}/_sandbox/clock").json() == {"at": "2027-11-10T02:00:00+00:00"}
    assert set_clock(sandbox, None) == {"at": None}
    set_clock(sandbox, "2027-11-10T10:00:00+08:00")
    httpx.post(f"{sandbox.server.url}/_sandbox/reset").raise_for_status()
    assert httpx.get(f"{sandbox.server.url}/_sandbox/clock").json() == {"at": None}
    refused = httpx.post(f"{sandbox.server.url}/_sandbox/clock", json={"at": "2027-11-10T10:00:00"})
    assert refused.status_code == 400 and "offset" in refused.json()["error"]
