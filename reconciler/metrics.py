"""Prometheus metrics of one run (plan, apply or drift), with prometheus-client.

Each run fills a registry of its own and writes it in the text exposition format, atomically, to
a file for node-exporter's textfile collector (`--metrics-file`, one file per command so a plan
does not overwrite the apply's figures), and/or pushes it to a Pushgateway (`--pushgateway`,
grouped by command, and by --shard and --shop when given: `grouping_key`). Every name starts with `reconciler_`.

TOP calls are counted by a thin wrapper around each shop's client; retries are counted from the
client's retry logger, the one place a retry shows outside the client.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, disable_created_metrics, push_to_gateway, write_to_textfile

from reconciler.errors import (
    ReadOnlyViolation,
    TopAmbiguousWriteError,
    TopCallLimitError,
    TopError,
    TopPermanentError,
)
from reconciler.model import Action, Plan

# A run's file is rewritten whole each run: per-series *_created timestamps would only add noise.
disable_created_metrics()  # type: ignore[no-untyped-call]  # prometheus-client leaves it unannotated

RETRY_LOGGER = "reconciler.top.retry"
PUSH_JOB = "campaign_reconciler"
PUSH_TIMEOUT_SECONDS = 10.0
# TOP keeps at most this many valid shop coupons per shop (see kinds/shop_coupon.py).
VALID_COUPON_LIMIT = 50
# TOP cannot change or delete a shop coupon: each create or replace of one adds a valid coupon.
_COUPON_KIND = "ShopCoupon"


def outcome_of(error: BaseException | None) -> str:
    """A small fixed set of outcome labels, so the series count stays bounded."""
    if error is None:
        return "ok"
    if isinstance(error, ReadOnlyViolation):
        return "refused_read_only"
    if isinstance(error, TopCallLimitError):
        return "call_limited"
    if isinstance(error, TopAmbiguousWriteError):
        return "answer_lost"
    if isinstance(error, TopPermanentError):
        return "refused"
    return "failed"


def grouping_key(command: str, shops: Iterable[str] = (), shard: str | None = None) -> dict[str, str]:
    """The Pushgateway group of one run. A group is replaced whole by each push, so the shards of
    one plan (a CI matrix, an Indexed Job) and runs of single shops must each have their own, or
    the last to finish would erase the others' figures. `shops` (the run's --shop names, sorted)
    rather than `shop`: the series carry a `shop` label of their own, which a grouping label of the
    same name would override."""
    key = {"command": command}
    if shard:
        key["shard"] = shard  # "I/N"; prometheus-client encodes the slash (base64 path segment)
    if shops:
        key["shops"] = ",".join(sorted(set(shops)))
    return key


class RunMetrics:
    def __init__(self, command: str, grouping: Mapping[str, str] | None = None) -> None:
        self.command = command
        self.grouping = dict(grouping) if grouping else {"command": command}
        self.registry = CollectorRegistry()
        self.started = time.monotonic()
        self._valid_coupons: dict[str, int] = {}
        registry = self.registry
        self.calls = Counter("reconciler_top_calls", "TOP calls by shop, method and outcome.",
                             ["shop", "method", "outcome"], registry=registry)
        self.call_seconds = Counter("reconciler_top_call_seconds", "Seconds spent waiting for TOP, by method.",
                                    ["method"], registry=registry)
        self.retries = Counter("reconciler_top_retries", "TOP call attempts that failed and were tried again.",
                               ["method"], registry=registry)
        self.duration = Gauge("reconciler_run_duration_seconds", "How long the run took.", ["command"], registry=registry)
        self.exit_code = Gauge("reconciler_run_exit_code", "The run's exit code (0 ok, 1 error, 2 changes/drift).",
                               ["command"], registry=registry)
        self.finished = Gauge("reconciler_run_finished_timestamp_seconds", "When the run finished (Unix time).",
                              ["command"], registry=registry)
        self.planned = Gauge("reconciler_planned_changes", "Changes in the plan, by shop and action.",
                             ["shop", "action"], registry=registry)
        self.applied = Gauge("reconciler_applied_changes", "Changes of the apply, by shop and outcome.",
                             ["shop", "outcome"], registry=registry)
        self.write_calls = Gauge("reconciler_planned_write_calls", "Write calls in the plan, by shop.",
                                 ["shop"], registry=registry)
        self.drifted = Gauge("reconciler_drifted_objects", "Managed objects that differ on TOP from what was applied.",
                             ["shop"], registry=registry)
        self.valid_coupons = Gauge("reconciler_valid_coupons", "Valid shop coupons on TOP.", ["shop"], registry=registry)
        self.coupons_left = Gauge("reconciler_valid_coupons_left",
                                  f"Shop coupons TOP still accepts before its limit of {VALID_COUPON_LIMIT} valid ones.",
                                  ["shop"], registry=registry)

    # ---- what a run reports -----------------------------------------------------------------

    def observe_call(self, shop: str, method: str, seconds: float, error: BaseException | None) -> None:
        self.calls.labels(shop, method, outcome_of(error)).inc()
        self.call_seconds.labels(method).inc(seconds)

    def observe_plan(self, plan: Plan) -> None:
        for shop in sorted(set(plan.managed_counts) | {c.key.shop for c in plan.changes}):
            changes = [change for change in plan.changes if change.key.shop == shop]
            for action in Action:
                self.planned.labels(shop, action.value).set(sum(1 for c in changes if c.action is action))
            self.write_calls.labels(shop).set(sum(len(change.calls) for change in changes))
        self._observe_live_counts(plan.live_counts)

    def observe_apply(self, done: Sequence[Any], failed: Sequence[Any], not_tried: Sequence[Any]) -> None:
        """Changes (anything with .key.shop) by outcome; `failed` holds (change, error) pairs."""
        groups = {"done": list(done), "failed": [change for change, _ in failed], "not_tried": list(not_tried)}
        shops = sorted({change.key.shop for changes in groups.values() for change in changes})
        for shop in shops:
            for outcome, changes in groups.items():
                self.applied.labels(shop, outcome).set(sum(1 for c in changes if c.key.shop == shop))
        for change in done:
            created = change.action in (Action.CREATE, Action.REPLACE)
            if created and change.key.kind == _COUPON_KIND and change.key.shop in self._valid_coupons:
                self._valid_coupons[change.key.shop] += 1

    def observe_drift(self, drift: Sequence[Any], shops: Sequence[str]) -> None:
        for shop in sorted(set(shops) | {change.key.shop for change in drift}):
            self.drifted.labels(shop).set(sum(1 for change in drift if change.key.shop == shop))

    def _observe_live_counts(self, live_counts: Mapping[str, Mapping[str, int]]) -> None:
        for shop, counts in sorted(live_counts.items()):
            if "valid_coupons" in counts:
                self._valid_coupons[shop] = counts["valid_coupons"]

    def finish(self, exit_code: int) -> None:
        """Call after observe_plan / observe_apply: coupon counts are as TOP has them at the end."""
        for shop, valid in sorted(self._valid_coupons.items()):
            self.valid_coupons.labels(shop).set(valid)
            self.coupons_left.labels(shop).set(max(0, VALID_COUPON_LIMIT - valid))
        self.duration.labels(self.command).set(time.monotonic() - self.started)
        self.exit_code.labels(self.command).set(exit_code)
        self.finished.labels(self.command).set(time.time())

    # ---- export -----------------------------------------------------------------------------

    def write(self, path: str) -> None:
        """Atomically (temporary file, then rename), as the textfile collector needs."""
        write_to_textfile(path, self.registry)

    def push(self, gateway: str) -> None:
        push_to_gateway(gateway, job=PUSH_JOB, registry=self.registry, grouping_key=self.grouping,
                        timeout=PUSH_TIMEOUT_SECONDS)

    # ---- collection -------------------------------------------------------------------------

    def metered(self, shop: str, client: Any) -> "MeteredCaller":
        return MeteredCaller(client, shop, self)

    @contextmanager
    def counting_retries(self) -> Iterator[None]:
        """Count the retry logger's records while the run lasts, without changing what is printed."""
        logger = logging.getLogger(RETRY_LOGGER)
        shown_from = logger.getEffectiveLevel()
        counter = _RetryCounter(self.retries, shown_from)
        previous_level = logger.level
        logger.setLevel(min(shown_from, logging.INFO))
        logger.addFilter(counter)
        try:
            yield
        finally:
            logger.removeFilter(counter)
            logger.setLevel(previous_level)


class _RetryCounter(logging.Filter):
    """Counts "…retrying in…" records (one per retry, INFO), then lets through only what the
    logging setup would have shown anyway."""

    def __init__(self, retries: Counter, shown_from: int) -> None:
        super().__init__()
        self._retries = retries
        self._shown_from = shown_from

    def filter(self, record: logging.LogRecord) -> bool:
        if "retrying" in str(record.msg) and record.args and isinstance(record.args, tuple):
            self._retries.labels(str(record.args[0])).inc()
        return record.levelno >= self._shown_from


class MeteredCaller:
    """A shop's TOP client that also counts each call. Everything else is the client's own."""

    def __init__(self, client: Any, shop: str, metrics: RunMetrics) -> None:
        self._client = client
        self._shop = shop
        self._metrics = metrics

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        started = time.monotonic()
        try:
            answer: dict[str, Any] = self._client.call(method, params)
        except TopError as exc:
            self._metrics.observe_call(self._shop, method, time.monotonic() - started, exc)
            raise
        self._metrics.observe_call(self._shop, method, time.monotonic() - started, None)
        return answer

    def call_many(
        self, method: str, params_list: Sequence[Mapping[str, Any] | None], *, return_exceptions: bool = False,
        each: Callable[[dict[str, Any]], Any] | None = None,
    ) -> list[Any]:
        started = time.monotonic()
        try:
            answers: list[Any] = self._client.call_many(method, params_list, return_exceptions=return_exceptions,
                                                        each=each)
        except TopError as exc:
            self._metrics.observe_call(self._shop, method, time.monotonic() - started, exc)
            raise
        # The batch ran concurrently: its wall time is counted once, its calls one by one.
        self._metrics.call_seconds.labels(method).inc(time.monotonic() - started)
        for answer in answers:
            self._metrics.calls.labels(self._shop, method, outcome_of(answer if isinstance(answer, TopError) else None)).inc()
        return answers

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
