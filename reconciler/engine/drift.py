"""Drift: what changed on TOP that nobody planned (edits in the seller console, deletions).

After every apply the state store keeps, per managed object, the desired resource it converged
to (its "applied spec"). Drift is a plan computed with those applied specs as the desired input:
the plan machinery then shows exactly where TOP no longer matches what was applied, and nothing
of what changed in git or with time since (those are in the normal plan, not drift). Each kind's
own diff does the comparing, so a new kind gets drift detection for free.

Objects whose applied spec is unknown (applied before this was recorded, or imported) are listed
as not checked; the next apply records them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from reconciler.engine.codec import FORMAT_VERSION, resource_from_data, resource_to_data
from reconciler.engine.plan import PlanOptions, make_plan
from reconciler.i18n import N_, _
from reconciler.kinds.base import Caller
from reconciler.kinds.wording import is_on_top, item_added, item_line, item_removed
from reconciler.model import Change, Plan, Resource, ResourceKey
from reconciler.settings import EVERYTHING, Scope
from reconciler.state import StateStore


@dataclass(frozen=True)
class DriftReport:
    drift: tuple[Change, ...]  # what the next apply would do to put each drifted object back
    checked: int  # managed objects compared with TOP
    not_checked: tuple[ResourceKey, ...]  # managed, but no applied spec recorded yet
    plan: Plan  # the drift plan itself (read calls, unmanaged objects, live counts)

    @property
    def found(self) -> bool:
        return bool(self.drift)

    @property
    def shops(self) -> list[str]:
        return sorted({change.key.shop for change in self.drift})


def find_drift(
    store: StateStore, client_for: Callable[[str], Caller], now: datetime, scope: Scope = EVERYTHING,
) -> DriftReport:
    """Compare TOP with what was last applied, for every managed object in scope (--shop, --shard)
    that has an applied spec."""
    linked = {link.key for link in store.links() if scope.covers(link.key)}
    applied = {key: data for key, data in store.applied_specs().items() if key in linked}
    not_checked = tuple(sorted(linked - applied.keys()))
    if not applied:
        return DriftReport(drift=(), checked=0, not_checked=not_checked, plan=Plan(changes=()))
    baseline = [resource_from_data(data) for data in applied.values()]
    # Limiting the plan to the applied keys keeps objects without a baseline out of it.
    plan = make_plan(baseline, store, client_for, PlanOptions(scope=Scope.of_keys(applied), now=now))
    return DriftReport(drift=plan.changes, checked=len(applied), not_checked=not_checked, plan=plan)


def record_applied(
    store: StateStore, desired: Sequence[Resource], scope: Scope, unsettled: Collection[ResourceKey]
) -> int:
    """After an apply: every desired resource in the run's scope that TOP now matches becomes the
    baseline drift is measured against. `unsettled` are keys whose change failed or was not tried:
    their old baseline stays. Returns how many were recorded."""
    recorded = 0
    for resource in desired:
        if resource.key in unsettled or not scope.covers(resource.key):
            continue
        if store.get(resource.key) is None:
            continue  # not on TOP (yet): nothing to compare with
        store.put_applied_spec(resource.key, resource_to_data(resource))
        recorded += 1
    return recorded


# ---- renderings ---------------------------------------------------------------------------

_GMT8 = " (GMT+8)"


def on_top(details: Sequence[str]) -> list[str]:
    """A drift change's lines say what the next apply would do (TOP → what was applied). Turned
    around, they say what changed on TOP: "- item 99" (apply removes it) is "+ item 99" (added on
    TOP), "price: 8折 → 9折" (apply sets 9折 back) is "price: 9折 → 8折". Lines a kind already
    words from TOP's side ("on TOP: …", "on TOP, not as applied: …") and lines of another form stay
    as they are."""
    return [_turned(detail) for detail in details]


def _turned(detail: str) -> str:
    if is_on_top(detail):  # a kind's own words for TOP's side: already in TOP's direction
        return detail
    range_line = item_line(detail)  # in the run's language (kinds/wording.py)
    if range_line is not None:
        sign, item = range_line
        if sign == "-":
            return _("{line} (added on TOP)").format(line=item_added(item))
        return _("{line} (removed on TOP)").format(line=item_removed(item))
    field, colon, values = detail.partition(": ")
    if not colon or values.count(" → ") != 1:
        return detail
    suffix = _GMT8 if values.endswith(_GMT8) else ""
    before, after = values.removesuffix(suffix).split(" → ")
    return f"{field}: {after.removesuffix(suffix)} → {before}{suffix}"


# Translators: what the next apply would do to a drifted object ("the next apply would update it ...")
_ACTION_WORDS = {"create": N_("create"), "update": N_("update"), "replace": N_("replace"), "delete": N_("delete")}


def render_drift_text(report: DriftReport) -> str:
    lines: list[str] = []
    if report.found:
        lines.append(_("Drift: {count} managed object(s) on TOP differ from what was last applied (changed outside "
                       "git, e.g. in the seller console):").format(count=len(report.drift)))
        for change in report.drift:
            where = f"  ({change.source})" if change.source else ""
            restore = _("the next apply would {action} it to restore what was applied").format(
                action=_(_ACTION_WORDS[change.action.value]))
            lines.append(f"  {change.action.symbol} {change.key}{where}: {restore}")
            if change.reason:
                lines.append("      " + _("why: {reason}").format(reason=change.reason))
            lines.extend(f"      {detail}" for detail in on_top(change.details))
        lines.append("")
    for key in report.not_checked:
        lines.append(_("not checked: {key} has no applied spec recorded yet; the next apply records it").format(key=key))
    for unmanaged in report.plan.unmanaged:
        lines.append(_("unmanaged (not drift, left alone): {object}").format(object=unmanaged))
    lines.append(summary_line(report))
    return "\n".join(lines)


def summary_line(report: DriftReport) -> str:
    if report.found:
        return _("Drift in {count} of {checked} checked object(s) ({reads} read calls, 0 writes).").format(
            count=len(report.drift), checked=report.checked, reads=report.plan.read_calls)
    return _("No drift: TOP matches what was last applied for {checked} object(s) ({reads} read calls, 0 writes).").format(
        checked=report.checked, reads=report.plan.read_calls)


def drift_to_data(report: DriftReport) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "drift": [
            {
                "address": str(change.key),
                "shop": change.key.shop,
                "kind": change.key.kind,
                "name": change.key.name,
                "action": change.action.value,
                "reason": change.reason,
                "details": on_top(change.details),
                "restore_details": list(change.details),
                "source": str(change.source) if change.source else None,
            }
            for change in report.drift
        ],
        "checked": report.checked,
        "not_checked": [str(key) for key in report.not_checked],
        "unmanaged": list(report.plan.unmanaged),
        "read_calls": report.plan.read_calls,
    }
