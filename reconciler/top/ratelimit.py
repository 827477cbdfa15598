"""The QPS budget of one TOP app, shared by every client and thread of a run.

TOP limits calls per app (and per API); going over earns a code-7 ban that stops *every* call of
the app for N seconds. So the budget is one object per app key: it paces calls evenly (each call
takes the next free slot, 1/qps apart: GCRA with a burst of one), and a ban reported by any call
pauses all of them until it ends.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

logger = logging.getLogger("reconciler.top.ratelimit")

# TOP counts an app's calls over a rolling second. Calls are paced evenly (no burst: a full bucket
# of qps at the start of a second plus the steady rate would put up to 2 x qps into one second),
# a little under qps, so that network jitter cannot squeeze qps + 1 calls into a second either.
# A pacing clock of a few lines does this; pyrate-limiter, used first, bursted at the start of a
# second and its blocking wait left about 15 % of a 100 QPS quota unused.
PACING_MARGIN = 1.05

# A second ban in one run means TOP allows fewer calls than TOP_QPS says (an app shared with
# another tool, a lower limit for one API): from then on each new ban slows the pace by a
# quarter for the rest of the run, so a TOP_QPS set too high costs a few bans instead of one
# every second. A first ban alone changes nothing: one burst of network jitter is not a reason
# to run a 10,000-call apply slower. The next run starts from TOP_QPS again.
BAN_SLOWDOWN = 1.25
SLOWEST_INTERVAL = 1.0  # never slower than one call a second


class QpsBudget:
    """At most `qps` calls in any second, evenly paced, and nothing while TOP's ban lasts;
    slower after repeated bans (see BAN_SLOWDOWN)."""

    def __init__(self, qps: int, *, monotonic: Callable[[], float] = time.monotonic) -> None:
        if qps < 1:
            raise ValueError(f"qps must be at least 1, got {qps}")
        self.qps = qps
        self._monotonic = monotonic
        self._interval = PACING_MARGIN / qps
        self._slot_lock = threading.Lock()
        self._next_slot = 0.0  # the earliest moment the next call may go out
        self._ban_lock = threading.Lock()
        self._banned_until = 0.0
        self.bans = 0  # distinct bans TOP reported in this run (calls caught in one ban count once)

    def acquire(self) -> None:
        """Block until this call may go out."""
        while True:
            self._wait_out_ban()
            with self._slot_lock:
                now = self._monotonic()
                slot = max(now, self._next_slot)
                self._next_slot = slot + self._interval
            if slot > now:
                time.sleep(slot - now)
            if self.remaining_ban() == 0:
                return
            # TOP banned the app while this call waited for its slot: it takes a new one after
            # the ban, or every call that waited would go out at once when the ban ends.

    def pause(self, seconds: float) -> None:
        """TOP banned the app for `seconds`: hold back every call of the run until then."""
        with self._ban_lock:
            now = self._monotonic()
            until = now + seconds
            # Calls already on their way when TOP banned the app come back banned too: only a
            # report after the ban in force has ended is a new ban.
            new_ban = now >= self._banned_until
            if new_ban:
                self.bans += 1
            if until > self._banned_until:
                self._banned_until = until
                logger.info("TOP call limit: pausing all calls of this app for %.2f s", seconds)
        with self._slot_lock:  # after the ban, calls start again one slot apart
            self._next_slot = max(self._next_slot, until)
            if new_ban and self.bans > 1 and self._interval < SLOWEST_INTERVAL:
                self._interval = min(self._interval * BAN_SLOWDOWN, SLOWEST_INTERVAL)
                logger.warning(
                    "TOP banned this app's calls %d times in this run: pacing at %.1f calls/s instead of "
                    "TOP_QPS=%d until the run ends", self.bans, 1 / self._interval, self.qps,
                )

    def calls_per_second(self) -> float:
        """The pace calls go out at now (below `qps` after repeated bans)."""
        with self._slot_lock:
            return 1 / self._interval

    def remaining_ban(self) -> float:
        """Seconds until TOP's ban ends (0 when there is none)."""
        with self._ban_lock:
            return max(0.0, self._banned_until - self._monotonic())

    def _wait_out_ban(self) -> None:
        # A loop: another call may report a longer ban while this one sleeps.
        while (remaining := self.remaining_ban()) > 0:
            time.sleep(remaining)

    def close(self) -> None:
        """Nothing to release (kept for the run's clean-up, which closes every budget)."""


class Budgets:
    """One QpsBudget per app key for a run: shops that share an app share its quota."""

    def __init__(self, qps: int) -> None:
        self.qps = qps
        self._by_app: dict[str, QpsBudget] = {}
        self._lock = threading.Lock()

    def for_app(self, app_key: str) -> QpsBudget:
        with self._lock:
            if app_key not in self._by_app:
                self._by_app[app_key] = QpsBudget(self.qps)
            return self._by_app[app_key]

    def close(self) -> None:
        with self._lock:
            for budget in self._by_app.values():
                budget.close()
            self._by_app.clear()
