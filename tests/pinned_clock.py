"""The suite's one moment: every test runs at MOMENT, not at the machine's date.

Fixtures and inline manifests carry fixed dates (coupon windows in spring 2027, Double 11 2027,
token expiries), and the reconciler reads "now" from the real clock (plan without --at, apply,
token refresh, the sandbox's protocol and business clocks). Against the real clock the suite
would start failing the day those dates pass. So tests/conftest.py moves every clock Python reads
in the test process — time.time, datetime.now, date.today, in every thread, the in-process
sandbox's included — to MOMENT with time-machine, and lets it tick from there (retries, rate
limits and timeouts still see time pass; time.monotonic is not moved).

A child process (`python -m reconciler apply …` in the crash, concurrency and token tests; the
workflow runner's `reconciler` shim) must read the same clock as the sandbox it talks to, or its
signed timestamps and token expiries disagree with the sandbox's. `python_command` starts one
with `child_prelude` first, which travels the child by the parent's offset from real time.

Processes that do not import time-machine (the installed wheel's own venv: its `reconciler` and
its sandbox) run on real time together; they are checked at future dates with libfaketime
(tests/test_future_dates.py).

Under libfaketime (tests/test_future_dates.py sets FAKETIME_RUN in the environment of the runs it
starts) nothing is pinned: the date libfaketime gives the whole process tree is the point of
those runs, and time-machine's C patching of the clock functions must not run under libfaketime's
interposed clocks (together they crashed the interpreter now and then: a segmentation fault, no
verdict). `pinned()` then leaves every clock alone, `child_prelude()` is empty, and the tests that
only hold at MOMENT (marked `pinned_moment`) are skipped by tests/conftest.py.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

import time_machine

GMT8 = timezone(timedelta(hours=8))
# Before every dated object of the fixtures (spring and Double 11 2027) and of the generated shops,
# and the moment tests/golden_outputs.py plans at. Changing it moves every test's "today".
MOMENT = datetime(2026, 12, 1, 10, 0, tzinfo=GMT8)

# Set (to the libfaketime date) in the environment of the runs tests/test_future_dates.py starts.
FAKETIME_RUN = "FAKETIME_RUN"


def under_faketime() -> bool:
    """Whether this process runs under test_future_dates' libfaketime: then no clock is pinned."""
    return bool(os.environ.get(FAKETIME_RUN))


# Seconds from the real clock to the pinned one, while a test runs (pinned(); 0.0 outside).
_offset = [0.0]


@contextmanager
def pinned(moment: datetime = MOMENT) -> Iterator[time_machine.Traveller | None]:
    """Run the block with every clock of this process at `moment`, ticking on from there (under
    libfaketime: with the clocks as libfaketime gives them, see the module's docstring)."""
    if under_faketime():
        yield None
        return
    hatch = time_machine.escape_hatch
    offset = moment.timestamp() - (hatch.time.time() if hatch.is_travelling() else time.time())
    previous = _offset[0]
    with time_machine.travel(moment, tick=True) as traveller:
        _offset[0] = offset
        try:
            yield traveller
        finally:
            _offset[0] = previous


def child_prelude() -> str:
    """Python statements that move a child process's clocks to where this process's are now
    (none under libfaketime: the child inherits its clock)."""
    if under_faketime():
        return "pass"
    return f"import time, time_machine; time_machine.travel(time.time() + {_offset[0]!r}, tick=True).start()"


def python_command(*args: str) -> list[str]:
    """`python ARGS…` as a child on the pinned clock. ARGS start with `-m MODULE` or `-c CODE`."""
    if args[:1] == ("-m",):
        module, rest = args[1], args[2:]
        code = (f"{child_prelude()}\nimport runpy, sys\nsys.argv[0] = {module!r}\n"
                f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)")
        return [sys.executable, "-c", code, *rest]
    if args[:1] == ("-c",):
        return [sys.executable, "-c", f"{child_prelude()}\n{args[1]}", *args[2:]]
    raise ValueError(f"python_command takes -m MODULE or -c CODE, not {args[:1]}")

