"""Build a plan: normalise manifests, read live state per shop, diff, order the changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from graphlib import TopologicalSorter
from typing import Any

from reconciler.errors import ManifestError, PlanError, Problem
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, NormaliseContext, PlanContext
from reconciler.manifest import ManifestSet
from reconciler.model import Action, Change, Plan, Resource
from reconciler.state import StateStore

log = logging.getLogger(__name__)

_ORDER = {Action.REPLACE: 0, Action.CREATE: 1, Action.UPDATE: 2}


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    now: datetime = field(default_factory=lambda: datetime.now(timezone.utc))


class CountingCaller:
    """Counts the calls a plan makes, so the plan can say what reading the shop cost."""

    def __init__(self, inner: Caller) -> None:
        self.inner = inner
        self.count = 0

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        self.count += 1
        return self.inner.call(method, params)


def desired_resources(manifests: ManifestSet, now: datetime) -> list[Resource]:
    """Every manifest normalised by its kind; all problems of all documents raised together."""
    problems: list[Problem] = []
    resources: list[Resource] = []
    ctx = NormaliseContext(now=now)
    for doc in manifests.documents:
        try:
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
    desired_by_key = {resource.key: resource for resource in desired}
    shops = sorted({key.shop for key in desired_by_key} | {link.key.shop for link in store.links()})
    changes: list[Change] = []
    warnings: list[str] = []
    unmanaged: list[str] = []
    errors: list[str] = []
    read_calls = 0
    for shop in shops:
        caller = CountingCaller(client_for(shop))
        ctx = PlanContext(
            shop=shop,
            now=options.now,
            desired={key: r for key, r in desired_by_key.items() if key.shop == shop},
            links={link.key: link for link in store.links(shop)},
        )
        shop_plan = _plan_shop(ctx, caller, options)
        changes.extend(shop_plan.changes)
        warnings.extend(shop_plan.warnings)
        unmanaged.extend(shop_plan.unmanaged)
        errors.extend(shop_plan.errors)
        read_calls += caller.count
    if errors:
        raise PlanError("the plan breaks rules TOP enforces; nothing was sent:\n  " + "\n  ".join(errors))
    return Plan(
        changes=tuple(order_changes(changes)),
        unmanaged=tuple(unmanaged),
        warnings=tuple(warnings),
        read_calls=read_calls,
    )


@dataclass
class _ShopPlan:
    changes: list[Change] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


def _plan_shop(ctx: PlanContext, caller: Caller, options: PlanOptions) -> _ShopPlan:
    result = _ShopPlan()
    for kind_name in kinds_in_dependency_order():
        kind = KINDS[kind_name]
        if not ctx.desired_of(kind_name) and not ctx.links_of(kind_name) and not kind.always_read:
            continue  # nothing declared or managed: reading would cost calls and change nothing
        live = kind.read_live(caller, ctx)
        result.unmanaged.extend(f"{ctx.shop}/{kind_name}: {what}" for what in live.unmanaged)
        keys = {r.key for r in ctx.desired_of(kind_name)} | {link.key for link in ctx.links_of(kind_name)}
        kind_changes: list[Change] = []
        for key in sorted(keys):
            desired = ctx.desired.get(key)
            link = ctx.links.get(key)
            if desired is None and not options.prune:
                result.warnings.append(f"{key}: would delete (its manifest was removed) — prune is off")
                continue
            change = kind.plan_change(desired, link, live.by_name.get(key.name), ctx)
            if change is not None:
                kind_changes.append(change)
                ctx.planned[key] = change
        result.errors.extend(f"{ctx.shop}/{kind_name}: {e}" for e in kind.check_plan(kind_changes, live, ctx))
        result.changes.extend(kind_changes)
    return result


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
