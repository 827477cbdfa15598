"""Wire values in the manifest's words, for plan lines a reviewer reads: epoch milliseconds as
GMT+8 times, permille rates as 折, fen as yuan. Only for text: the exact wire values stay in the
calls (`plan --json` prints them as sent)."""

from __future__ import annotations

from typing import Any

from reconciler.i18n import _, ngettext
from reconciler.kinds.price_terms import rate_text, yuan
from reconciler.kinds.units import from_epoch_ms

_EPOCH_MS_FLOOR = 10**11  # below this an int is no epoch in ms of this century (1973-03-03)


def epoch_text(epoch_ms: int) -> str:
    """1805040000000 → '2027-03-14 20:00' (GMT+8; seconds only when not zero)."""
    moment = from_epoch_ms(epoch_ms)
    return moment.strftime("%Y-%m-%d %H:%M" + (":%S" if moment.second else ""))


def is_epoch_ms(field: str, value: Any) -> bool:
    return field.endswith("_time") and type(value) is int and value > _EPOCH_MS_FLOOR


def fen_field_text(field: str, value: Any) -> str:
    """A leaf of a wire object whose money is in fen and rates in permille (the item-pool family's
    activities), by its field name; other values as they are."""
    if type(value) is int:
        if is_epoch_ms(field, value):
            return f"{epoch_text(value)} (GMT+8)"
        if "rate" in field and 0 < value < 1000:
            return rate_text(value)
        if field == "amount" or field.endswith("_money") or "price" in field:
            return yuan(value)
    return absent() if value is None else repr(value) if isinstance(value, str) else str(value)


def absent() -> str:
    """A field a side does not have, in a change line ("gift_url: (absent) → 'https://…'")."""
    return _("(absent)")


def arrow(field: str, before: str, after: str) -> str:
    """'end_time: 2027-11-10 20:00 → 2027-11-11 00:00 (GMT+8)': a shared '(GMT+8)' said once."""
    suffix = " (GMT+8)"
    if before.endswith(suffix) and after.endswith(suffix):
        return f"{field}: {before.removesuffix(suffix)} → {after}"
    return f"{field}: {before} → {after}"


ITEMS_SHOWN = 5  # a pool of 200 items is named by its first few; the calls list them all


def items_text(ids: list[str]) -> str:
    """'3 item(s): 1001, 1002, 1003' or '200 item(s): 1001, 1002, 1003, 1004, 1005, …'."""
    if not ids:
        return _("no items")
    shown = ", ".join(ids[:ITEMS_SHOWN]) + (", …" if len(ids) > ITEMS_SHOWN else "")
    # Translators: the English keeps "item(s)" for any count, as plans always wrote it.
    return ngettext("{count} item(s): {items}", "{count} item(s): {items}", len(ids)).format(
        count=len(ids), items=shown)


# A range line of a change: which item leaves or joins an activity or pool. engine/drift.py turns
# them around (what changed on TOP), so it reads them with item_line, in whichever language.


def item_removed(item: str) -> str:
    return _("- item {item}").format(item=item)


def item_added(item: str) -> str:
    return _("+ item {item}").format(item=item)


def item_line(detail: str) -> tuple[str, str] | None:
    """("-", id) or ("+", id) for a line item_removed or item_added made; None for any other."""
    for sign, template in (("-", _("- item {item}")), ("+", _("+ item {item}"))):
        head, _field, tail = template.partition("{item}")
        if detail.startswith(head) and detail.endswith(tail) and len(detail) > len(head) + len(tail):
            return sign, detail[len(head):len(detail) - len(tail)]
    return None


def on_top(line: str) -> str:
    """A change line that says what TOP holds now, not what was applied (drift reads it as it is)."""
    return _("on TOP, not as applied: {line}").format(line=line)


def on_top_short(line: str) -> str:
    """on_top in the item-pool plans' shorter words."""
    return _("on TOP: {line}").format(line=line)


def is_on_top(detail: str) -> bool:
    """Whether on_top or on_top_short made `detail` (in this run's language, or English)."""
    heads = [template.partition("{line}")[0]
             for template in (_("on TOP, not as applied: {line}"), _("on TOP: {line}"))]
    return any(detail.startswith(head) for head in heads) or detail.startswith("on TOP")
