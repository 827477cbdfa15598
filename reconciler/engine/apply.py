"""Apply a plan: send exactly its calls, in order, journaling each before and after it is sent."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import ApplyError, ReconcilerError
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller
from reconciler.model import Call, Change, Plan, Ref
from reconciler.state import StateStore

log = logging.getLogger(__name__)


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


def apply_plan(
    plan: Plan,
    store: StateStore,
    client_for: Callable[[str], Caller],
    *,
    on_call: Callable[[Change, Call], None] | None = None,
) -> ApplyReport:
    """Stops at the first failed change: later changes may depend on it (a coupon before its grant)."""
    report = ApplyReport(run_id=uuid.uuid4().hex)
    bound: dict[str, Any] = {}  # plan-wide: a grant may use the id its coupon's create returned
    for index, change in enumerate(plan.changes):
        try:
            _apply_change(change, store, client_for(change.key.shop), report, bound, on_call)
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
    on_call: Callable[[Change, Call], None] | None,
) -> None:
    kind = KINDS[change.key.kind]
    for call in change.calls:
        params = resolve(call.params, bound)
        entry_id = store.journal_sent(report.run_id, change.key, call.method, params)
        if on_call is not None:
            on_call(change, call)
        try:
            answer = client.call(call.method, params)
            kind.check_response(call.method, answer)
        except ReconcilerError as exc:
            store.journal_failed(entry_id, str(exc))
            raise
        report.calls_sent += 1
        for name, path in call.binds.items():
            bound[name] = _pick(answer, path, call.method)
        store.journal_answered(entry_id, change.key, answer, kind.effects(call, answer), bound)
    if change.effects:
        _apply_state_only(change, store, report.run_id, bound)


def _apply_state_only(change: Change, store: StateStore, run_id: str, bound: Mapping[str, Any]) -> None:
    entry_id = store.journal_sent(run_id, change.key, "(state only)", {})
    store.journal_answered(entry_id, change.key, {}, change.effects, bound)


def resolve(value: Any, bound: Mapping[str, Any]) -> Any:
    """Replace every Ref with the value an earlier call of the same change returned."""
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
