"""Build a plan: normalise manifests, read live state per shop, diff, order the changes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from reconciler.errors import ManifestError, Problem
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, NormaliseContext
from reconciler.manifest import ManifestSet
from reconciler.model import Action, Change, Link, Plan, Resource, ResourceKey
from reconciler.state import StateStore

log = logging.getLogger(__name__)

# Deletes go first: they make room under caps (50 valid coupons) and free out_act_ids.
_ORDER = {Action.DELETE: 0, Action.REPLACE: 1, Action.CREATE: 2, Action.UPDATE: 3}


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
    read_calls = 0
    for shop in shops:
        caller = CountingCaller(client_for(shop))
        shop_changes, shop_warnings = _plan_shop(shop, desired_by_key, store.links(shop), caller, options)
        changes.extend(shop_changes)
        warnings.extend(shop_warnings)
        read_calls += caller.count
    changes.sort(key=lambda change: (change.key.shop, _ORDER[change.action], change.key.kind, change.key.name))
    return Plan(changes=tuple(changes), warnings=tuple(warnings), read_calls=read_calls)


def _plan_shop(
    shop: str,
    desired_by_key: Mapping[ResourceKey, Resource],
    links: Iterable[Link],
    caller: Caller,
    options: PlanOptions,
) -> tuple[list[Change], list[str]]:
    links_by_key = {link.key: link for link in links}
    changes: list[Change] = []
    warnings: list[str] = []
    for kind_name, kind in sorted(KINDS.items()):
        kind_links = [link for key, link in links_by_key.items() if key.kind == kind_name]
        live_by_name = kind.read_live(caller, kind_links)
        keys = {k for k in desired_by_key if k.shop == shop and k.kind == kind_name} | {
            link.key for link in kind_links
        }
        for key in sorted(keys):
            desired = desired_by_key.get(key)
            link = links_by_key.get(key)
            if desired is None and not options.prune:
                warnings.append(f"{key}: would delete (its manifest was removed) — prune is off")
                continue
            change = kind.plan_change(desired, link, live_by_name.get(key.name))
            if change is not None:
                changes.append(change)
    return changes, warnings
