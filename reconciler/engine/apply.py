"""Apply a plan: send exactly its calls, in order, journaling each before and after it is sent,
and first settle any write a previous apply sent without recording its answer."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.engine.codec import call_from_data, call_to_data
from reconciler.errors import ApplyError, ReconcilerError, TopCallLimitError, TopPermanentError
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller
from reconciler.model import Call, Change, Plan, Ref
from reconciler.state import JournalEntry, StateStore

log = logging.getLogger(__name__)

STATE_ONLY = "(state only)"


@dataclass
class ApplyReport:
    run_id: str
    done: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, str]] = field(default_factory=list)
    not_tried: list[Change] = field(default_factory=list)
    calls_sent: int = 0

    @property
    def ok(self) -> bool:
        return not self.failed


class ApplyListener:
    """Hooks for progress display; the CLI subclasses it (progress bar on a TTY, log lines in CI)."""

    def call_started(self, change: Change, call: Call) -> None: ...

    def call_finished(self, change: Change, call: Call, error: str | None) -> None: ...


def apply_plan(
    plan: Plan,
    store: StateStore,
    client_for: Callable[[str], Caller],
    *,
    listener: ApplyListener | None = None,
) -> ApplyReport:
    """Stops at the first failed change: later changes may depend on it (a coupon before its grant).
    The state store already holds every call that succeeded, whatever happens after."""
    report = ApplyReport(run_id=uuid.uuid4().hex)
    listener = listener or ApplyListener()
    bound: dict[str, Any] = {}  # plan-wide: a grant may use the id its coupon's create returned
    for index, change in enumerate(plan.changes):
        try:
            _apply_change(change, store, client_for(change.key.shop), report, bound, listener)
        except ReconcilerError as exc:
            report.failed.append((change, str(exc)))
            report.not_tried.extend(plan.changes[index + 1 :])
            break
        report.done.append(change)
    return report


def _apply_change(
    change: Change,
    store: StateStore,
    client: Caller,
    report: ApplyReport,
    bound: dict[str, Any],
    listener: ApplyListener,
) -> None:
    kind = KINDS[change.key.kind]
    for call in change.calls:
        params = resolve(call.params, bound)
        entry_id = store.journal_sent(report.run_id, change.key, call.method, params, call_to_data(call))
        listener.call_started(change, call)
        try:
            answer = client.call(call.method, params)
            kind.check_response(call.method, answer)
        except ReconcilerError as exc:
            if _certainly_not_done(exc):
                store.journal_failed(entry_id, str(exc))
            # Otherwise the entry stays "sent": the next apply asks TOP whether it took effect.
            listener.call_finished(change, call, str(exc))
            raise
        report.calls_sent += 1
        bound.update(_bindings(call, answer))
        store.journal_answered(entry_id, change.key, answer, kind.effects(call, answer), bound)
        listener.call_finished(change, call, None)
    if change.effects:
        entry_id = store.journal_sent(report.run_id, change.key, STATE_ONLY, {}, {})
        store.journal_answered(entry_id, change.key, {}, change.effects, bound)


def _certainly_not_done(exc: ReconcilerError) -> bool:
    """TOP refused the call (business error, call limit): nothing happened. A lost answer or an
    isp fault may hide a committed write, so those stay open for recovery."""
    return isinstance(exc, (TopPermanentError, TopCallLimitError)) or not hasattr(exc, "method")


def settle_interrupted_writes(store: StateStore, client_for: Callable[[str], Caller]) -> list[str]:
    """Writes journaled as sent but never answered (a crash, a lost response): ask TOP, through
    the kind's recover(), whether each took effect, and record the truth before planning again.
    Never re-sends anything itself: the next plan sends what is still missing."""
    messages = []
    for entry in store.journal(status="sent"):
        if entry.method == STATE_ONLY:
            store.journal_failed(entry.id, "interrupted before the state update; the next plan redoes it")
            continue
        messages.append(_settle(entry, store, client_for(entry.key.shop)))
    return messages


def _settle(entry: JournalEntry, store: StateStore, client: Caller) -> str:
    kind = KINDS[entry.key.kind]
    answer = kind.recover(client, entry.method, entry.params)  # PlanError when TOP cannot tell
    if answer is None:
        store.journal_failed(entry.id, "interrupted; TOP shows it did not take effect")
        return f"{entry.key}: {entry.method} was interrupted and did not take effect; it will be planned again"
    call = call_from_data(entry.call) if entry.call else Call(entry.method, entry.params)
    store.journal_answered(entry.id, entry.key, answer, kind.effects(call, answer), _bindings(call, answer))
    return f"{entry.key}: {entry.method} was interrupted but had taken effect on TOP; recorded"


def _bindings(call: Call, answer: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _pick(answer, path, call.method) for name, path in call.binds.items()}


def resolve(value: Any, bound: Mapping[str, Any]) -> Any:
    """Replace every Ref with the value an earlier call of the plan returned."""
    if isinstance(value, Ref):
        if value.name not in bound:
            raise ApplyError(f"internal error: {value.name} is used before a call returned it")
        return bound[value.name]
    if isinstance(value, Mapping):
        return {key: resolve(item, bound) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [resolve(item, bound) for item in value]
    return value


def _pick(answer: Mapping[str, Any], path: str, method: str) -> Any:
    value: Any = answer
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise ApplyError(f"{method}: the answer has no {path}; cannot continue this change")
        value = value[part]
    return value
