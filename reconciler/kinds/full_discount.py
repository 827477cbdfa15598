"""FullDiscount: 满就送, the `taobao.promotionmisc.mjs.activity.*` methods.

Spend X yuan (满元) or buy X items (满件) — optionally again and again (上不封顶) — and get an
amount off, a discount, a gift and/or free shipping; for the whole shop or up to 150 items,
optionally only for a shop member level or a user tag.

Wire units, from the method pages: `total_price` and `decrease_amount` in fen (10000 = 100 yuan),
`discount_rate` as 800 = 8折, `start_time` / `end_time` as `yyyy-MM-dd HH:mm:ss` in GMT+8,
`exclude_area` as area codes joined by `*`. update takes every field except `type` (item-level
or shop-level), so changing `level` is a replace; everything else is one in-place update
(see promotionmisc.py for reading, range deltas and recovery).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.i18n import N_, _
from reconciler.kinds.base import Kind, NormaliseContext, ProblemCollector
from reconciler.kinds.common import fen, permille
from reconciler.kinds.exported import Exported, export_name, rate, yuan_string
from reconciler.kinds.price_terms import reward_text, threshold_text
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
from reconciler.pricing.rules import Form, OrderDiscount, PriceRule, Reward, Threshold

LEVELS = {"item": 1, "shop": 2}  # TOP's "type": 1 商品级别, 2 店铺级别
MEMBER_LEVELS = {"customer": 0, "normal": 1, "advanced": 2, "vip": 3, "supreme_vip": 4}

FAMILY = Family(
    label=N_("full discount"),
    prefix="taobao.promotionmisc.mjs.activity",
    get_key="mjs_promotion",
    fields=(
        "name",
        "type",
        "participate_range",
        "start_time",
        "end_time",
        "is_amount_over",
        "total_price",
        "is_amount_multiple",
        "is_item_count_over",
        "item_count",
        "is_item_multiple",
        "is_shop_member",
        "shop_member_level",
        "is_user_tag",
        "user_tag",
        "is_decrease_money",
        "decrease_amount",
        "is_discount",
        "discount_rate",
        "is_send_gift",
        "gift_name",
        "gift_id",
        "gift_url",
        "is_free_post",
        "exclude_area",
    ),
    value_flags={
        "total_price": "is_amount_over",
        "item_count": "is_item_count_over",
        "shop_member_level": "is_shop_member",
        "user_tag": "is_user_tag",
        "decrease_amount": "is_decrease_money",
        "discount_rate": "is_discount",
        "gift_name": "is_send_gift",
        "gift_id": "is_send_gift",
        "gift_url": "is_send_gift",
        "exclude_area": "is_free_post",
    },
    units={"total_price": "fen", "decrease_amount": "fen", "discount_rate": "permille"},
    words={
        "type": {code: level for level, code in LEVELS.items()},
        "shop_member_level": {code: level for level, code in MEMBER_LEVELS.items()},
    },
    fixed=("type",),  # mjs.activity.update has no type parameter
    list_filters=({"activity_type": 1}, {"activity_type": 2}),  # list.get requires one type per walk
)


class FullDiscount(PromotionMiscExport, PromotionMiscActivity, Kind):
    kind = "FullDiscount"
    schema = "full-discount.schema.json"
    family = FAMILY
    read_methods = FAMILY.read_methods()
    write_methods = FAMILY.write_methods()

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        spec = doc.spec
        participate_range, items = range_params(spec["items"])
        activity: dict[str, Any] = {
            "name": spec["title"],
            "type": LEVELS[spec["level"]],
            "participate_range": participate_range,
        }
        activity.update(window_params(spec["window"], problems))
        activity.update(_condition(spec, problems))
        if "members" in spec:
            activity.update(is_shop_member=True, shop_member_level=MEMBER_LEVELS[spec["members"]])
        if "user_tag" in spec:
            activity.update(is_user_tag=True, user_tag=spec["user_tag"])
        activity.update(_reward(spec["reward"], problems))
        _check_reward_against_condition(spec, activity, problems)
        return {"activity": activity, "items": items}

    def exported(self, remote_id: str, entry: Mapping[str, Any]) -> Exported:
        """An activity as `reconciler export` writes it (the inverse of normalise_spec)."""
        view = canonical(FAMILY, entry["activity"])
        lost: list[str] = []
        spec = common_spec(view, list(entry["items"]), lost)
        items = spec.pop("items")
        level = _word(LEVELS, view.get("type"))
        if level is None:
            lost.append(f"type {view.get('type')!r} is neither 1 (item) nor 2 (shop)")
        spec["level"] = level or "shop"
        spec.update(_exported_condition(view, lost))
        if view.get("is_shop_member"):
            members = _word(MEMBER_LEVELS, view.get("shop_member_level"))
            if members is None:
                lost.append(f"shop_member_level {view.get('shop_member_level')!r} is not a level a manifest names")
            spec["members"] = members or "customer"
        if view.get("is_user_tag"):
            spec["user_tag"] = view.get("user_tag")
        spec["reward"] = _exported_reward(view, lost)
        spec["items"] = items
        name = export_name(spec["title"], remote_id, "full-discount")
        return Exported(self.kind, remote_id, name, spec, notes=description_note(entry["activity"]), lost=tuple(lost))

    def price_rules(self, resource: Resource) -> list[PriceRule]:
        """A basket-level discount: an amount and/or a rate off once the threshold is reached.
        A gift or free shipping lowers no price, so an activity with only those has no rule."""
        activity = resource.spec["activity"]
        rewards = []
        if activity.get("is_decrease_money"):
            rewards.append(Reward(Form.DECREASE, int(activity["decrease_amount"])))
        if activity.get("is_discount"):
            rewards.append(Reward(Form.RATE, int(activity["discount_rate"])))
        if not rewards:
            return []
        if activity.get("is_amount_over"):
            threshold = Threshold(amount=int(activity["total_price"]))
            repeat = bool(activity.get("is_amount_multiple"))
        else:
            threshold = Threshold(count=int(activity["item_count"]))
            repeat = bool(activity.get("is_item_multiple"))
        label = threshold_text(threshold) + "".join(reward_text(reward) for reward in rewards)
        return [
            OrderDiscount(
                key=resource.key,
                label=label + ("，上不封顶" if repeat else ""),
                when=price_when(activity),
                items=price_items(resource.spec),
                threshold=threshold,
                rewards=tuple(rewards),
                repeat=repeat,
            )
        ]


def _condition(spec: Mapping[str, Any], problems: ProblemCollector) -> dict[str, Any]:
    when = spec["when"]
    repeat = bool(spec.get("no_ceiling", False))
    if "amount_at_least" in when:
        threshold = fen(when["amount_at_least"], ("spec", "when", "amount_at_least"), problems, positive=True)
        params: dict[str, Any] = {"is_amount_over": True, "total_price": threshold}
        if repeat:
            params["is_amount_multiple"] = True
        return params
    params = {"is_item_count_over": True, "item_count": when["count_at_least"]}
    if repeat:
        params["is_item_multiple"] = True
    return params


def _reward(reward: Mapping[str, Any], problems: ProblemCollector) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if "decrease" in reward:
        path = ("spec", "reward", "decrease")
        params.update(is_decrease_money=True, decrease_amount=fen(reward["decrease"], path, problems, positive=True))
    if "rate" in reward:
        params.update(is_discount=True, discount_rate=permille(reward["rate"], ("spec", "reward", "rate"), problems))
    if "gift" in reward:
        gift = reward["gift"]
        params.update(is_send_gift=True, gift_name=gift["name"])
        if "item_id" in gift:
            params["gift_id"] = int(gift["item_id"])
        if "url" in gift:
            params["gift_url"] = gift["url"]
    if "free_shipping" in reward:
        params["is_free_post"] = True
        free = reward["free_shipping"]
        areas = free.get("except_areas", []) if isinstance(free, Mapping) else []
        if areas:
            params["exclude_area"] = "*".join(areas)  # the page: codes joined with '*'
    return params


def _check_reward_against_condition(
    spec: Mapping[str, Any], activity: Mapping[str, Any], problems: ProblemCollector
) -> None:
    threshold = activity.get("total_price")
    decrease = activity.get("decrease_amount")
    if threshold and decrease and decrease >= threshold:
        problems.add(
            ("spec", "reward", "decrease"),
            _("{decrease} yuan off an order of {threshold} yuan "
              "would make it free; the decrease must be below the threshold").format(
                decrease=spec["reward"]["decrease"], threshold=spec["when"]["amount_at_least"]),
        )
    if spec.get("no_ceiling") and "discount_rate" in activity:
        problems.add(
            ("spec", "no_ceiling"),
            _("no_ceiling (上不封顶) repeats an amount off for every multiple of the threshold; "
              "it cannot be combined with a rate"),
        )


# ---- TOP → manifest (`reconciler export`) ---------------------------------------------------------


def _word(words: Mapping[str, int], code: Any) -> str | None:
    """The manifest's word for TOP's code ({"item": 1, "shop": 2}, 2 → "shop"), None when unknown."""
    return next((word for word, value in words.items() if value == code), None)


def _exported_condition(view: Mapping[str, Any], lost: list[str]) -> dict[str, Any]:
    if view.get("is_amount_over") == view.get("is_item_count_over"):
        lost.append("it has both or neither of an amount and an item-count threshold; a manifest has exactly one")
    if view.get("is_amount_over"):
        spec: dict[str, Any] = {"when": {"amount_at_least": yuan_string(view.get("total_price") or 0)}}
        repeat = view.get("is_amount_multiple")
    else:
        spec = {"when": {"count_at_least": int(view.get("item_count") or 0)}}
        repeat = view.get("is_item_multiple")
    if repeat:
        spec["no_ceiling"] = True
        if view.get("is_discount"):
            lost.append("上不封顶 (no ceiling) together with a rate, which the manifest refuses")
    return spec


def _exported_reward(view: Mapping[str, Any], lost: list[str]) -> dict[str, Any]:
    reward: dict[str, Any] = {}
    if view.get("is_decrease_money"):
        reward["decrease"] = yuan_string(view["decrease_amount"])
        if view.get("is_amount_over") and int(view["decrease_amount"]) >= int(view.get("total_price") or 0):
            lost.append("the amount off is not below the threshold, which the manifest refuses")
    if view.get("is_discount"):
        reward["rate"] = rate(view["discount_rate"])
        if "decrease" in reward:
            lost.append("it has both an amount off and a rate; a manifest has one of them")
    if view.get("is_send_gift"):
        gift: dict[str, Any] = {"name": view.get("gift_name") or ""}
        if view.get("gift_id") is not None:
            gift["item_id"] = str(view["gift_id"])
        if view.get("gift_url"):
            gift["url"] = view["gift_url"]
        reward["gift"] = gift
    if view.get("is_free_post"):
        areas = [area for area in str(view.get("exclude_area") or "").split("*") if area]
        if any(not (area.isdigit() and len(area) == 6) for area in areas):
            lost.append(f"exclude_area {view.get('exclude_area')!r} holds codes that are not 6-digit area codes")
        reward["free_shipping"] = {"except_areas": areas} if areas else True
    if not reward:
        lost.append("it gives no reward (no amount off, rate, gift or free shipping); a manifest names one")
    return reward
