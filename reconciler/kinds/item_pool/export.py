"""ItemPoolActivity → manifest (`reconciler export --id ItemPoolActivity:ID`): what queryactivity and
queryitems show (read.read_one, the read plan makes), in the manifest's words.

TOP has no list call for item-pool activities, so they are exported by id only. queryactivity
returns part of what was created (views.py): title, description, window, terminals, members,
stores, crowds, three of the four limits, and per stair its threshold, its cover-all amount off,
rate or fixed price, whether the stairs repeat (no ceiling) and whether an exchange group exists;
queryitems returns the pool's skus without prices. The manifest is written from exactly that, and
its comments say what TOP does not return. A stair whose discount TOP does not show (nth-item,
capped-count, separate pricing, each-fixed-price) or an exchange group cannot be written without
guessing: such an activity is lost (written commented out, never imported).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.kinds.exported import Exported, export_name, is_valid_name, iso_from_epoch_ms, rate, yuan_string
from reconciler.kinds.item_pool.views import live_view

_TERMINALS = {1: "app", 2: "pos"}  # wire.py's table, read backwards
_MEMBERS = {-1: "all", 1: "members_only", 2: "non_members"}
_LIMITS = {"user_daily_limit_cnt": "per_user_daily", "user_limit_cnt": "per_user", "daily_limit_cnt": "daily"}
NOT_RETURNED = (
    "queryactivity does not return the activity rule (except no_ceiling), logic groups, period, priority, "
    "channels, the total limit or the simple flags (exclude_special_price, combined, category), and "
    "queryitems returns no item prices: none are written. If the activity has any, add them here; "
    "`export --import` records this manifest as applied, as `reconciler plan` does when it adopts an imported "
    "activity that matches everything TOP returns"
)


def pool_exported(remote_id: str, live: Mapping[str, Any]) -> Exported:
    view = live_view(live["activity"])
    lost: list[str] = []
    notes = [NOT_RETURNED]
    name = str(view.get("out_act_id") or "")
    if not name:
        # Made in the seller's console: linked by id, its name is ours to choose (views.expected_view).
        name = export_name(str(view.get("activity_name") or ""), remote_id, "item-pool")
        notes.append(f"TOP shows no out_act_id (the activity was made outside the reconciler): named {name} here and "
                     "linked by its id; an activity the reconciler creates in its place carries the name as out_act_id")
    elif not is_valid_name(name):
        lost.append(f"its out_act_id {name!r} is not a valid metadata.name, and the name must equal it")
    spec: dict[str, Any] = {
        "title": view.get("activity_name"),
        "description": view.get("description"),
        "window": {"start": iso_from_epoch_ms(view["start_time"]), "end": iso_from_epoch_ms(view["end_time"])},
        "shop_ids": [str(s) for s in view.get("shop_ids") or []],
        "terminals": [_TERMINALS.get(t, str(t)) for t in view.get("terminals") or []],
    }
    if any(t not in _TERMINALS for t in view.get("terminals") or []):
        lost.append(f"terminals {view.get('terminals')} hold codes other than 1 (app) and 2 (pos)")
    member_limit = view.get("member_limit")
    if member_limit is None:
        lost.append("TOP shows no member_limit, while a manifest always sends one (all = -1)")
    elif member_limit not in _MEMBERS:
        lost.append(f"member_limit {member_limit!r} is not -1, 1 or 2")
    elif member_limit != -1:
        spec["members"] = _MEMBERS[member_limit]
    crowd = {word: view[field] for field, word in (("merchant_crowd_code", "merchant"), ("txd_crowd_code", "txd"))
             if view.get(field)}
    if crowd:
        spec["crowd"] = crowd
    limits = {_LIMITS[field]: value for field, value in (view.get("limit_info") or {}).items() if field in _LIMITS}
    for word, value in list(limits.items()):
        if value == -1:  # "no limit" on activity.create's page, as a limit not written (views.NO_LIMIT)
            del limits[word]
        elif not isinstance(value, int) or value < 1:
            lost.append(f"limit {word} is {value!r}; a manifest's limits are whole numbers of at least 1")
            del limits[word]
    if limits:
        spec["limits"] = limits
    stairs = [_stair(stair, index, lost) for index, stair in enumerate(view.get("rule_stairs") or [])]
    if any(stair.get("enable_multiple") for stair in view.get("rule_stairs") or []):
        spec["rule"] = {"no_ceiling": True}
    spec["stairs"] = stairs
    if not stairs:
        lost.append("TOP shows no stairs; a manifest has at least one")
    spec["items"] = [{"sku": sku} for sku in live.get("skus") or []]
    return Exported("ItemPoolActivity", remote_id, name, spec, notes=tuple(notes), lost=tuple(lost))


def _stair(stair: Mapping[str, Any], index: int, lost: list[str]) -> dict[str, Any]:
    where = f"stair {index + 1}"
    if stair.get("amount_at"):
        when: dict[str, Any] = {"amount_at_least": yuan_string(stair.get("amount") or 0)}
    else:
        when = {"count_at_least": stair.get("count")}
    if stair.get("is_exchange"):
        lost.append(f"{where}: the activity has an exchange group (换购), whose number and items TOP does not show")
    if stair.get("count_begin"):
        lost.append(f"{where}: an nth-item discount (第N件), whose value TOP does not show")
    if stair.get("decrease"):
        discount: dict[str, Any] = {"decrease": yuan_string(stair["decrease_money"])}
    elif stair.get("discount"):
        discount = {"rate": rate(stair["discount_rate"])}
    elif stair.get("fix_price"):
        discount = {"fix_price": yuan_string(stair["fix_price_amount"])}
    else:
        discount = {}
        if not stair.get("count_begin"):
            lost.append(f"{where}: a discount TOP does not show (capped count, separate pricing or each-fixed-price)")
    return {"when": when, "discount": discount}
