"""Pricing layer: what promotions do to what a buyer pays, as pure values and functions.

`rules` holds plain frozen dataclasses describing one promotion's effect on item prices (kinds
build them from their normalised specs through `Kind.price_rules`); `stacking` computes the
worst-case (lowest) unit price a buyer can reach when every promotion that can apply stacks, with
the steps that produced it (a `quote.Quote`; one moment in `moment`, one basket in `basket`, one
promotion's step in `steps`); `floors` says the lowest price an item may reach; `impact` is one
item whose worst case a plan changes.

This layer sits beside top / state / manifest: it imports only `reconciler.model`. No I/O, no
floats: money is integer fen (fractions of a fen stay exact as `fractions.Fraction` until the
final rounding), rates are permille (800 = 8折).
"""
