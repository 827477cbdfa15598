"""Conversions between what humans write in manifests and what TOP methods take on the wire.

Every conversion lives here, once, and is exact: money is decimal.Decimal end to end, never float.
Which unit a given method field uses is decided by the kind module that builds the call; this module
only knows the units themselves.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from fractions import Fraction

from reconciler.i18n import _

GMT8 = timezone(timedelta(hours=8))
_FEN_PER_YUAN = Decimal(100)
_PERMILLE = Decimal(1000)


class UnitError(ValueError):
    """A value that cannot be converted exactly; the message says what is allowed."""


def to_decimal(value: object) -> Decimal:
    if isinstance(value, bool):
        raise UnitError(_("expected a number, got {value!r}").format(value=value))
    if isinstance(value, float):
        # A float already lost the digits the user wrote; refusing it keeps every conversion exact.
        raise UnitError("internal error: money and rates must arrive as Decimal or str, never float")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise UnitError(_("{value!r} is not a number").format(value=value)) from None


def yuan_to_fen(yuan: object) -> int:
    """'12.00' → 1200. More than two decimals is an error, not a rounding."""
    amount = to_decimal(yuan)
    fen = amount * _FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise UnitError(_("{amount} yuan has more than two decimals (1 fen is the smallest unit)").format(amount=yuan))
    return int(fen)


def fen_to_yuan(fen: int) -> Decimal:
    """1200 → Decimal('12.00')."""
    return (Decimal(fen) / _FEN_PER_YUAN).quantize(Decimal("0.01"))


def yuan_exact(yuan: object) -> Decimal:
    """For methods that take yuan on the wire: the amount with exactly two decimals, checked."""
    return fen_to_yuan(yuan_to_fen(yuan))


def rate_to_permille(rate: object) -> int:
    """0.6 (= 6折, 40 % off) → 600, the unit item-pool methods use for discount rates."""
    value = to_decimal(rate)
    if not Decimal(0) < value < Decimal(1):
        raise UnitError(_("rate {rate} must be above 0 and below 1 (0.6 means 6折)").format(rate=rate))
    permille = value * _PERMILLE
    if permille != permille.to_integral_value():
        raise UnitError(_("rate {rate} has more than three decimals").format(rate=rate))
    return int(permille)


def whole_as_int(value: object) -> object:
    """TOP's JSON numbers arrive as int or Decimal (the client decodes with use_decimal); a whole
    Decimal becomes an int, so 990 read back compares equal to the 990 that was sent."""
    if isinstance(value, Decimal) and value == value.to_integral_value():
        return int(value)
    return value


def permille_to_rate(permille: int) -> Decimal:
    return (Decimal(permille) / _PERMILLE).normalize()


def parse_iso(text: str) -> datetime:
    """An ISO 8601 time that must carry its offset: a promotion's start is never ambiguous."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise UnitError(_("{text!r} is not an ISO 8601 time like 2026-06-18T00:00:00+08:00").format(text=text)) from None
    if moment.tzinfo is None:
        raise UnitError(_("{text!r} has no UTC offset; write it like 2026-06-18T00:00:00+08:00").format(text=text))
    return moment


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_epoch_ms(moment: datetime) -> int:
    # Integer timedelta arithmetic, not timestamp() * 1000, which goes through float.
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def epoch_ms_to_iso(epoch_ms: int) -> str:
    return (_EPOCH + timedelta(milliseconds=epoch_ms)).astimezone(GMT8).isoformat()


def from_epoch_ms(epoch_ms: int) -> datetime:
    """1813248000000 → 2027-06-18 00:00:00+08:00, an aware datetime (integer arithmetic, no float)."""
    return (_EPOCH + timedelta(milliseconds=int(epoch_ms))).astimezone(GMT8)


def to_top_datetime(moment: datetime) -> str:
    """TOP's 'yyyy-MM-dd HH:mm:ss', always in GMT+8."""
    return moment.astimezone(GMT8).strftime("%Y-%m-%d %H:%M:%S")


def whole_yuan(yuan: object) -> int:
    """'10.00' → 10, for methods that take whole yuan as a Long (shop coupons). '9.90' is an error."""
    fen = yuan_to_fen(yuan)
    if fen % 100:
        raise UnitError(_("{amount} yuan is not a whole number of yuan (this TOP method takes whole yuan only)").format(
            amount=yuan))
    return fen // 100


def parse_top_datetime(text: str) -> datetime:
    """TOP's 'yyyy-MM-dd HH:mm:ss' (always GMT+8) → an aware datetime."""
    try:
        wall = datetime.strptime(text.strip(), "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise UnitError(_("{text!r} is not a TOP time like 2026-06-18 00:00:00").format(text=text)) from None
    return wall.replace(tzinfo=GMT8)


# ---- Taoke cash gifts (tlj.create): yuan as a String, dates as whole GMT+8 days -----------------


def yuan_text(yuan: object) -> str:
    """'5' → '5.00', for methods whose money field is a String in yuan (tlj.create per_face)."""
    return format(yuan_exact(yuan), "f")


def parse_date(text: str) -> date:
    """A calendar day written 'yyyy-MM-dd'; TOP reads such days in GMT+8."""
    # fromisoformat alone would also take '20261111' and '2026-W46-3', which TOP does not.
    if not isinstance(text, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", text):
        raise UnitError(_("{text!r} is not a date like 2026-11-11").format(text=text))
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise UnitError(_("{text!r} is not a date like 2026-11-11").format(text=text)) from None


def gmt8_day(moment: datetime) -> date:
    """The calendar day a moment falls on in GMT+8 (not on the machine's clock, which may be UTC)."""
    return moment.astimezone(GMT8).date()


# ---- price guardrails: shares of a list price, and amounts that may hold a fraction of a fen ----


def share_to_permille(share: object) -> int:
    """0.5 (half the list price) → 500. Unlike a discount rate, 1 (the whole list price) is allowed."""
    value = to_decimal(share)
    if not Decimal(0) < value <= Decimal(1):
        raise UnitError(_("share {share} must be above 0 and at most 1 (0.5 means half the list price)").format(
            share=share))
    permille = value * _PERMILLE
    if permille != permille.to_integral_value():
        raise UnitError(_("share {share} has more than three decimals").format(share=share))
    return int(permille)


def fen_text(fen: Fraction | int) -> str:
    """An exact amount in fen as yuan, cut (not rounded) to the fen: Fraction(1507, 100) → '0.15…'.
    The '…' says digits were cut, so a sum of shown amounts may differ from the total by them."""
    whole = math.floor(fen) if fen >= 0 else -math.floor(-fen)
    text = format(fen_to_yuan(whole), "f")
    return text if whole == fen else text + "…"
