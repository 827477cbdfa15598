"""The sandbox's text forms: JSON with exact decimals, and TOP's wall clock (GMT+8).

Imports nothing of the sandbox, so the store, the parameter parser and the gateway can all use
it without an import circle (it used to live in protocol.py, which the store had to import).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

GMT8 = timezone(timedelta(hours=8))
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # TOP's Date: yyyy-MM-dd HH:mm:ss, in GMT+8


def format_gmt8(epoch_ms: int) -> str:
    """``yyyy-MM-dd HH:mm:ss`` in GMT+8, TOP's wall clock."""
    return datetime.fromtimestamp(epoch_ms / 1000, GMT8).strftime(TIME_FORMAT)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def json_loads(text: str) -> Any:
    """Parse JSON keeping every fraction exact: money is never a float here."""
    return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)


def json_dumps(value: Any) -> str:
    """Serialise JSON with Decimals written as plain numbers (the stdlib encoder cannot)."""
    if isinstance(value, dict):
        members = (f"{_dump_key(key)}:{json_dumps(item)}" for key, item in value.items())
        return "{" + ",".join(members) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(json_dumps(item) for item in value) + "]"
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as JSON")
        return format(value, "f")
    if value is None or isinstance(value, (bool, int, str)):
        return json.dumps(value, ensure_ascii=False)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def _dump_key(key: Any) -> str:
    if not isinstance(key, str):
        raise TypeError(f"JSON object keys must be strings, got {type(key).__name__}")
    return json.dumps(key, ensure_ascii=False)
