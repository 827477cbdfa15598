"""Apply a plan: send exactly its calls, in order, journaling each before and after it is sent,
and first settle any write a previous apply sent without recording its answer."""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, cast

from reconciler.engine.codec import call_from_data, call_to_data
from reconciler.errors import (
    ApplyError,
    PlanError,
    ReconcilerError,
    TopAmbiguousWriteError,
    TopCallLimitError,
    TopNotSentError,
    TopPermanentError,
)
from reconciler.i18n import _
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, Kind
from reconciler.model import Action, Call, Change, Plan, Ref
from reconciler.state import JournalEntry, StateStore

log = logging.getLogger(__name__)

# A write whose answer was lost is sent again only after TOP showed it did not take effect;
# each new send gets the same look first, up to this many times.
LOST_ANSWER_RESENDS = 3

STATE_ONLY = "(state only)"


@dataclass
class ApplyReport:
    run_id: str
    done: list[Change] = field(default_factory=list)
    failed: list[tuple[Change, ReconcilerError]] = field(default_factory=list)  # the error as raised, for hints
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
    parallelism: int = 1,
) -> ApplyReport:
    """Send the plan's calls. Changes of one step (same shop, same kind, deletes apart from the
    rest) do not depend on each other and go out up to `parallelism` at a time, so a QPS budget
    can be used although each call waits for TOP's latency; the calls inside one change stay in
    order (an activity before its items, a remove before the add of the same sku). A step starts
    only when the previous one is finished, so a coupon exists before its grant and deletes have
    made room before creates. After a failure no new change starts; the ones under way finish.
    The state store already holds every call that succeeded, whatever happens after."""
    report = ApplyReport(run_id=uuid.uuid4().hex)
    serial_store = cast(StateStore, _SerialStore(store))  # a proxy with the store's methods
    run = _Run(report, serial_store, client_for, _SerialListener(listener or ApplyListener()))
    for step in _steps(plan.changes):
        if run.stopped:
            report.not_tried.extend(step)
            continue
        if parallelism <= 1 or len(step) == 1:
            for change in step:
                run.apply(change)
        else:
            with ThreadPoolExecutor(max_workers=min(parallelism, len(step)), thread_name_prefix="apply") as pool:
                list(pool.map(run.apply, step))
    report.done.sort(key=plan.changes.index)
    report.not_tried.sort(key=plan.changes.index)
    return report


def _steps(changes: Sequence[Change]) -> list[list[Change]]:
    """Consecutive changes that may run together: plan order already puts deletes first and
    kinds in dependency order, so a step is a run of equal (shop, delete?, kind)."""
    steps: list[list[Change]] = []
    previous: tuple[str, bool, str] | None = None
    for change in changes:
        marker = (change.key.shop, change.action is Action.DELETE, change.key.kind)
        if marker != previous:
            steps.append([])
            previous = marker
        steps[-1].append(change)
    return steps


class _Run:
    """One apply's shared progress; `apply` runs on worker threads."""

    def __init__(
        self, report: ApplyReport, store: StateStore, client_for: Callable[[str], Caller], listener: ApplyListener
    ) -> None:
        self.report = report
        self.store = store
        self.client_for = client_for
        self.listener = listener
        self.bound: dict[str, Any] = {}  # plan-wide: a grant may use the id its coupon's create returned
        self.lock = threading.Lock()
        self.stopped = False

    def apply(self, change: Change) -> None:
        with self.lock:
            if self.stopped:
                self.report.not_tried.append(change)
                return
        try:
            _apply_change(change, self.store, self.client_for(change.key.shop), self, self.listener)
        except ReconcilerError as exc:
            with self.lock:
                self.stopped = True
                self.report.failed.append((change, exc))
            return
        with self.lock:
            self.report.done.append(change)

    def count_call(self) -> None:
        with self.lock:
            self.report.calls_sent += 1


class _SerialStore:
    """The store, one call at a time: its connection is shared by the worker threads."""

    def __init__(self, store: StateStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._store, name)
        if not callable(attribute):
            return attribute

        def serialised(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return serialised


class _SerialListener(ApplyListener):
    def __init__(self, inner: ApplyListener) -> None:
        self._inner = inner
        self._lock = threading.Lock()

    def call_started(self, change: Change, call: Call) -> None:
        with self._lock:
            self._inner.call_started(change, call)

    def call_finished(self, change: Change, call: Call, error: str | None) -> None:
        with self._lock:
            self._inner.call_finished(change, call, error)


def _apply_change(change: Change, store: Any, client: Caller, run: _Run, listener: ApplyListener) -> None:
    kind = KINDS[change.key.kind]
    bound = run.bound
    for call in change.calls:
        params = resolve(call.params, bound)
        # Journaled with every Ref already known filled in, so a later settle or resolve of this
        # entry alone can record its effects (a grant's link names the coupon created before it).
        journaled = _fill_known_refs(call_to_data(call), bound)
        entry_id = store.journal_sent(run.report.run_id, change.key, call.method, params, journaled)
        listener.call_started(change, call)
        try:
            answer = _send(kind, client, call.method, params)
        except ReconcilerError as exc:
            if _certainly_not_done(exc):
                store.journal_failed(entry_id, str(exc))
            # Otherwise the entry stays "sent": the next apply asks TOP whether it took effect.
            listener.call_finished(change, call, str(exc))
            raise
        run.count_call()
        with run.lock:
            bound.update(_bindings(call, answer))
        store.journal_answered(entry_id, change.key, answer, kind.effects(call, answer), bound)
        listener.call_finished(change, call, None)
    if change.effects:
        entry_id = store.journal_sent(run.report.run_id, change.key, STATE_ONLY, {}, {})
        store.journal_answered(entry_id, change.key, {}, change.effects, bound)


def _send(kind: Kind, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any]:
    """One write. When TOP may have run it but the answer was lost (TopAmbiguousWriteError), look
    on TOP first (the kind's recover()): found → that is the answer; certainly not done → send it
    again; TOP cannot tell → recover() raises PlanError and the apply stops with its advice."""
    for resends in range(LOST_ANSWER_RESENDS + 1):
        try:
            answer = client.call(method, params)
        except TopAmbiguousWriteError as lost:
            if resends == LOST_ANSWER_RESENDS:
                raise  # the entry stays "sent": the next apply settles it
            log.warning("%s; looking on TOP whether it took effect", lost)
            found = kind.recover(client, method, params)
            if found is not None:
                log.warning("%s had taken effect on TOP; recorded without sending it again", method)
                return found
            log.warning("%s did not take effect on TOP; sending it again", method)
            continue
        kind.check_response(method, answer)
        return answer
    raise AssertionError("unreachable")


def _certainly_not_done(exc: ReconcilerError) -> bool:
    """TOP refused the call (business error, call limit) or it never left: nothing happened.
    Anything else (a lost answer, an isp fault, a recover() that could not tell, an answer we
    could not read) may hide a committed write, so the entry stays open: the next apply settles
    it, and where TOP cannot tell, `reconciler journal resolve` records what a person checked."""
    return isinstance(exc, (TopPermanentError, TopCallLimitError, TopNotSentError))


def settle_interrupted_writes(
    store: StateStore, client_for: Callable[[str], Caller], in_scope: Callable[[str], bool] = lambda shop: True,
) -> list[str]:
    """Writes journaled as sent but never answered (a crash, a lost response): ask TOP, through
    the kind's recover(), whether each took effect, and record the truth before planning again.
    Never re-sends anything itself: the next plan sends what is still missing. Only the shops
    `in_scope` (--shop, --shard): another shard's writes are its own apply's to settle, under its lock."""
    messages = []
    for entry in store.journal(status="sent"):
        if not in_scope(entry.key.shop):
            continue
        if entry.method == STATE_ONLY:
            store.journal_failed(entry.id, "interrupted before the state update; the next plan redoes it")
            continue
        messages.append(_settle(entry, store, client_for(entry.key.shop)))
    return messages


def _settle(entry: JournalEntry, store: StateStore, client: Caller) -> str:
    kind = KINDS[entry.key.kind]
    try:
        answer = kind.recover(client, entry.method, entry.params)
    except PlanError as cannot_tell:
        raise PlanError(
            f"journal entry {entry.id} ({entry.key}: {entry.method}) was sent but its answer never came, "
            f"and TOP cannot tell whether it took effect: {cannot_tell}\n"
            f"Check the shop, then record what you found: `reconciler journal resolve {entry.id} --applied` "
            f"(add --answer '{{...}}' with the id TOP gave, for a create) or `reconciler journal resolve "
            f"{entry.id} --not-applied`; for a create, `reconciler import` of the object also resolves it. "
            "Nothing is sent until then."
        ) from None
    if answer is None:
        store.journal_failed(entry.id, "interrupted; TOP shows it did not take effect")
        return f"{entry.key}: {entry.method} was interrupted and did not take effect; it will be planned again"
    call = call_from_data(entry.call) if entry.call else Call(entry.method, entry.params)
    store.journal_answered(entry.id, entry.key, answer, kind.effects(call, answer), _bindings(call, answer))
    return f"{entry.key}: {entry.method} was interrupted but had taken effect on TOP; recorded"


def resolve_by_hand(store: StateStore, entry_id: int, *, applied: bool, answer: Mapping[str, Any] | None) -> str:
    """Close a journal entry nobody could settle automatically, with what a person found on TOP."""
    entry = next((e for e in store.journal(status="sent") if e.id == entry_id), None)
    if entry is None:
        raise ApplyError(_("journal entry {id} is not an open write (see `reconciler journal list --open`)").format(id=entry_id))
    if not applied:
        store.journal_failed(entry.id, "resolved by hand: did not take effect on TOP")
        return f"entry {entry.id}: recorded as not applied; the next plan sends it again if it is still needed"
    call = call_from_data(entry.call) if entry.call else Call(entry.method, entry.params)
    answer = dict(answer or {})
    bound = _bindings(call, answer)  # ApplyError naming the missing field when a create's id is not given
    store.journal_answered(entry.id, entry.key, answer, KINDS[entry.key.kind].effects(call, answer), bound)
    return f"entry {entry.id}: recorded as applied; the state store now reflects it"


def _fill_known_refs(data: Any, bound: Mapping[str, Any]) -> Any:
    if isinstance(data, Mapping):
        if set(data) == {"$ref"} and data["$ref"] in bound:
            return bound[data["$ref"]]
        return {key: _fill_known_refs(value, bound) for key, value in data.items()}
    if isinstance(data, list):
        return [_fill_known_refs(value, bound) for value in data]
    return data


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
            raise ApplyError(_("{method}: the answer has no {path}; cannot continue this change").format(method=method, path=path))
        value = value[part]
    return value
