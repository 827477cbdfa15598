"""The plan's reads of TOP, each kind's read_live in its own thread, so that the app's QPS budget
always has calls waiting (issue 20.6: at 50 ms a call and 100 QPS, five or more in flight).

Kinds were read one after another: each small kind is a few round trips long, and while one was
read the budget went unused (the reduced bench shop read its coupons and discounts at ~50 calls/s
before the item pools' 300 reads at ~93/s). Here every kind of every shop is started at once and
planned in dependency order as its reads come in: the same reads (a kind's reads depend only on
its own inputs, never on another kind's answers), the same order of the plan, the same errors —
the first failing kind in dependency order raises, as it did when it was the first to be read.

`plan` also starts the reads of kinds that need no manifest (Kind.reads_links_only: what they read
follows from the state store's links alone, e.g. the item pools, most of a big shop's reads) before
the manifests are loaded and validated (engine/reconcile.py), so loading overlaps reading. Reads
are safe to send for manifests that then turn out invalid; nothing is ever written from here.
Stopping (close) lets no read that has not started go out: a refused run does not wait for them.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, LiveState, PlanContext
from reconciler.model import ResourceKey
from reconciler.top.client import call_concurrently

# Kinds read at once (each may run `concurrency` calls of its own): enough for every kind of a
# shop and the next shops' pools; the QPS budget, not this, paces the calls.
KIND_WORKERS = 8
# How long a thread may hold the interpreter lock while another waits for it, while the main
# thread loads manifests beside the reads (Python's default is 5 ms, see busy_beside_reads).
SWITCH_INTERVAL_BESIDE_READS = 0.001


class ReadsStopped(Exception):
    """A read not sent because the run stopped (the manifests were refused, or a read failed)."""


class KindReads:
    """Each (shop, kind)'s read_live started once, in a thread; `live` waits for its LiveState."""

    def __init__(self, client_for: Callable[[str], Caller], concurrency: int) -> None:
        self._client_for = client_for
        self._concurrency = max(1, concurrency)
        self._stop = threading.Event()
        # TOP_CONCURRENCY calls in flight for the whole plan, whichever kinds they are for (as one
        # call_many had before): enough to keep the budget busy (50 ms a call at 100 QPS needs 5),
        # and no more threads than that contending for the budget's slots and the interpreter.
        self._in_flight = threading.BoundedSemaphore(self._concurrency)
        self._pool = ThreadPoolExecutor(max_workers=KIND_WORKERS, thread_name_prefix="kind-read")
        self._started: dict[tuple[str, str], tuple[list[tuple[ResourceKey, str]], Future[LiveState]]] = {}
        self._reads_before: dict[str, int] = {}

    def start(self, kind_name: str, ctx: PlanContext) -> None:
        """Start reading `kind_name` of ctx.shop (once; a second start of the same reads is a no-op)."""
        key = (ctx.shop, kind_name)
        if key in self._started:
            return
        caller = self._client_for(ctx.shop)
        self._reads_before.setdefault(ctx.shop, reads_so_far(caller))
        stoppable = _Stoppable(caller, self._stop, self._concurrency, self._in_flight)
        future = self._pool.submit(KINDS[kind_name].read_live, stoppable, ctx)
        self._started[key] = (_ids(ctx, kind_name), future)

    def live(self, kind_name: str, ctx: PlanContext) -> LiveState:
        """What the kind read for ctx.shop, once (not kept here: a big shop's pools are large);
        read now if it was not started, or was started with other links than ctx has (a read
        ahead of a store that changed meanwhile)."""
        started = self._started.pop((ctx.shop, kind_name), None)
        if started is None or started[0] != _ids(ctx, kind_name):
            self.start(kind_name, ctx)
            started = self._started.pop((ctx.shop, kind_name))
        return started[1].result()

    def reads_before(self, shop: str, caller: Caller) -> int:
        """The shop's read count before its first read of this plan (the plan counts its reads)."""
        return self._reads_before.get(shop, reads_so_far(caller))

    def close(self) -> None:
        """Stop: reads not yet sent are not sent; the ones on their way are waited for."""
        self._stop.set()
        self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> KindReads:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def busy_beside_reads() -> Iterator[None]:
    """For CPU work in the main thread (loading the manifests) while reads are in flight. Each
    read needs the interpreter lock a few times (its slot in the QPS budget, sending, reading the
    answer) and waited up to 5 ms each time for the loader to let go of it: the reads fell to
    60-80 a second of 97 during the full bench shop's load. 1 ms between switches keeps them on
    pace and costs the loader little."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_BESIDE_READS)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def _ids(ctx: PlanContext, kind_name: str) -> list[tuple[ResourceKey, str]]:
    return [(link.key, link.remote_id) for link in ctx.links_of(kind_name)]


def reads_so_far(client: Caller) -> int:
    stats = getattr(client, "stats", None)
    return int(getattr(stats, "reads", 0))


class _Stoppable:
    """A shop's caller whose calls are refused once the run stopped. Its call_many runs each call
    through its own `call` (call_concurrently, as TopClient.call_many does), so a stop also holds
    back the rest of a long call_many (a thousand item pools) instead of waiting for all of it."""

    def __init__(self, caller: Caller, stop: threading.Event, concurrency: int, in_flight: threading.Semaphore) -> None:
        self._caller = caller
        self._stop = stop
        self._concurrency = concurrency
        self._in_flight = in_flight

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        with self._in_flight:
            if self._stop.is_set():
                raise ReadsStopped(method)
            return self._caller.call(method, params)

    def call_many(
        self, method: str, params_list: Sequence[Mapping[str, Any] | None], *, return_exceptions: bool = False,
        each: Callable[[dict[str, Any]], Any] | None = None,
    ) -> list[Any]:
        return call_concurrently(self.call, method, params_list, workers=self._concurrency,
                                 return_exceptions=return_exceptions, each=each)
