"""Checks that stop a plan before anything is written: octoDNS-style thresholds on the share of
managed objects a plan updates or deletes, and Terraform's prevent_destroy."""

from __future__ import annotations

from collections.abc import Mapping

from reconciler.i18n import N_, _
from reconciler.model import Action, Plan, Resource, ResourceKey
from reconciler.settings import SafetySettings


# Translators: the verbs of the update/delete threshold message ("the plan would delete 5 of 12 ...")
_UPDATE, _DELETE = N_("update"), N_("delete")

# The safety group of the settings root (reconciler/settings.py), under the name the engine has
# always used for it.
SafetyOptions = SafetySettings


def prevent_destroy_violations(plan: Plan, desired: Mapping[ResourceKey, Resource]) -> list[str]:
    """A replace or delete of a resource marked prevent_destroy. Not overridable by --force:
    like Terraform, the flag has to be removed from the manifest first."""
    problems = []
    for change in plan.changes:
        resource = desired.get(change.key)
        if change.action in (Action.DELETE, Action.REPLACE) and resource and resource.prevent_destroy:
            verb = _("delete") if change.action is Action.DELETE else _("replace")
            problems.append(_(
                "{key} has metadata.prevent_destroy: true but the plan would {action} it ({reason}); remove "
                "prevent_destroy from {source} if that is intended"
            ).format(key=change.key, action=verb, reason=change.reason, source=resource.source or _("its manifest")))
    return problems


def threshold_violations(plan: Plan, options: SafetyOptions) -> list[str]:
    """Shops where the plan changes too large a share of what is managed. Empty with --force."""
    if options.force:
        return []
    problems = []
    for shop, managed in sorted(plan.managed_counts.items()):
        if managed < options.min_objects:
            continue
        changes = [c for c in plan.changes if c.key.shop == shop]
        updates = sum(1 for c in changes if c.action in (Action.UPDATE, Action.REPLACE))
        deletes = sum(1 for c in changes if c.action is Action.DELETE and c.calls)
        for what, count, limit in ((_UPDATE, updates, options.update_threshold), (_DELETE, deletes, options.delete_threshold)):
            if count / managed > limit:
                problems.append(_(
                    "shop {shop}: the plan would {action} {count} of {managed} managed objects ({share:.0%}, above the "
                    "{limit:.0%} threshold); check the manifests, then apply with --force if this is intended"
                ).format(shop=shop, action=_(what), count=count, managed=managed, share=count / managed, limit=limit))
    return problems
