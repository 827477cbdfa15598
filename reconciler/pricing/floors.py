"""Price floors: the lowest worst-case unit price an item may reach.

A floor comes from a PriceFloor manifest, per item (a price in fen) and/or for every item of the
shop as a share of its list price. Where several apply to an item, the highest wins: each floor
is a promise that the price stays above it. A share of the list price is rounded UP to the fen,
so the floor never lets through a price below the share written.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from reconciler.model import ResourceKey
from reconciler.pricing.rules import PERMILLE, Floor, ListedItem


@dataclass(frozen=True)
class FloorPrice:
    price: int  # fen
    key: ResourceKey  # the PriceFloor it comes from
    share: int | None = None  # permille of the list price, when it is a share; None for an item's own floor


def floor_of(item: ListedItem, floors: Iterable[Floor]) -> FloorPrice | None:
    """The floor `item` must stay at or above, or None when no floor covers it."""
    best: FloorPrice | None = None
    for floor in floors:
        for candidate in _candidates(item, floor):
            if best is None or candidate.price > best.price:
                best = candidate
    return best


def _candidates(item: ListedItem, floor: Floor) -> list[FloorPrice]:
    found = []
    own = floor.item_floor(item.item_id)
    if own is not None:
        found.append(FloorPrice(own, floor.key))
    if floor.min_share is not None:
        found.append(FloorPrice(-(-item.list_price * floor.min_share // PERMILLE), floor.key, floor.min_share))
    return found
