"""Wire values in the manifest's words, for plan lines a reviewer reads: epoch milliseconds as
GMT+8 times, permille rates as 折, fen as yuan. Only for text: the exact wire values stay in the
calls (`plan --json` prints them as sent)."""

from __future__ import annotations

from typing import Any

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
    return "(absent)" if value is None else repr(value) if isinstance(value, str) else str(value)


def arrow(field: str, before: str, after: str) -> str:
    """'end_time: 2027-11-10 20:00 → 2027-11-11 00:00 (GMT+8)': a shared '(GMT+8)' said once."""
    suffix = " (GMT+8)"
    if before.endswith(suffix) and after.endswith(suffix):
        return f"{field}: {before.removesuffix(suffix)} → {after}"
    return f"{field}: {before} → {after}"


ITEMS_SHOWN = 5  # a pool of 200 items is named by its first few; the calls list them all


def items_text(ids: list[str]) -> str:
    """'3 item(s): 1001, 1002, 1003' or '200 item(s): 1001, 1002, 1003, 1004, 1005, …'."""
    shown = ", ".join(ids[:ITEMS_SHOWN]) + (", …" if len(ids) > ITEMS_SHOWN else "")
    return f"{len(ids)} item(s): {shown}" if ids else "no items"
