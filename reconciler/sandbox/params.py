"""Reading top-level business parameters (raw strings) the way TOP's gateway checks them.

A required parameter that is absent or empty answers code 40 "Missing Required Arguments"
(TOP-PROTOCOL.md's table; TOP checks the method's declared required fields before the method
runs); a present but malformed one answers code 41 "Invalid Arguments". Both name the
parameter in ``sub_msg``. Used by the item and Taoke families; no ``METHODS`` here.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from reconciler.sandbox.codec import GMT8, TIME_FORMAT
from reconciler.sandbox.context import CallContext
from reconciler.sandbox.errors import invalid_argument, missing_argument

_LONG = re.compile(r"-?[0-9]{1,18}")
YUAN_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")  # a Price: yuan, at most 2 decimals
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def text(ctx: CallContext, name: str, *, required: bool = False) -> str | None:
    raw = ctx.params.get(name, "").strip()
    if raw == "":
        if required:
            raise missing_argument(name)
        return None
    return raw


def long(
    ctx: CallContext,
    name: str,
    *,
    required: bool = False,
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    raw = text(ctx, name, required=required)
    if raw is None:
        return None
    if not _LONG.fullmatch(raw):
        raise invalid_argument(name, f"must be a whole number, got {raw!r}")
    number = int(raw)
    if minimum is not None and number < minimum:
        raise invalid_argument(name, f"must be at least {minimum}, got {number}")
    if maximum is not None and number > maximum:
        raise invalid_argument(name, f"must be at most {maximum}, got {number}")
    return number


def boolean(ctx: CallContext, name: str, *, required: bool = False) -> bool | None:
    raw = text(ctx, name, required=required)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise invalid_argument(name, f"must be true or false, got {raw!r}")
    return raw == "true"


def yuan(ctx: CallContext, name: str, *, required: bool = False) -> Decimal | None:
    """An amount in yuan written as a decimal string with at most two decimals ('5.00', '5')."""
    raw = text(ctx, name, required=required)
    if raw is None:
        return None
    if not YUAN_TEXT.fullmatch(raw):
        raise invalid_argument(name, f"must be an amount in yuan with at most 2 decimals, got {raw!r}")
    return Decimal(raw)


def top_time(ctx: CallContext, name: str, *, required: bool = False) -> datetime | None:
    """A Date parameter: ``yyyy-MM-dd HH:mm:ss`` in GMT+8 (epoch ms or ISO 8601 are refused)."""
    raw = text(ctx, name, required=required)
    if raw is None:
        return None
    try:
        return datetime.strptime(raw, TIME_FORMAT).replace(tzinfo=GMT8)
    except ValueError:
        raise invalid_argument(name, f"must be yyyy-MM-dd HH:mm:ss (GMT+8), got {raw!r}") from None


def day(ctx: CallContext, name: str, *, required: bool = False) -> date | None:
    """A day written ``yyyy-MM-dd`` (a calendar day in GMT+8)."""
    raw = text(ctx, name, required=required)
    if raw is None:
        return None
    try:
        if not _DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError:
        raise invalid_argument(name, f"must be a day written yyyy-MM-dd, got {raw!r}") from None


def now(ctx: CallContext) -> datetime:
    """The sandbox clock as an aware datetime in GMT+8."""
    return (_EPOCH + timedelta(milliseconds=ctx.now_ms)).astimezone(GMT8)


def format_time(moment: datetime) -> str:
    return moment.astimezone(GMT8).strftime(TIME_FORMAT)
