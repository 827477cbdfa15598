"""Price floors: the lowest worst-case unit price an item may reach.

A floor comes from a PriceFloor manifest, per item (a price in fen) and/or for every item of the
shop as a share of its list price. Where several apply to an item, the highest wins: each floor
is a promise that the price stays above it. A share of the list price is rounded UP to the fen,
so the floor never lets through a price below the share written.

A shop needs no PriceFloor to be guarded: an item no declared floor covers gets the default floor,
DEFAULT_SHARE of its list price (30 %), so a typo like a 1折 discount is caught before any team
thought of writing a floor. A PriceFloor with `min_share_of_list` covers every item of its shop
and so replaces the default (lower or higher); one with only per-item prices replaces it for
those items. `metadata.allow_below_floor` lets a promotion through any floor, the default too.
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


DEFAULT_SHARE = 300  # permille of the list price: the floor of an item no PriceFloor covers
DEFAULT_FLOOR_NAME = "(default)"  # not a valid manifest name, so never a declared PriceFloor's


def default_floor(shop: str) -> Floor:
    """The floor of items no PriceFloor of `shop` covers (see the module docstring)."""
    return Floor(key=ResourceKey(shop, "PriceFloor", DEFAULT_FLOOR_NAME), min_share=DEFAULT_SHARE)


def is_default(floor: FloorPrice) -> bool:
    return floor.key.kind == "PriceFloor" and floor.key.name == DEFAULT_FLOOR_NAME


def floor_of(item: ListedItem, floors: Iterable[Floor], default: Floor | None = None) -> FloorPrice | None:
    """The floor `item` must stay at or above: the highest of the floors covering it; `default`'s
    when none does (None without a default)."""
    best: FloorPrice | None = None
    for floor in floors:
        for candidate in _candidates(item, floor):
            if best is None or candidate.price > best.price:
                best = candidate
    if best is None and default is not None:
        return floor_of(item, (default,))
    return best


def _candidates(item: ListedItem, floor: Floor) -> list[FloorPrice]:
    found = []
    own = floor.item_floor(item.item_id)
    if own is not None:
        found.append(FloorPrice(own, floor.key))
    if floor.min_share is not None:
        found.append(FloorPrice(-(-item.list_price * floor.min_share // PERMILLE), floor.key, floor.min_share))
    return found
