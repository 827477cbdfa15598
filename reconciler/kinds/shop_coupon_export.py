"""ShopCoupon → manifest (`reconciler export`): a coupons.get row in the manifest's words.

coupons.get (../shared/top-api/shapes/taobao.promotion.coupons.get.json) shows a coupon's id,
denomination and threshold in fen, end time, creation time and channel; not its start. So the
window has its end only (the schema's start is optional), and the plan compares exactly what
coupons.get shows (shop_coupon.list_view), which is why such a manifest plans no change.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from reconciler.kinds.exported import Exported, export_name, iso_from_top, yuan_string
from reconciler.kinds.units import fen_to_yuan


def coupon_exported(row: Mapping[str, Any], denominations: Collection[int]) -> Exported:
    coupon_id = str(row["coupon_id"])
    denomination, condition = int(str(row["denominations"])), int(str(row["condition"]))
    lost = []
    if denomination % 100 or denomination // 100 not in denominations:
        lost.append(f"denomination {fen_to_yuan(denomination)} yuan is not one coupon.add can make "
                    f"({', '.join(str(d) for d in sorted(denominations))} yuan)")
    if condition % 100:
        lost.append(f"threshold {fen_to_yuan(condition)} yuan is not whole yuan (coupon.add takes whole yuan)")
    elif condition and condition < denomination:
        lost.append(f"threshold {fen_to_yuan(condition)} yuan is below the denomination, which the manifest refuses")
    spec = {
        "denomination": yuan_string(denomination),
        "order_at_least": yuan_string(condition),
        "window": {"end": iso_from_top(row["end_time"])},
    }
    notes = ["coupons.get shows no start time: the window has its end only (the start is optional)"]
    extra = [f"{field} {row[field]}" for field in ("creat_time", "create_channel") if row.get(field) not in (None, "")]
    if extra:
        notes.append("TOP also shows " + ", ".join(extra) + " (not part of a manifest)")
    name = export_name(f"coupon-{denomination // 100}-off-{condition // 100}", coupon_id, "coupon")
    return Exported("ShopCoupon", coupon_id, name, spec, notes=tuple(notes), lost=tuple(lost))


def coupons_exported(rows: Sequence[Mapping[str, Any]], denominations: Collection[int]) -> list[Exported]:
    """Every coupon; a coupon with the same denomination, threshold and end time as one before it is
    lost: TOP shows nothing else of a coupon, so a plan could not tell the two apart and the
    manifests refuse such a pair (shop_coupon._same_content_errors)."""
    first: dict[tuple[str, str, str], str] = {}
    exported = []
    for row in sorted(rows, key=lambda row: int(str(row["coupon_id"]))):
        coupon = coupon_exported(row, denominations)
        content = (str(row["denominations"]), str(row["condition"]), str(row["end_time"]))
        twin = first.setdefault(content, coupon.remote_id)
        if twin != coupon.remote_id:
            coupon = replace(coupon, lost=(*coupon.lost, f"coupon {twin} has the same denomination, threshold and end "
                                           "time, and TOP shows nothing else to tell them apart (a manifest can hold one)"))
        exported.append(coupon)
    return exported
