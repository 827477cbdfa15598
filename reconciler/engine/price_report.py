"""Worst-case prices in words: the stack behind a price (`reconciler price`, floor errors) and the
plan's price-impact table (markdown for pull requests, a few lines for the terminal). Pure
functions from pricing values to strings."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from reconciler.i18n import _
from reconciler.kinds.units import fen_text, fen_to_yuan, to_top_datetime
from reconciler.pricing.floors import FloorPrice, is_default
from reconciler.pricing.impact import PriceImpact
from reconciler.pricing.quote import Quote

MARKDOWN_ROWS = 50  # a shop-wide change touches thousands of items; the table shows the deepest
TEXT_ROWS = 10


def yuan(fen: int) -> str:
    return format(fen_to_yuan(fen), "f")


def moment_text(moment: datetime) -> str:
    return f"{to_top_datetime(moment)} GMT+8"


def item_text(quote: Quote) -> str:
    if quote.item.title:
        return _("item {id} {title}").format(id=quote.item.item_id, title=quote.item.title)
    return _("item {id}").format(id=quote.item.item_id)


def stack_text(quote: Quote) -> str:
    """One line: list price, each promotion's part, the unit price, the basket and the moment."""
    if not quote.steps:
        return _("list {price}, no promotion applies").format(price=yuan(quote.item.list_price))
    parts = [_("list {price}").format(price=yuan(quote.item.list_price))]
    parts += [f"− {step.key.kind}/{step.key.name} ({step.label}) {fen_text(step.taken)}" for step in quote.steps]
    basket = _("a basket of {units}").format(units=quote.units) if quote.units > 1 else _("one unit")
    return _("{steps} = {price} ({basket}, at {moment})").format(
        steps=" ".join(parts), price=yuan(quote.unit_price), basket=basket, moment=moment_text(quote.moment))


def floor_text(floor: FloorPrice) -> str:
    source = f"{floor.key.kind}/{floor.key.name}"
    if floor.share is not None:
        share = (Decimal(floor.share) / 10).normalize()
        if is_default(floor):
            return _("{price} (the default floor: {share}% of list, as no PriceFloor covers the item)").format(
                price=yuan(floor.price), share=f"{share:f}")
        return _("{price} ({source}: {share}% of list)").format(price=yuan(floor.price), source=source, share=f"{share:f}")
    # Translators: a floor's price and the PriceFloor it comes from: "70.00 (PriceFloor/floors)"
    return _("{price} ({source})").format(price=yuan(floor.price), source=source)


def floor_short(floor: FloorPrice) -> str:
    """The floor in a table cell or an impact line: its price, and which floor when it is the default."""
    if not is_default(floor):
        return yuan(floor.price)
    return _("{price} = default {share}% of list").format(price=yuan(floor.price), share=f"{Decimal(floor.share or 0) / 10:f}")


def quote_lines(quote: Quote, floor: FloorPrice | None) -> list[str]:
    """`reconciler price`: the item, its worst case, each step on its own line, the floor and margin."""
    values = {"item": item_text(quote), "list": yuan(quote.item.list_price), "price": yuan(quote.unit_price),
              "units": quote.units}
    if quote.units > 1:
        head = _("{item}: list {list} → worst case {price} a unit (a basket of {units})").format(**values)
    else:
        head = _("{item}: list {list} → worst case {price} a unit").format(**values)
    lines = [f"  {head}"]
    for step in quote.steps:
        lines.append(f"      − {fen_text(step.taken):>10}  {step.key.kind}/{step.key.name}: {step.label}")
    if quote.steps and quote.exact != quote.unit_price:
        rounded = _("rounded down to the fen")
        lines.append(f"      = {yuan(quote.unit_price):>10}  {rounded}")
    if floor is not None:
        margin = quote.unit_price - floor.price
        if margin >= 0:
            verdict = _("margin {amount}").format(amount=yuan(margin))
        else:
            verdict = _("BELOW THE FLOOR by {amount}").format(amount=yuan(-margin))
        lines.append("      " + _("floor {floor}: {verdict}").format(floor=floor_text(floor), verdict=verdict))
    return lines


def change_text(before: int, after: int) -> str:
    if before == 0:
        return f"{'+' if after >= before else '−'}{yuan(abs(after - before))}"
    percent = (Decimal(after - before) * 100 / Decimal(before)).quantize(Decimal("0.1"))
    sign = "+" if percent > 0 else ("−" if percent < 0 else "±")
    return f"{sign}{abs(percent)}%"


def impact_markdown(impacts: Sequence[PriceImpact], limit: int = MARKDOWN_ROWS) -> str:
    """The plan's price-impact table: items whose worst case changes, deepest cuts first."""
    if not impacts:
        return ""
    lines = [
        _("#### Price impact") + "\n",
        _("Worst-case unit price a buyer can reach (every promotion that can apply stacking, from now on), "
          "before → after this plan, deepest cuts first.") + "\n",
        # Translators: the header row of a markdown table: keep the 7 columns and the | between them
        _("| item | list | before | after | change | floor | after: how |"),
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    for impact in impacts[:limit]:
        after = impact.after
        floor = ""
        if impact.floor is not None:
            floor = floor_short(impact.floor) + (" ⛔" if after.unit_price < impact.floor.price else "")
        lines.append(
            f"| {_cell(item_text(after))} | {yuan(after.item.list_price)} | {yuan(impact.before.unit_price)} "
            f"| **{yuan(after.unit_price)}** | {change_text(impact.before.unit_price, after.unit_price)} "
            f"| {floor} | {_cell(stack_text(after))} |"
        )
    if len(impacts) > limit:
        lines.append("\n" + _("_{count} more item(s) change; `reconciler price` shows every item._").format(
            count=len(impacts) - limit))
    return "\n".join(lines) + "\n\n"


def impact_text(impacts: Sequence[PriceImpact], limit: int = TEXT_ROWS) -> list[str]:
    if not impacts:
        return []
    lines = [_("Price impact (worst case a unit, before → after, deepest first; {count} item(s)):").format(count=len(impacts))]
    for impact in impacts[:limit]:
        before, after = impact.before.unit_price, impact.after.unit_price
        change = change_text(before, after)
        if impact.floor is not None:
            change = _("{change}, floor {floor}").format(change=change, floor=floor_short(impact.floor))
        lines.append("  " + _("{shop} {item}: {before} → {after} ({change})").format(
            shop=impact.shop, item=item_text(impact.after), before=yuan(before), after=yuan(after), change=change))
    if len(impacts) > limit:
        lines.append("  " + _("… and {count} more (`reconciler price` shows every item)").format(count=len(impacts) - limit))
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")
