"""TOP's clock as seen from here. TOP refuses a request whose timestamp is more than 10 minutes off
its own clock (code 31), so a machine with a wrong clock cannot call at all until the timestamps
it sends are corrected by the measured offset.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime

from reconciler.top.encoding import TOP_TIME_FORMAT, TOP_TIMEZONE

logger = logging.getLogger("reconciler.top.clock")

INVALID_TIMESTAMP_CODE = 31
_HALF_SECOND = 0.5  # both of TOP's clocks (time.get and the Date header) tick in whole seconds


class SkewedClock:
    """The local clock plus the offset to TOP's, measured at most once per client."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self.offset = 0.0
        self.measured = False

    def local(self) -> float:
        return self._clock()

    def now(self) -> float:
        """What TOP's clock reads now, as far as we know."""
        return self._clock() + self.offset

    def correct(self, server_seconds: float, sent_at: float, received_at: float) -> None:
        """Adopt TOP's time, read between `sent_at` and `received_at` on the local clock."""
        with self._lock:
            # TOP's reading is truncated to the second; its middle and the round trip's middle
            # are the best guesses of the same instant.
            self.offset = server_seconds + _HALF_SECOND - (sent_at + received_at) / 2
            self.measured = True
        logger.warning(
            "the local clock is %.0f s %s TOP's; timestamps are corrected by that much",
            abs(self.offset), "ahead of" if self.offset < 0 else "behind",
        )


def parse_top_time(text: str) -> float:
    """`yyyy-MM-dd HH:mm:ss` in GMT+8 (taobao.time.get) as epoch seconds."""
    moment = dt.datetime.strptime(text.strip(), TOP_TIME_FORMAT).replace(tzinfo=TOP_TIMEZONE)
    return moment.timestamp()


def parse_http_date(text: str | None) -> float | None:
    """An HTTP Date header as epoch seconds, or None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    return moment.timestamp()
