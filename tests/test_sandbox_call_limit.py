"""The sandbox's call limit judges calls by when they arrived (issue 20.6): more than qps_limit
calls in any rolling second of arrival times starts a ban, however late the sandbox gets round to
judging a call and in whatever order its threads judge them."""

from __future__ import annotations

import io
import socket
import sys
import time

import pytest

from reconciler.sandbox import arrival
from reconciler.sandbox.arrival import StampedReader
from reconciler.sandbox.faults import Faults, FaultSettings


def _limited(qps: int) -> Faults:
    return Faults(FaultSettings(qps_limit=qps, ban_seconds=0.5))


def test_evenly_spaced_arrivals_at_the_limit_pass_and_one_more_is_banned() -> None:
    faults = _limited(10)
    start = time.monotonic() - 10  # arrival stamps in the past: judged late, long after arriving
    assert all(faults.call_limit("app", start + 0.101 * n + 0.001) is None for n in range(30))
    # An 11th call inside the last rolling second of arrivals.
    banned = faults.call_limit("app", start + 2.95)
    assert banned is not None and banned.code == 7 and banned.sub_msg == "This ban will last for 0.50 more seconds"


def test_a_call_judged_after_later_arrivals_counts_in_their_second() -> None:
    faults = _limited(3)
    for at in (0.0, 0.5, 0.9):
        assert faults.call_limit("app", 100 + at) is None
    # Arrived at 0.2, judged last: its own second (-0.8, 0.2] holds one call, but the second ending
    # at the call of 0.9 would hold four. A judge that looked back from the call only let it pass.
    assert faults.call_limit("app", 100.2) is not None


def test_the_limit_is_per_app_key_and_a_ban_ends() -> None:
    faults = _limited(1)
    assert faults.call_limit("one", 50.0) is None and faults.call_limit("two", 50.0) is None
    assert faults.call_limit("one", 50.1) is not None
    assert faults.call_limit("one", 50.4) is not None  # inside the 0.5 s ban
    assert faults.call_limit("one", 50.7) is None  # ban over, counting afresh


@pytest.mark.skipif(sys.platform != "linux", reason="kernel receive stamps: Linux SO_TIMESTAMPNS")
def test_a_request_is_stamped_when_its_bytes_arrived_not_when_a_thread_reads_them(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Measured afresh here, not an offset another test's sandbox measured up to 10 s ago.
    monkeypatch.setattr(arrival, "_offset", (-1e9, None))
    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as client:
        accepted, _ = server.accept()
        with accepted:
            assert StampedReader.enable(accepted)
            stamps = StampedReader(accepted)
            reader = io.BufferedReader(stamps)
            stamps.expect()
            sent = time.monotonic()
            client.sendall(b"POST /router/rest HTTP/1.1\r\n")
            time.sleep(0.3)  # the reading thread is late
            assert reader.readline() == b"POST /router/rest HTTP/1.1\r\n"
            assert stamps.arrived is not None and sent <= stamps.arrived + 0.001 and stamps.arrived - sent < 0.1

