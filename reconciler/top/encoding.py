"""Turning Python values into TOP's string parameters (money stays Decimal, times go to GMT+8)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import simplejson

TOP_TIMEZONE = dt.timezone(dt.timedelta(hours=8), "GMT+8")
TOP_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

_SCALARS = (str, int, Decimal, dt.datetime)  # bool is an int, so it is covered too


def format_top_time(moment: dt.datetime) -> str:
    """`yyyy-MM-dd HH:mm:ss` in GMT+8; naive datetimes are refused because their zone is a guess."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: give it a timezone so it can be converted to GMT+8")
    return moment.astimezone(TOP_TIMEZONE).strftime(TOP_TIME_FORMAT)


def format_epoch_seconds(epoch_seconds: float) -> str:
    """A clock reading as TOP's `timestamp` system parameter."""
    return format_top_time(dt.datetime.fromtimestamp(epoch_seconds, tz=TOP_TIMEZONE))


def _plain_decimal(number: Decimal) -> str:
    """Exact value in positional notation: `1E+2` is valid JSON, but "100" is what TOP's parsers expect."""
    if not number.is_finite():
        raise ValueError("NaN/Infinity cannot be sent to TOP")
    return format(number, "f")


def _jsonable(value: Any, where: str) -> Any:
    """A copy of `value` that simplejson emits exactly: Decimals as raw numbers, no floats, TOP time strings."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        # RawJSON: simplejson would print str(Decimal), which switches to exponent form (1E-7).
        return simplejson.RawJSON(_plain_decimal(value))
    if isinstance(value, dt.datetime):
        return format_top_time(value)
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item, f"{where}.{key}") for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item, f"{where}[{index}]") for index, item in enumerate(value)]
    raise TypeError(_unsupported(value, where))


def _unsupported(value: Any, where: str) -> str:
    # Names the parameter and type only: values may be personal data and do not belong in errors.
    hint = " (money and rates must be decimal.Decimal, never float)" if isinstance(value, float) else ""
    return f"parameter {where}: cannot send a {type(value).__name__} to TOP{hint}"


def _to_json(value: Any, where: str) -> str:
    return str(
        simplejson.dumps(
            _jsonable(value, where),
            ensure_ascii=False,
            separators=(",", ":"),
            use_decimal=True,
            allow_nan=False,
        )
    )


def _encode_scalar(value: Any, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dt.datetime):
        return format_top_time(value)
    if isinstance(value, Decimal):
        return _plain_decimal(value)
    if isinstance(value, (str, int)):
        return str(value)
    raise TypeError(_unsupported(value, where))


def _encode_plain_list(values: list[Any] | tuple[Any, ...], where: str) -> str:
    parts = [_encode_scalar(item, f"{where}[{index}]") for index, item in enumerate(values)]
    if any("," in part for part in parts):
        # TOP splits on commas, so such an element would silently become two.
        raise ValueError(f"parameter {where}: a comma-joined list element contains a comma")
    return ",".join(parts)


def encode_value(value: Any, where: str = "value") -> str | None:
    """One parameter as TOP wants it, or None when it must not be sent at all (None or empty)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        encoded = _to_json(value, where)
    elif isinstance(value, (list, tuple)):
        if all(isinstance(item, _SCALARS) for item in value):
            encoded = _encode_plain_list(value, where)
        else:
            encoded = _to_json(value, where)
    else:
        encoded = _encode_scalar(value, where)
    return encoded or None  # our client never sends an empty param (SDKs disagree on signing them)


def encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """All business parameters as strings, dropping None and empty values."""
    encoded: dict[str, str] = {}
    for name, value in params.items():
        text = encode_value(value, name)
        if text is not None:
            encoded[name] = text
    return encoded
