"""Build a plan: normalise manifests, read live state per shop, diff, order the changes."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from graphlib import TopologicalSorter
from typing import Any

import simplejson

from reconciler.engine.reads import KindReads, reads_so_far
from reconciler.errors import ManifestError, PlanError, Problem
from reconciler.i18n import _
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, LiveState, NormaliseContext, Phase, PlanContext
from reconciler.manifest import ManifestSet
from reconciler.model import Action, Change, Link, Plan, Resource, ResourceKey
from reconciler.settings import Scope
from reconciler.state import StateStore
from reconciler.top.settings import DEFAULT_CONCURRENCY

log = logging.getLogger(__name__)

_ORDER = {Action.REPLACE: 0, Action.CREATE: 1, Action.UPDATE: 2}


@dataclass(frozen=True)
class PlanOptions:
    scope: Scope = Scope()  # what the run may touch (--target, --prune), parsed once by the CLI
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    concurrency: int = DEFAULT_CONCURRENCY  # calls in flight for one kind's reads (ClientSettings.workers)

    @property
    def prune(self) -> bool:
        return self.scope.prune


@dataclass(frozen=True)
class PlanDraft:
    """What the reads and the diff found, before the guardrails had their say. The driver
    (engine/reconcile.py) builds the Plan from it once, with the price check's warnings, notes
    and reads in it; make_plan builds it without."""

    changes: tuple[Change, ...]
    unmanaged: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    read_calls: int = 0
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    managed_counts: Mapping[str, int] = field(default_factory=dict)
    live_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    duplicates: Mapping[ResourceKey, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, plan: Plan, duplicates: Mapping[ResourceKey, tuple[str, ...]]) -> PlanDraft:
        """A saved plan as a draft again, with the duplicates found now (a saved plan keeps none)."""
        return cls(plan.changes, plan.unmanaged, plan.warnings, plan.notes, plan.read_calls, plan.fingerprints,
                   plan.managed_counts, plan.live_counts, duplicates)

    def plan(self, *, warnings: Sequence[str] = (), notes: Sequence[str] = (), read_calls: int = 0) -> Plan:
        return Plan(
            changes=self.changes,
            unmanaged=self.unmanaged,
            warnings=self.warnings + tuple(warnings),
            notes=self.notes + tuple(notes),
            read_calls=self.read_calls + read_calls,
            fingerprints=self.fingerprints,
            managed_counts=self.managed_counts,
            live_counts=self.live_counts,
            duplicates=self.duplicates,
        )


def desired_resources(manifests: ManifestSet, now: datetime) -> list[Resource]:
    """Every manifest normalised by its kind; all problems of all documents raised together."""
    problems: list[Problem] = []
    resources: list[Resource] = []
    ctx = NormaliseContext(now=now, shops=manifests.shops)
    for doc in manifests.documents:
        try:
            # Kind.normalise reads the common metadata (prevent_destroy, allow_below_floor) itself.
            resources.append(KINDS[doc.kind].normalise(doc, ctx))
        except ManifestError as exc:
            problems.extend(exc.problems)
    if problems:
        raise ManifestError(problems)
    return resources


def make_plan(
    desired: Sequence[Resource],
    store: StateStore,
    client_for: Callable[[str], Caller],
    options: PlanOptions,
) -> Plan:
    """Read what the plan needs from TOP and the store, diff, order: the plan without guardrails."""
    return draft_plan(desired, store, client_for, options).plan()


def draft_plan(
    desired: Sequence[Resource],
    store: StateStore,
    client_for: Callable[[str], Caller],
    options: PlanOptions,
    reads: KindReads | None = None,
    stored: Sequence[Link] | None = None,
) -> PlanDraft:
    """The plan without guardrails. `reads` may hold reads started earlier (engine/reads.py:
    before the manifests were loaded); the plan's reads are made through it, concurrently.
    `stored`: store.links() when the caller has read them already (a big shop's records are
    hundreds of MB decoded: read once a run, not once a step)."""
    if stored is None:
        stored = store.links()
    if reads is None:
        with KindReads(client_for, options.concurrency) as own:
            return _draft(desired, stored, client_for, options, own)
    return _draft(desired, stored, client_for, options, reads)


def _draft(
    desired: Sequence[Resource],
    stored: Sequence[Link],
    client_for: Callable[[str], Caller],
    options: PlanOptions,
    reads: KindReads,
) -> PlanDraft:
    scope = options.scope
    links = [link for link in stored if scope.covers(link.key)]
    desired_by_key = {r.key: r for r in desired if scope.covers(r.key)}
    if scope.targets and not desired_by_key and not links:
        raise PlanError(_("--target {targets} matches no manifest and no managed object").format(
            targets=", ".join(scope.texts())))
    shops = sorted({key.shop for key in desired_by_key} | {link.key.shop for link in links})
    untargeted = [link for link in stored if not scope.covers(link.key)]
    result = _ShopPlan()
    read_calls = 0
    contexts = [
        PlanContext(
            shop=shop,
            now=options.now,
            desired={key: r for key, r in desired_by_key.items() if key.shop == shop},
            links={link.key: link for link in links if link.key.shop == shop},
        )
        for shop in shops
    ]
    for ctx in contexts:  # every shop's reads start now, in the order they are planned
        for kind_name in _kinds_to_read(ctx):
            reads.start(kind_name, ctx)
    # The state entries' digests need no answer from TOP: worked out while the reads are on their
    # way, not after the last one (a big shop's pool records take ~0.5 s; issue 20.6).
    state_prints = {ctx.shop: {kind_name: _state_fingerprints(ctx, kind_name) for kind_name in _kinds_to_read(ctx)}
                    for ctx in contexts}
    for ctx in contexts:
        client = client_for(ctx.shop)
        reads_before = reads.reads_before(ctx.shop, client)
        shop_plan = _plan_shop(ctx, client, options, reads, state_prints.pop(ctx.shop))
        _not_targeted(shop_plan, [link for link in untargeted if link.key.shop == ctx.shop])
        result.merge(shop_plan)
        read_calls += reads_so_far(client) - reads_before
    if result.errors:
        raise PlanError(_("the plan breaks rules TOP enforces; nothing was sent:") + "\n  " + "\n  ".join(result.errors))
    return PlanDraft(
        changes=tuple(order_changes(result.changes)),
        unmanaged=tuple(result.unmanaged),
        warnings=tuple(result.warnings),
        notes=tuple(result.notes),
        read_calls=read_calls,
        fingerprints=dict(sorted(result.fingerprints.items())),
        managed_counts=dict(sorted(result.managed_counts.items())),
        live_counts=dict(sorted(result.live_counts.items())),
        duplicates=dict(sorted(result.duplicates.items())),
    )


def _not_targeted(shop_plan: "_ShopPlan", others: Sequence[Link]) -> None:
    """With --target, the shop's other managed objects are read like unmanaged ones (the kinds
    list what no state link of this run owns): name them as managed and not targeted instead, so
    nobody reads them as objects the reconciler does not own."""
    if not others:
        return
    ids: dict[str, set[str]] = {}  # "shop/Kind" (as unmanaged lines begin) → remote ids
    for link in others:
        ids.setdefault(f"{link.key.shop}/{link.key.kind}", set()).add(str(link.remote_id))

    def owned(line: str) -> bool:
        prefix, _sep, what = line.partition(": ")
        return bool(ids.get(prefix, set()) & set(re.findall(r"[0-9A-Za-z_-]+", what)))

    shop_plan.unmanaged = [line for line in shop_plan.unmanaged if not owned(line)]
    shop_plan.notes.extend(_("{address}: not targeted (managed; --target leaves it as it is this run)").format(address=link.key)
                           for link in sorted(others, key=lambda link: link.key))


@dataclass
class _ShopPlan:
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    fingerprints: dict[str, str] = field(default_factory=dict)
    managed_counts: dict[str, int] = field(default_factory=dict)
    live_counts: dict[str, dict[str, int]] = field(default_factory=dict)
    duplicates: dict[ResourceKey, tuple[str, ...]] = field(default_factory=dict)

    def merge(self, other: "_ShopPlan") -> None:
        self.changes.extend(other.changes)
        self.warnings.extend(other.warnings)
        self.notes.extend(other.notes)
        self.unmanaged.extend(other.unmanaged)
        self.errors.extend(other.errors)
        self.fingerprints.update(other.fingerprints)
        self.managed_counts.update(other.managed_counts)
        self.live_counts.update(other.live_counts)
        self.duplicates.update(other.duplicates)


def _kinds_to_read(ctx: PlanContext) -> list[str]:
    """The kinds read for ctx.shop, in dependency order: the ones declared or managed there, and
    those that list the shop anyway (always_read). Reading the others would cost calls and
    change nothing."""
    return [
        kind_name for kind_name in kinds_in_dependency_order()
        if ctx.desired_of(kind_name) or ctx.links_of(kind_name) or KINDS[kind_name].always_read
    ]


def _plan_shop(
    ctx: PlanContext, caller: Caller, options: PlanOptions, reads: KindReads, state_prints: Mapping[str, dict[str, str]],
) -> _ShopPlan:
    result = _ShopPlan()
    for kind_name in _kinds_to_read(ctx):
        kind = KINDS[kind_name]
        live = reads.live(kind_name, ctx)
        result.live_counts.setdefault(ctx.shop, {}).update(
            (fact, value) for fact, value in live.extra.items() if type(value) is int
        )
        result.unmanaged.extend(f"{ctx.shop}/{kind_name}: {what}" for what in live.unmanaged)
        result.fingerprints.update(_fingerprints(ctx, kind_name, live))
        result.fingerprints.update(state_prints[kind_name])
        keys = {r.key for r in ctx.desired_of(kind_name)} | {link.key for link in ctx.links_of(kind_name)}
        kind_changes: list[Change] = []
        for key in sorted(keys):
            desired = ctx.desired.get(key)
            link = ctx.links.get(key)
            result.notes.extend(_("{address}: {note}").format(address=key, note=line) for line in live.info.get(key.name, ()))
            if desired is None and not options.prune:
                result.warnings.append(_("{address}: would delete (its manifest was removed) — prune is off").format(address=key))
                continue
            if desired is not None and kind.phase(desired, ctx) is Phase.ENDED:
                # Time moved past the object while its manifest stayed: never a failure. One that
                # exists is the kind's to leave alone or stop; one that never did is not created.
                if link is None:
                    result.notes.append(_("{address}: ended before it was created: nothing to do").format(address=key))
                    continue
                change = kind.plan_ended(desired, link, live.by_name.get(key.name), ctx)
                if change is None:
                    result.notes.append(_("{address}: ended: left alone on TOP").format(address=key))
            else:
                change = kind.plan_change(desired, link, live.by_name.get(key.name), ctx)
            if change is not None:
                kind_changes.append(change)
                ctx.planned[key] = change
                if desired is not None and link is None and change.action is Action.CREATE:
                    same = kind.same_as_create(caller, desired, live)
                    if same:
                        result.duplicates[key] = tuple(same)
        result.errors.extend(f"{ctx.shop}/{kind_name}: {e}" for e in kind.check_plan(kind_changes, live, ctx))
        result.changes.extend(kind_changes)
    result.managed_counts[ctx.shop] = len(ctx.links)
    return result


def _fingerprints(ctx: PlanContext, kind_name: str, live: LiveState) -> dict[str, str]:
    """A digest of every live object the plan was computed from (and, with _state_fingerprints, of
    every state entry), so a saved plan can be refused when any of them moved before apply."""
    prints = {f"{ctx.shop}/{kind_name}/{name}": digest(obj) for name, obj in live.by_name.items()}
    prints[f"{ctx.shop}/{kind_name} (unmanaged)"] = digest(sorted(live.unmanaged))
    return prints


def _state_fingerprints(ctx: PlanContext, kind_name: str) -> dict[str, str]:
    """The digest of each state entry of the kind (with _fingerprints: what a saved plan checks)."""
    return {f"state {link.key}": digest({"remote_id": link.remote_id, "record": link.record})
            for link in ctx.links_of(kind_name)}


def digest(value: Any) -> str:
    canonical = simplejson.dumps(value, use_decimal=True, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def kinds_in_dependency_order() -> list[str]:
    """Kinds sorted so that every kind comes after the kinds it depends on."""
    graph = {name: set(kind.depends_on) for name, kind in KINDS.items()}
    return list(TopologicalSorter(graph).static_order())


def order_changes(changes: Sequence[Change]) -> list[Change]:
    """Deletes first, dependents before what they depend on, so caps have room and ids are free;
    then replaces, creates and updates, what is depended on first (a coupon before its grant)."""
    rank = {name: index for index, name in enumerate(kinds_in_dependency_order())}

    def sort_key(change: Change) -> tuple[Any, ...]:
        kind_rank = rank[change.key.kind]
        if change.action is Action.DELETE:
            return (change.key.shop, 0, -kind_rank, change.key.name)
        return (change.key.shop, 1, kind_rank, _ORDER[change.action], change.key.name)

    return sorted(changes, key=sort_key)
