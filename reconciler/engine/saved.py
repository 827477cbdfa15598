"""Saved plans (`plan --out`, `apply PLAN_FILE`) and plan checksums (`apply --checksum`).

A saved plan holds the exact calls, the desired resources and options it was computed from, and
a fingerprint of every live object and state entry it read. Apply re-reads the same objects and
refuses the plan if any of them moved; otherwise it sends the saved calls, recomputing nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from reconciler.engine.codec import (
    FORMAT_VERSION,
    change_to_data,
    dumps,
    loads,
    plan_from_data,
    plan_to_data,
    resource_from_data,
    resource_to_data,
)
from reconciler.errors import PlanError
from reconciler.i18n import _
from reconciler.model import Change, Plan, Resource
from reconciler.settings import Scope, ShopConnection

SAVED_PLAN_KIND = "campaign-reconciler-plan"


@dataclass(frozen=True)
class SavedPlan:
    plan: Plan
    desired: tuple[Resource, ...]
    now: datetime
    scope: Scope  # --target and --prune of the plan
    shops: Mapping[str, ShopConnection]  # how to reach each shop (non-secret), so no manifests are needed

    @property
    def checksum(self) -> str:
        return plan_checksum(self.plan)


def plan_checksum(plan: Plan) -> str:
    """A digest of what the plan would do (the changes and their exact calls), not of how it was
    read: the same checksum means the same calls in the same order."""
    # Hashed change by change: the digest of the JSON list `[change,change,...]` without building
    # it, which for a plan from empty of a big shop (200,000 calls) would be hundreds of MB.
    digest = hashlib.sha256(b"[")
    for index, change in enumerate(plan.changes):
        if index:
            digest.update(b",")
        digest.update(dumps(change_doing(change)).encode("utf-8"))
    digest.update(b"]")
    return "sha256:" + digest.hexdigest()


# The words that explain a change are in the reader's language (`--lang`, LANG; issue 21.3): they
# say what the calls do, they are not what is done, so neither the checksum nor the comparison
# with a reviewed plan covers them. A plan reviewed in Chinese is applied by an English CI job.
EXPLANATION_FIELDS = ("reason", "details")


def change_doing(change: Change) -> dict[str, Any]:
    """A change as JSON data without its words: address, action, source, calls, state effects."""
    data = change_to_data(change)
    for name in EXPLANATION_FIELDS:
        data.pop(name, None)
    return data


def write_saved_plan(path: str, saved: SavedPlan) -> None:
    data = {
        "kind": SAVED_PLAN_KIND,
        "format_version": FORMAT_VERSION,
        "checksum": saved.checksum,
        "now": saved.now.isoformat(),
        "prune": saved.scope.prune,
        "targets": list(saved.scope.texts()),
        # --shop/--shard: the shops planned, so the apply reads, settles and locks only those.
        **({"scope_shops": sorted(saved.shops)} if saved.scope.shop_limited else {}),
        "shops": {name: connection.to_data() for name, connection in saved.shops.items()},
        "desired": [resource_to_data(r) for r in saved.desired],
        "plan": plan_to_data(saved.plan),
    }
    Path(path).write_text(dumps(data, indent=2) + "\n", encoding="utf-8")


def read_saved_plan(path: str) -> SavedPlan:
    try:
        data = loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PlanError(_("cannot read plan file {path}: {error}").format(path=path, error=exc)) from None
    if not isinstance(data, dict) or data.get("kind") != SAVED_PLAN_KIND:
        raise PlanError(_("{path} is not a plan file written by `reconciler plan --out`").format(path=path))
    if data.get("format_version") != FORMAT_VERSION:
        raise PlanError(_("{path} has plan format {found}; this reconciler reads {expected}").format(
            path=path, found=data.get("format_version"), expected=FORMAT_VERSION))
    saved = SavedPlan(
        plan=plan_from_data(data["plan"]),
        desired=tuple(resource_from_data(r) for r in data["desired"]),
        now=datetime.fromisoformat(data["now"]),
        scope=_scope(data),
        shops={name: ShopConnection.from_data(name, shop) for name, shop in (data.get("shops") or {}).items()},
    )
    if saved.checksum != data.get("checksum"):
        raise PlanError(_("{path} was edited after it was written (its checksum does not match its calls)").format(path=path))
    return saved


def _scope(data: dict[str, Any]) -> Scope:
    scope = Scope.parse(data.get("targets") or (), prune=bool(data["prune"]))
    if "scope_shops" in data:  # planned with --shop or --shard: exactly those shops, maybe none
        scope = replace(scope, shops=frozenset(data["scope_shops"]))
    return scope


def stale_objects(saved: Plan, fresh: Plan) -> list[str]:
    """Addresses whose live object or state entry differs between the two reads, in words."""
    moved = []
    for address in sorted(set(saved.fingerprints) | set(fresh.fingerprints)):
        before, after = saved.fingerprints.get(address), fresh.fingerprints.get(address)
        if before == after:
            continue
        if before is None:
            moved.append(_("{address}: appeared since the plan was made").format(address=address))
        elif after is None:
            moved.append(_("{address}: disappeared since the plan was made").format(address=address))
        else:
            moved.append(_("{address}: changed since the plan was made").format(address=address))
    return moved


def plan_difference(reviewed: Plan, current: Plan) -> list[str]:
    """How two plans differ, change by change, for a refused `apply --checksum`."""
    def by_key(plan: Plan) -> dict[str, str]:
        return {str(c.key): dumps(change_doing(c)) for c in plan.changes}

    old, new = by_key(reviewed), by_key(current)
    lines = []
    for key in sorted(set(old) | set(new)):
        if key not in new:
            lines.append("- " + _("{address}: was in the reviewed plan, is not planned now").format(address=key))
        elif key not in old:
            lines.append("+ " + _("{address}: planned now, was not in the reviewed plan").format(address=key))
        elif old[key] != new[key]:
            lines.append("~ " + _("{address}: planned differently from the reviewed plan").format(address=key))
    return lines
