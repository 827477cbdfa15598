"""PriceFloor: the lowest worst-case price a shop's items may reach. The reconciler's own rule:

    kind: PriceFloor
    metadata: {name: demo-floors, shop: demo-shop}
    spec:
      min_share_of_list: 0.5            # every item: at least half its list price
      items: {"220000000001": "59.00"}  # this item: at least 59.00 yuan

Nothing is sent to TOP for a floor and nothing is read: plan and apply compute each affected
item's worst-case price (reconciler.pricing) before and after the plan and fail when a change
would take one below its floor, unless the manifest causing it says why
(`metadata.allow_below_floor`). Where several floors cover an item, the highest counts.

Normalised spec: {"min_share_permille": 500 | None, "items": {"220000000001": 5900}} (fen).
"""

from __future__ import annotations

from typing import Any

from reconciler.kinds.base import (
    Caller,
    Kind,
    LiveState,
    NormaliseContext,
    PlanContext,
    ProblemCollector,
)
from reconciler.kinds.common import converted
from reconciler.kinds.units import share_to_permille, yuan_to_fen
from reconciler.manifest import Document
from reconciler.model import Change, Link, Resource
from reconciler.pricing.rules import Floor, PriceRule


class PriceFloor(Kind):
    kind = "PriceFloor"
    schema = "price-floor.schema.json"
    reads_back = False  # a floor is no object on TOP
    guarded = False  # removing a floor sends nothing

    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        spec = doc.spec
        share = None
        if "min_share_of_list" in spec:
            share = converted(share_to_permille, spec["min_share_of_list"], ("spec", "min_share_of_list"), problems, None)
        items: dict[str, int] = {}
        for item_id, price in (spec.get("items") or {}).items():
            fen = converted(yuan_to_fen, price, ("spec", "items", str(item_id)), problems, None)
            if fen is not None:
                items[str(item_id)] = fen
        return {"min_share_permille": share, "items": dict(sorted(items.items()))}

    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        return LiveState()  # a floor is no object on TOP

    # Never a call: floors are checked against the plan's prices instead, so no floor is ever linked.
    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        return None

    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return None

    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        return None

    def price_rules(self, resource: Resource) -> list[PriceRule]:
        spec = resource.spec
        share = spec.get("min_share_permille")
        return [
            Floor(
                key=resource.key,
                items=tuple((str(item_id), int(fen)) for item_id, fen in (spec.get("items") or {}).items()),
                min_share=int(share) if share is not None else None,
            )
        ]
