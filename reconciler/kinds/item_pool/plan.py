"""ItemPoolActivity, diff → calls: create (activity.create, then additem per sku), replace (delete
first: two copies would stack for buyers), pool items by delta, adopting an imported activity; and
the words and wire values of what differs."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from deepdiff import DeepDiff
from deepdiff.helper import NotPresent

from reconciler.i18n import _, ngettext
from reconciler.kinds.base import new_id_ref
from reconciler.kinds.common import which_side_moved
from reconciler.kinds.item_pool.prices import own_price, price_stair, price_threshold
from reconciler.kinds.item_pool.views import as_ints, expected_view, live_view
from reconciler.kinds.item_pool.wire import ADD_ITEM, CREATE, DELETE, REMOVE_ITEM
from reconciler.kinds.price_terms import threshold_text
from reconciler.kinds.wording import absent, arrow, epoch_text, fen_field_text, item_added, item_removed, items_text, on_top_short
from reconciler.model import Action, Call, Change, DropLink, Link, Ref, Resource, SetLink, SetRecordEntry


# In an activity's state record: the reconciler did not create it, it adopted it (plan's adoption of
# an imported activity, `export --import`), recording as applied the manifest's word for every field
# queryactivity and queryitems do not return. A replace deletes such an activity and creates one from
# the manifest alone, so its plan warns (_plan_replace); the activity it creates is the reconciler's own.
ADOPTED = "adopted"


def _activity_ref(activity_id: int | Ref) -> dict[str, Any]:
    return {"activity_id": activity_id}


def _add_item_call(activity: Mapping[str, Any], item: Mapping[str, Any]) -> Call:
    # `activity` (one _activity_ref per change) and the desired `item` are shared, not copied: a
    # plan from empty holds a call per pool item (200,000 in a big shop), and nothing changes a
    # planned call's values (apply resolves Refs into new dicts; the state store copies records).
    return Call(
        ADD_ITEM,
        {"param0": item, "param1": activity},
        effects=(SetRecordEntry("items", item["sku_code"], item),),
    )


def _remove_item_call(activity_id: int, sku: str, applied: Mapping[str, Any] | None) -> Call:
    item: dict[str, Any] = {"sku_code": sku}
    if applied and "logic_group_number" in applied:
        item["logic_group_number"] = applied["logic_group_number"]
    return Call(
        REMOVE_ITEM,
        {"param0": item, "param1": _activity_ref(activity_id)},
        effects=(SetRecordEntry("items", sku, None),),
    )


def _create_calls(desired: Resource) -> list[Call]:
    activity = desired.spec["activity"]
    new_id = new_id_ref(desired.key)
    calls = [
        Call(
            CREATE,
            {"param": dict(activity)},
            binds={new_id.name: "data"},
            effects=(SetLink(new_id, {"activity": dict(activity), "items": {}}),),
        )
    ]
    activity_ref = _activity_ref(new_id)
    calls.extend(_add_item_call(activity_ref, item) for item in desired.spec["items"].values())
    return calls


def create_change(desired: Resource, reason: str) -> Change:
    items = desired.spec["items"]
    return Change(
        key=desired.key,
        action=Action.CREATE,
        calls=tuple(_create_calls(desired)),
        reason=reason,
        details=(_create_summary(desired.spec["activity"], items),),
        source=desired.source,
    )


def delete_change(link: Link) -> Change:
    """The manifest was removed and TOP still has the activity."""
    return Change(
        key=link.key,
        action=Action.DELETE,
        calls=(Call(DELETE, {"param": _activity_ref(int(link.remote_id))}, effects=(DropLink(),)),),
        reason=_("its manifest was removed"),
    )


def existing_change(desired: Resource, link: Link, live: Mapping[str, Any]) -> Change | None:
    activity = desired.spec["activity"]
    applied = link.record.get("activity")
    # Drift is TOP against what was last applied (the manifest may have moved since); an imported
    # activity has no record, so TOP is compared with the manifest.
    # Its lines read in TOP's direction, what was applied → what TOP shows ("on TOP: …").
    on_top = live_view(live["activity"])
    expected = expected_view(applied if applied is not None else activity, on_top)
    drifted = _differences(expected, on_top)
    if applied is None and not drifted:
        return _plan_adopt(desired, link, _plan_items(desired, link, live))
    changed = _differences(applied or {}, activity)
    if changed or drifted:
        wire = _wire_changes(applied or {}, activity) + _wire_changes(expected, on_top, on_top=True)
        return replace(_plan_replace(desired, link, changed, drifted), wire_changes=tuple(wire))
    return _plan_items(desired, link, live)


def _plan_adopt(desired: Resource, link: Link, items: Change | None) -> Change:
    """An imported activity matches the manifest wherever TOP shows it; what TOP does not return
    (rules, logic groups, period, priority, channels) is recorded as the manifest says, and its pool
    items are brought to the manifest's in the same change, so one apply converges."""
    adopted = _(
        "imported activity {id} matches the manifest in every field TOP returns; the fields TOP "
        "does not return (activity_rule, logic groups, period, priority, channels) are assumed to be as the "
        "manifest says and recorded so"
    )
    if items is None:
        record = {"activity": dict(desired.spec["activity"]), "items": dict(link.record.get("items") or {}), ADOPTED: True}
        return Change(
            key=desired.key,
            action=Action.UPDATE,
            calls=(),
            reason=_("{reason} (no call to TOP)").format(reason=adopted.format(id=link.remote_id)),
            source=desired.source,
            effects=(SetLink(link.remote_id, record),),
        )
    # Recorded only once every item call succeeded, when the pool is exactly the manifest's; if one
    # fails, the activity stays unrecorded and the next plan adopts it again from what TOP shows.
    record = {"activity": dict(desired.spec["activity"]), "items": dict(desired.spec["items"]), ADOPTED: True}
    return Change(
        key=desired.key,
        action=Action.UPDATE,
        calls=items.calls,
        reason=_("{reason}; {items}").format(reason=adopted.format(id=link.remote_id), items=items.reason),
        details=items.details,
        source=desired.source,
        effects=(SetLink(link.remote_id, record),),
    )


def _plan_replace(desired: Resource, link: Link, changed: list[str], drifted: list[str]) -> Change:
    old_id = int(link.remote_id)
    why = which_side_moved(bool(changed), bool(drifted))
    calls = [Call(DELETE, {"param": _activity_ref(old_id)}, effects=(DropLink(),))]
    calls.extend(_create_calls(desired))
    warning = []
    if link.record.get(ADOPTED):
        warning = [_("WARNING: activity {id} was made outside the reconciler and adopted; TOP never showed its logic "
                     "groups, period, priority, channels, total limit, simple flags (exclude_special_price, combined, "
                     "category) or items' prices. The activity created in its place has only what the manifest says "
                     "of them: whatever of them the old one had and the manifest does not write is lost for buyers. "
                     "Compare the manifest with the seller console before applying.").format(id=old_id)]
    return Change(
        key=desired.key,
        action=Action.REPLACE,
        calls=tuple(calls),
        reason=ngettext(
            "{why}; TOP cannot update an item-pool activity in place, so activity "
            "{id} is deleted first (two copies would stack for buyers) and created again "
            "with its {count} item(s)",
            "{why}; TOP cannot update an item-pool activity in place, so activity "
            "{id} is deleted first (two copies would stack for buyers) and created again "
            "with its {count} item(s)",
            len(desired.spec["items"]),
        ).format(why=why, id=old_id, count=len(desired.spec["items"])),
        details=tuple(warning + changed + [on_top_short(line) for line in drifted]),
        source=desired.source,
    )


def _plan_items(desired: Resource, link: Link, live: Mapping[str, Any]) -> Change | None:
    activity_id = int(link.remote_id)
    activity_ref = _activity_ref(activity_id)
    applied_items: Mapping[str, Any] = link.record.get("items") or {}
    desired_items: Mapping[str, Any] = desired.spec["items"]
    live_skus = set(live["skus"])
    if applied_items == desired_items and live_skus == desired_items.keys():
        return None  # the usual case, found by one comparison instead of one per item
    calls: list[Call] = []
    details: list[str] = []
    for sku in sorted(live_skus - desired_items.keys()):
        calls.append(_remove_item_call(activity_id, sku, applied_items.get(sku)))
        details.append(item_removed(sku))
    # == already compares Decimal 990 equal to int 990; _normal only runs where that finds a difference.
    repriced = (sku for sku, item in desired_items.items() if sku in live_skus and applied_items.get(sku) != item
                and _normal(applied_items.get(sku)) != _normal(item))
    for sku in sorted(repriced):
        # No per-item update exists: a changed price or group is a remove and an add.
        calls.append(_remove_item_call(activity_id, sku, applied_items.get(sku)))
        calls.append(_add_item_call(activity_ref, desired_items[sku]))
        details.append(_("~ item {item}: {before} → {after}").format(
            item=sku, before=_describe_item(applied_items.get(sku)), after=_describe_item(desired_items[sku])))
    for sku in sorted(desired_items.keys() - live_skus):
        calls.append(_add_item_call(activity_ref, desired_items[sku]))
        details.append(item_added(sku))
    if not calls:
        return None
    return Change(
        key=desired.key,
        action=Action.UPDATE,
        calls=tuple(calls),
        reason=_("pool items change by delta"),
        details=tuple(details),
        source=desired.source,
    )


def _normal(value: Any) -> Any:
    return as_ints(value) if value is not None else None


def _describe_item(item: Mapping[str, Any] | None) -> str:
    if not item:
        return _("unknown (not applied by the reconciler)")
    try:  # the item's own price in the seller's words (一口价9.90元, 8.5折, 每件减5.00元)
        own = own_price(item)
    except (KeyError, TypeError, ValueError):
        own = None
    priced = ("fix_price", "discount_rate", "decrease_money") if own is not None else ()
    parts = [own.label] if own is not None else []
    parts += [f"{k}={v}" for k, v in sorted(item.items()) if k != "sku_code" and k not in priced and not k.startswith("is_")]
    return ", ".join(parts) or _("no item price")


def _differences(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    """What differs in the manifest's words: the stairs as sellers write them ("stairs: 满600.00元减90.00元
    → 满600.00元减100.00元"), times in GMT+8, other fields by path with yuan and 折
    ("limit_info.user_limit_cnt: 1 → 2")."""
    if before == after:  # the usual case. == already finds Decimal 990 equal to int 990; deepdiff
        return []  # (which would not, hence as_ints) only words a difference, at ~1000x the cost of ==
    old, new = as_ints(dict(before)), as_ints(dict(after))
    lines: list[str] = []
    stairs_before, stairs_after = _stairs_text(old.get("rule_stairs")), _stairs_text(new.get("rule_stairs"))
    if stairs_before != stairs_after:  # else the stairs differ where words do not show: by path below
        lines.append(arrow("stairs", stairs_before, stairs_after))
        old.pop("rule_stairs", None)
        new.pop("rule_stairs", None)
    diff = DeepDiff(old, new, ignore_order=False, view="tree")
    for _report_type, nodes in sorted(diff.items()):
        for node in nodes:
            path = node.path(output_format="list")
            field = str(path[-1]) if path else ""
            lines.append(arrow(_path(path), _show(field, node.t1), _show(field, node.t2)))
    return sorted(lines)


def _create_summary(activity: Mapping[str, Any], items: Mapping[str, Any]) -> str:
    """'满600.00元减90.00元 on 3 item(s): 6901, 6902, 6903, 2027-11-10 20:00 → 2027-11-11 00:00 (GMT+8)'."""
    return _("{terms} on {scope}, {start} → {end} (GMT+8)").format(
        terms=_stairs_text(activity.get("rule_stairs")), scope=items_text(sorted(items)),
        start=epoch_text(int(activity["start_time"])), end=epoch_text(int(activity["end_time"])))


def _wire_changes(before: Mapping[str, Any], after: Mapping[str, Any], *, on_top: bool = False) -> list[dict[str, Any]]:
    """The wire values behind _differences' words (plan --json): {"field": path, "before", "after"};
    `on_top` marks what differs on TOP from what was applied."""
    if before == after:
        return []
    diff = DeepDiff(as_ints(dict(before)), as_ints(dict(after)), ignore_order=False, view="tree")
    found = []
    for _report_type, nodes in sorted(diff.items()):
        for node in nodes:
            found.append({
                "field": _path(node.path(output_format="list")),
                "before": None if isinstance(node.t1, NotPresent) else node.t1,
                "after": None if isinstance(node.t2, NotPresent) else node.t2,
                **({"on_top": True} if on_top else {}),
            })
    return sorted(found, key=lambda entry: str(entry["field"]))


def _stairs_text(stairs: Any) -> str:
    """The wire rule_stairs in words, 满600.00元减90.00元；满3件8折 (a stair priced per item: 按商品定价)."""
    if not stairs:
        return _("(none)")
    words = []
    try:
        for wire in stairs:
            stair = price_stair(wire)
            words.append(stair.label if stair is not None else threshold_text(price_threshold(wire)) + "按商品定价")
    except (KeyError, TypeError, ValueError, AttributeError):  # a shape the words do not know: shown by path
        return _("(not in words)")
    return "；".join(words)


def _path(parts: Iterable[Any]) -> str:
    text = ""
    for part in parts:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _show(field: str, value: Any) -> str:
    return absent() if isinstance(value, NotPresent) else fen_field_text(field, value)
