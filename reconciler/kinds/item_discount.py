"""ItemDiscount: 无条件单品优惠, the `taobao.promotionmisc.item.activity.*` methods.

A price cut on every item of the shop, or on up to 150 named items, within a time window:
either a discount rate (打折) or an amount off each item (减钱), optionally for one user tag.

Wire units, from the method pages: `decrease_amount` in fen (100 = 1 yuan), `discount_rate`
as 800 = 8折, `start_time` / `end_time` as `yyyy-MM-dd HH:mm:ss` in GMT+8. update takes every
field add takes, so any change is one in-place update call (see promotionmisc.py for reading,
range deltas and recovery).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.i18n import N_
from reconciler.kinds.base import Kind, NormaliseContext, ProblemCollector
from reconciler.kinds.common import fen, permille
from reconciler.kinds.exported import Exported, export_name, rate, yuan_string
from reconciler.kinds.price_terms import unit_price
from reconciler.kinds.promotionmisc import (
    Family,
    PromotionMiscActivity,
    price_items,
    price_when,
    range_params,
    canonical,
    window_params,
)
from reconciler.kinds.promotionmisc_export import PromotionMiscExport, common_spec, description_note
from reconciler.manifest import Document
from reconciler.model import Resource
from reconciler.pricing.rules import Form, PriceRule, SpecialPrice

FAMILY = Family(
    label=N_("item discount"),
    prefix="taobao.promotionmisc.item.activity",
    get_key="item_promotion",
    fields=(
        "name",
        "participate_range",
        "start_time",
        "end_time",
        "is_user_tag",
        "user_tag",
        "is_decrease_money",
        "decrease_amount",
        "is_discount",
        "discount_rate",
    ),
    value_flags={"user_tag": "is_user_tag", "decrease_amount": "is_decrease_money", "discount_rate": "is_discount"},
    units={"decrease_amount": "fen", "discount_rate": "permille"},
)


class ItemDiscount(PromotionMiscExport, PromotionMiscActivity, Kind):
    kind = "ItemDiscount"
    schema = "item-discount.schema.json"
    family = FAMILY
    read_methods = FAMILY.read_methods()
    write_methods = FAMILY.write_methods()

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        spec = doc.spec
        participate_range, items = range_params(spec["items"])
        activity: dict[str, object] = {"name": spec["title"], "participate_range": participate_range}
        activity.update(window_params(spec["window"], problems))
        if "user_tag" in spec:
            activity.update(is_user_tag=True, user_tag=spec["user_tag"])
        discount = spec["discount"]
        if "rate" in discount:
            rate = permille(discount["rate"], ("spec", "discount", "rate"), problems)
            activity.update(is_discount=True, discount_rate=rate)
        else:
            path = ("spec", "discount", "decrease")
            activity.update(is_decrease_money=True, decrease_amount=fen(discount["decrease"], path, problems, positive=True))
        return {"activity": activity, "items": items}

    def exported(self, remote_id: str, entry: Mapping[str, Any]) -> Exported:
        """An activity as `reconciler export` writes it (the inverse of normalise_spec)."""
        view = canonical(FAMILY, entry["activity"])
        lost: list[str] = []
        spec = common_spec(view, list(entry["items"]), lost)
        if view.get("is_discount") == view.get("is_decrease_money"):
            lost.append("it has both or neither of a discount rate and an amount off; a manifest has exactly one")
        if view.get("is_discount"):
            spec["discount"] = {"rate": rate(view["discount_rate"])}
        elif view.get("is_decrease_money"):
            spec["discount"] = {"decrease": yuan_string(view["decrease_amount"])}
        if view.get("is_user_tag"):
            spec["user_tag"] = view.get("user_tag")
        spec["items"] = spec.pop("items")  # last, as manifests write it
        name = export_name(spec["title"], remote_id, "item-discount")
        return Exported(self.kind, remote_id, name, spec, notes=description_note(entry["activity"]), lost=tuple(lost))

    def price_rules(self, resource: Resource) -> list[PriceRule]:
        """An item discount is an item-level special price; one with a user tag reaches only some buyers."""
        activity = resource.spec["activity"]
        if activity.get("is_discount"):
            price = unit_price(Form.RATE, activity["discount_rate"])
        else:
            price = unit_price(Form.DECREASE, activity["decrease_amount"])
        return [
            SpecialPrice(
                key=resource.key,
                label=price.label,
                when=price_when(activity),
                items=price_items(resource.spec),
                price=price,
                for_some_buyers=bool(activity.get("is_user_tag")),
            )
        ]
