"""One item whose worst-case price a plan changes: the row of the price-impact table.

A pricing value (quotes and a floor), so the guardrails that build it and the report that prints it
both import it from here: neither needs the other (engine/guardrails.py ↔ engine/price_report.py was
an import circle while it lived in the guardrails)."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from reconciler.pricing.floors import FloorPrice
from reconciler.pricing.quote import Quote
from reconciler.pricing.rules import ListedItem


@dataclass(frozen=True)
class PriceImpact:
    """One item whose worst-case price the plan changes."""

    shop: str
    before: Quote
    after: Quote
    floor: FloorPrice | None

    @property
    def item(self) -> ListedItem:
        return self.after.item

    @property
    def depth(self) -> Fraction:
        """The change as a share of the old price: -0.5 is a cut by half."""
        before = self.before.unit_price
        return Fraction(self.after.unit_price - before, before) if before else Fraction(0)
