"""ItemDiscount and FullDiscount → manifests (`reconciler export`): what `*.activity.get` and the
range read show (the same reads plan makes: promotionmisc.list_activities / read_activities), in
the manifest's words. Each kind module says how its fields become its spec (`exported`); this
module reads, and holds the pieces both families share (title, window, items)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from reconciler.i18n import _
from reconciler.kinds.base import Caller
from reconciler.kinds.exported import ExportError, Exported, iso_from_top
from reconciler.kinds.promotionmisc import ALL_ITEMS, MAX_RANGE_ITEMS, Family, list_activities, read_activities

TITLE = re.compile(r"^\S(.*\S)?$")  # the schemas' title: 1 to 32 characters, no space at either end
TITLE_MAX = 32


class PromotionMiscExport:
    """The export hooks of a promotionmisc Kind; the Kind implements `exported`."""

    kind: ClassVar[str]
    family: ClassVar[Family]

    def export_listed(self, client: Caller) -> list[Exported] | None:
        listed = list_activities(client, self.family)
        found = read_activities(client, self.family, sorted(int(i) for i in listed))
        return [self.exported(str(i), entry) for i, entry in sorted(found.items()) if entry is not None]

    def export_one(self, client: Caller, remote_id: str) -> Exported:
        if not remote_id.isdigit():
            raise ExportError(_("{id!r} is not an activity id (activity ids are numbers)").format(id=remote_id))
        entry = read_activities(client, self.family, [int(remote_id)])[int(remote_id)]
        if entry is None:
            raise ExportError(_("the shop has no {label} {id} on TOP").format(label=_(self.family.label), id=remote_id))
        return self.exported(remote_id, entry)

    def exported(self, remote_id: str, entry: Mapping[str, Any]) -> Exported:
        raise NotImplementedError


def common_spec(view: Mapping[str, Any], items: list[str], lost: list[str]) -> dict[str, Any]:
    """title, window and items of an activity's canonical view (promotionmisc.canonical)."""
    title = str(view.get("name") or "")
    if len(title) > TITLE_MAX or not TITLE.match(title):
        lost.append(f"title {title!r} is not 1 to {TITLE_MAX} characters without a space at either end")
    if view.get("participate_range") == 0:
        scope: Any = ALL_ITEMS
    else:
        scope = sorted(items, key=int)
        if not scope:
            lost.append("it takes part with selected items, but none are selected (a manifest lists 1 to 150)")
        elif len(scope) > MAX_RANGE_ITEMS:
            lost.append(f"{len(scope)} items take part; a manifest lists at most {MAX_RANGE_ITEMS}")
    return {
        "title": title,
        "window": {"start": iso_from_top(view["start_time"]), "end": iso_from_top(view["end_time"])},
        "items": scope,
    }


def description_note(activity: Mapping[str, Any]) -> tuple[str, ...]:
    description = str(activity.get("description") or "")
    return (f"TOP also shows description {description!r} (not part of a manifest, never sent)",) if description else ()
