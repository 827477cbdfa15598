"""What the stacking model (pricing/stacking.py) answers: an item's worst case at a moment — the
basket that reaches it and each promotion's part of it (a `Step`). Plain values, priced elsewhere."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction

from reconciler.model import ResourceKey
from reconciler.pricing.rules import ListedItem


@dataclass(frozen=True)
class Step:
    """One promotion's part of the worst case: what it took off one unit (fen, exact)."""

    key: ResourceKey
    label: str
    taken: Fraction


@dataclass(frozen=True)
class Quote:
    """The worst case for an item at a moment: the basket that reaches it and each step."""

    item: ListedItem
    moment: datetime
    units: int
    exact: Fraction  # the unit price before rounding, fen
    steps: tuple[Step, ...] = ()

    @property
    def unit_price(self) -> int:
        """Rounded down to the fen."""
        return math.floor(self.exact)

    @property
    def keys(self) -> tuple[ResourceKey, ...]:
        return tuple(dict.fromkeys(step.key for step in self.steps))


def list_quote(item: ListedItem, moment: datetime) -> Quote:
    return Quote(item, moment, 1, Fraction(item.list_price))
