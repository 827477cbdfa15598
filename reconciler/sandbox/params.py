"""The one parameter parser every method family reads its business parameters with.

Two halves:

* top-level form values (raw strings): :func:`text`, :func:`long`, :func:`one_of`,
  :func:`boolean`, :func:`flag`, :func:`yuan`, :func:`top_time`, :func:`day`, :func:`names`;
* JSON parameters: :func:`json_object` / :func:`json_array` parse one (JSON null = absent), and
  :class:`Fields` reads the fields of an object, naming each by its path (``param.rule_stairs[0].number``).

One rule for all: a required parameter or field that is absent or empty — also one that a flag
or a mode of the same call makes required — answers code 40 "Missing Required Arguments"
(TOP-PROTOCOL.md's table; TOP checks the method's declared required fields before the method
runs); a present but malformed or out-of-range one answers code 41 "Invalid Arguments". Both name
the parameter first in ``sub_msg``. request_params.py has already checked every value against
its page type before a handler runs, so these readers mostly convert; their own checks are the
ranges and the requirements the pages state in words. No ``METHODS`` here.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any

from reconciler.sandbox.codec import GMT8, TIME_FORMAT, json_loads
from reconciler.sandbox.context import CallContext
from reconciler.sandbox.errors import invalid_argument, missing_argument

_LONG = re.compile(r"-?[0-9]{1,18}")
YUAN_TEXT = re.compile(r"[0-9]{1,12}(\.[0-9]{1,2})?")  # a Price: yuan, at most 2 decimals
_NUMBER_TEXT = re.compile(r"[+-]?[0-9]+(\.[0-9]+)?")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- top-level form values


def text(ctx: CallContext, name: str, *, required: bool = False, max_length: int | None = None) -> str | None:
    """A String; an empty value is absent (it is not even signed), so required → code 40."""
    raw = ctx.params.get(name, "").strip()
    if raw == "":
        if required:
            raise missing_argument(name)
        return None
    if max_length is not None and len(raw) > max_length:
        raise invalid_argument(name, f"must be at most {max_length} characters, got {len(raw)}")
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


def one_of(ctx: CallContext, name: str, allowed: tuple[int, ...], *, required: bool = False) -> int | None:
    """A Number that must be one of a few codes (a type, a mode, a level)."""
    number = long(ctx, name, required=required)
    if number is not None and number not in allowed:
        raise invalid_argument(name, f"must be one of {', '.join(map(str, allowed))}, got {number}")
    return number


def boolean(ctx: CallContext, name: str, *, required: bool = False) -> bool | None:
    raw = text(ctx, name, required=required)
    if raw is None:
        return None
    if raw not in ("true", "false"):
        raise invalid_argument(name, f"must be true or false, got {raw!r}")
    return raw == "true"


def flag(ctx: CallContext, name: str) -> bool:
    """An optional Boolean switch: absent means false."""
    return boolean(ctx, name) is True


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


def names(ctx: CallContext, name: str, limit: int) -> list[str]:
    """A String[] sent comma-joined (as TOP's SDKs send plain lists); absent is an empty list."""
    raw = text(ctx, name)
    if raw is None:
        return []
    values = [part.strip() for part in raw.split(",")]
    if any(value == "" for value in values):
        raise invalid_argument(name, "has an empty entry")
    if len(values) > limit:
        raise invalid_argument(name, f"lists {len(values)} entries; at most {limit} are allowed")
    return values


def now(ctx: CallContext) -> datetime:
    """The sandbox clock as an aware datetime in GMT+8."""
    return (_EPOCH + timedelta(milliseconds=ctx.now_ms)).astimezone(GMT8)


def format_time(moment: datetime) -> str:
    return moment.astimezone(GMT8).strftime(TIME_FORMAT)


# --------------------------------------------------------------------------- JSON parameters


def _drop_nulls(value: Any) -> Any:
    """JSON null means "not set" (Java SDKs omit nulls), so nulls are removed before checks."""
    if isinstance(value, dict):
        return {key: _drop_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [_drop_nulls(item) for item in value]
    return value


def _json(ctx: CallContext, name: str, *, required: bool) -> Any:
    raw = text(ctx, name, required=required)  # request_params.py answers a missing one first
    if raw is None:
        return None
    try:
        value = json_loads(raw)
    except ValueError as exc:
        raise invalid_argument(name, f"is not valid JSON ({exc})") from exc
    return _drop_nulls(value)


def json_object(ctx: CallContext, name: str) -> dict[str, Any]:
    """A required parameter holding a JSON object (an ``X`` type on the page), nulls dropped."""
    value = _json(ctx, name, required=True)
    if not isinstance(value, dict):
        raise invalid_argument(name, "must be a JSON object")
    return value


def json_array(ctx: CallContext, name: str) -> list[Any]:
    """An optional parameter holding a JSON array (an ``X[]`` type on the page); absent is []."""
    value = _json(ctx, name, required=False)
    if value is None:
        return []
    if not isinstance(value, list):
        raise invalid_argument(name, "must be a JSON array")
    return value


def _to_int(value: Any, path: str) -> int:
    if isinstance(value, bool):  # bool is an int subclass; true is not a number here
        raise invalid_argument(path, "must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _NUMBER_TEXT.fullmatch(value.strip()):
        value = Decimal(value.strip())
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    raise invalid_argument(path, f"must be an integer, got {value!r}")


def _to_yuan(value: Any, path: str) -> Decimal:
    if isinstance(value, bool):
        raise invalid_argument(path, "must be an amount in yuan, got a boolean")
    if isinstance(value, int):
        value = Decimal(value)
    elif isinstance(value, str) and YUAN_TEXT.fullmatch(value.strip()):
        value = Decimal(value.strip())
    if isinstance(value, Decimal) and value.is_finite():
        try:
            cents = value.quantize(Decimal("0.01"))
        except InvalidOperation:
            cents = None
        if cents is not None and cents == value and value >= 0:
            return cents
    raise invalid_argument(path, f"must be a non-negative amount in yuan with at most 2 decimals, got {value!r}")


def _to_bool(value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise invalid_argument(path, f"must be true or false, got {value!r}")


def _to_text(value: Any, path: str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):  # ids sent as JSON numbers
        return str(value)
    raise invalid_argument(path, f"must be a string, got {value!r}")


def _to_text_list(value: Any, path: str) -> list[str]:
    """A String[]: a JSON array, or a comma-joined string (how SDKs send plain-value lists)."""
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = json_loads(text)
            except ValueError as exc:
                raise invalid_argument(path, f"is not a valid JSON array ({exc})") from exc
        else:
            value = [part.strip() for part in text.split(",")] if text else []
    if not isinstance(value, list):
        raise invalid_argument(path, "must be a list (JSON array or comma-joined string)")
    items = [_to_text(item, f"{path}[{index}]").strip() for index, item in enumerate(value)]
    for index, item in enumerate(items):
        if item == "":
            raise invalid_argument(f"{path}[{index}]", "must not be empty")
    return items


class Fields:
    """Checks and normalises the fields of one JSON object in place, naming each by its path.

    A required field that is absent is code 40 (as a missing top-level parameter); ``required``
    may depend on a flag of the same object (``amount`` when ``is_amount``)."""

    def __init__(self, data: dict[str, Any], path: str) -> None:
        self.data = data
        self.path = path

    def _at(self, name: str) -> str:
        return f"{self.path}.{name}"

    def _present(self, name: str, required: bool) -> bool:
        if name in self.data:
            return True
        if required:
            raise missing_argument(self._at(name))
        return False

    def integer(
        self, name: str, *, required: bool = False, minimum: int | None = 0, maximum: int | None = None
    ) -> int | None:
        if not self._present(name, required):
            return None
        number = _to_int(self.data[name], self._at(name))
        if minimum is not None and number < minimum:
            raise invalid_argument(self._at(name), f"must be at least {minimum}, got {number}")
        if maximum is not None and number > maximum:
            raise invalid_argument(self._at(name), f"must be at most {maximum}, got {number}")
        self.data[name] = number
        return number

    def one_of(self, name: str, allowed: tuple[int, ...]) -> int | None:
        number = self.integer(name, minimum=None)
        if number is not None and number not in allowed:
            raise invalid_argument(self._at(name), f"must be one of {', '.join(map(str, allowed))}, got {number}")
        return number

    def rate(self, name: str, *, enabled: bool) -> int | None:
        """A discount rate, 600 = 6折: 1..999 when its flag is on (1000 would be no discount)."""
        number = self.integer(name, required=enabled, maximum=999)
        if enabled and number is not None and number < 1:
            raise invalid_argument(self._at(name), f"must be between 1 and 999, got {number}")
        return number

    def yuan(self, name: str, *, required: bool = False) -> Decimal | None:
        if not self._present(name, required):
            return None
        amount = _to_yuan(self.data[name], self._at(name))
        self.data[name] = amount
        return amount

    def boolean(self, name: str) -> bool:
        """A Boolean field; absent means false."""
        if name not in self.data:
            return False
        flag = _to_bool(self.data[name], self._at(name))
        self.data[name] = flag
        return flag

    def text(self, name: str, *, required: bool = False) -> str | None:
        if not self._present(name, required):
            return None
        value = _to_text(self.data[name], self._at(name))
        if required and value.strip() == "":
            raise invalid_argument(self._at(name), "must not be empty")
        self.data[name] = value
        return value

    def text_list(self, name: str, *, required: bool = False, allowed: tuple[str, ...] | None = None) -> list[str]:
        if not self._present(name, required):
            return []
        items = _to_text_list(self.data[name], self._at(name))
        if required and not items:
            raise invalid_argument(self._at(name), "must not be empty")
        for index, item in enumerate(items):
            if allowed is not None and item not in allowed:
                raise invalid_argument(f"{self._at(name)}[{index}]", f"must be one of {', '.join(allowed)}")
        self.data[name] = items
        return items

    def child(self, name: str, *, required: bool = False) -> Fields | None:
        if not self._present(name, required):
            return None
        value = self.data[name]
        if not isinstance(value, dict):
            raise invalid_argument(self._at(name), "must be a JSON object")
        return Fields(value, self._at(name))

    def children(self, name: str, *, required: bool = False) -> list[Fields] | None:
        if not self._present(name, required):
            return None
        value = self.data[name]
        if not isinstance(value, list):
            raise invalid_argument(self._at(name), "must be a JSON array")
        children = []
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                raise invalid_argument(f"{self._at(name)}[{index}]", "must be a JSON object")
            children.append(Fields(item, f"{self._at(name)}[{index}]"))
        return children
