"""Strict request parameters, for every method, from TOP's doc pages (``evidence/methods/*.json``).

The server runs :func:`check_request_params` before any handler, so every family refuses the
same client mistakes the same way and a client bug cannot pass silently (issue 14, point 6):

* a business parameter the page does not list → code 41 ``isv.invalid-parameter``;
* a required parameter absent or empty → code 40 ``isv.missing-parameter`` (nested required
  fields of a JSON object parameter too, named by their path: ``param.rule_stairs[0].number``);
* a value of the wrong type → code 41, ``sub_msg`` ``<path>: <what is wrong>``.

Types, as the pages name them, and what the wire must carry:

==========================  ================================  ================================
page type                   top-level form value              inside a JSON object parameter
==========================  ================================  ================================
Number                      whole number ``-12``, ``700``     JSON integer (not "700", not 7.5)
String                      any text                          JSON string
Boolean                     ``true`` / ``false``              JSON true / false
Date                        ``yyyy-MM-dd HH:mm:ss``           the same, as a JSON string
Price                       yuan, at most 2 decimals          the same, as a JSON string
Number[] / String[]         comma-joined ``1,2`` (the SDKs    JSON array of integers / strings
                            join plain lists with commas; a   (a comma string is refused)
                            JSON array ``[1,2]`` is refused)
X, X[] (objects)            JSON text of an object / array   JSON object / array of objects
                            of objects (a comma string is
                            refused); fields per subParams
==========================  ================================  ================================

Choices where the pages are silent or TOP is more lenient (stricter on purpose, so a client
mistake shows here and not in a real shop):

* "Number" on TOP's pages covers Long and Double alike; every Number of the emulated methods is an
  id, a count, a fen amount, a rate (800 = 8折) or itempool additem's ``decrease_money`` (【元】,
  typed Number, so whole yuan): the sandbox takes whole numbers only.
* TOP's Java backend may coerce ``"700"`` to a Long or ignore unknown fields; the sandbox refuses
  both, inside JSON objects too (a misspelt field would otherwise drop a discount silently).
* JSON ``null`` inside an object counts as absent (Java SDKs leave nulls out).
* Some params are typed String but hold comma-joined lists (their pages: 多个...用“,”分隔):
  :data:`COMMA_LIST_STRINGS`; a JSON array there is refused like for String[].

Business rules (ranges, enums, flags that need a value) stay in the handlers. No ``METHODS`` here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from reconciler.sandbox.codec import TIME_FORMAT, json_loads
from reconciler.sandbox.errors import invalid_argument, missing_argument
from reconciler.sandbox.params import YUAN_TEXT
from reconciler.sandbox.specs import request_params

# String params whose pages describe a comma-joined list (fields, seller_cids: "多个之间用“,”分隔";
# promotionmisc range ids: "多个id用逗号隔开").
COMMA_LIST_STRINGS = frozenset({"fields", "seller_cids", "ids"})
PLAIN_TYPES = frozenset({"Number", "String", "Boolean", "Date", "Price"})
_WHOLE = re.compile(r"-?[0-9]{1,19}")


def check_request_params(method: str, params: Mapping[str, str]) -> None:
    """Raise the ApiError TOP would answer for these business params; None when they are well-formed."""
    documented = request_params(method)
    if documented is None:
        return  # no page for this method: nothing to check against
    by_name = {param["name"]: param for param in documented}
    for name in params:
        if name not in by_name:
            raise invalid_argument(name, f"is not a parameter of {method}")
    for name, param in by_name.items():
        raw = params.get(name, "").strip()
        if raw == "":  # an empty value is not even signed: TOP sees it as absent
            if param.get("required"):
                raise missing_argument(name)
            continue
        _check_form_value(raw, param, name)


# --------------------------------------------------------------------------- top-level form values


def _check_form_value(raw: str, param: Mapping[str, Any], path: str) -> None:
    kind: str = param["type"]
    if kind in PLAIN_TYPES:
        if kind == "String" and path in COMMA_LIST_STRINGS and raw.startswith("["):
            raise invalid_argument(path, f"is a comma-joined list: send 1,2 rather than a JSON array, got {raw!r}")
        _check_plain_text(raw, kind, path)
        return
    element = kind[:-2] if kind.endswith("[]") else None
    if element in PLAIN_TYPES:
        if raw.startswith("["):
            raise invalid_argument(path, f"is a {kind}: send its values comma-joined (1,2), not a JSON array")
        for index, part in enumerate(raw.split(",")):
            _check_plain_text(part.strip(), element, f"{path}[{index}]")
        return
    try:
        value = json_loads(raw)
    except ValueError:
        shape = "a JSON array of objects" if element else "a JSON object"
        raise invalid_argument(path, f"is a {kind}: send it as JSON text ({shape}), got {_short(raw)}") from None
    _check_json_value(value, param, path)


def _check_plain_text(text: str, kind: str, path: str) -> None:
    if text == "":
        raise invalid_argument(path, "has an empty value")
    if kind == "Number" and not _WHOLE.fullmatch(text):
        raise invalid_argument(path, f"must be a whole number (Number), got {_short(text)}")
    if kind == "Boolean" and text not in ("true", "false"):
        raise invalid_argument(path, f"must be true or false (Boolean), got {_short(text)}")
    if kind == "Date":
        _check_date(text, path)
    if kind == "Price" and not YUAN_TEXT.fullmatch(text):
        raise invalid_argument(path, f"must be yuan with at most 2 decimals (Price), got {_short(text)}")


def _check_date(text: str, path: str) -> None:
    try:
        datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        raise invalid_argument(path, f"must be yyyy-MM-dd HH:mm:ss (Date, GMT+8), got {_short(text)}") from None


# --------------------------------------------------------------------------- values inside JSON


def _check_json_value(value: Any, param: Mapping[str, Any], path: str) -> None:
    kind: str = param["type"]
    if kind in PLAIN_TYPES:
        _check_json_plain(value, kind, path)
        return
    if kind.endswith("[]"):
        if not isinstance(value, list):
            how = "a comma-joined string" if isinstance(value, str) else _json_kind(value)
            raise invalid_argument(path, f"is a {kind}: inside JSON it must be a JSON array, got {how}")
        element = {**param, "type": kind[:-2]}
        for index, item in enumerate(value):
            if item is None:
                raise invalid_argument(f"{path}[{index}]", "must not be null")
            _check_json_value(item, element, f"{path}[{index}]")
        return
    if not isinstance(value, dict):
        raise invalid_argument(path, f"is a {kind}: it must be a JSON object, got {_json_kind(value)}")
    _check_object(value, param.get("subParams") or [], kind, path)


def _check_object(value: Mapping[str, Any], fields: list[dict[str, Any]], kind: str, path: str) -> None:
    by_name = {field["name"]: field for field in fields}
    for name in value:
        if name not in by_name:
            raise invalid_argument(f"{path}.{name}", f"is not a field of {kind}")
    for name, field in by_name.items():
        item = value.get(name)
        if item is None:  # JSON null means "not set"
            if field.get("required"):
                raise missing_argument(f"{path}.{name}")
            continue
        _check_json_value(item, field, f"{path}.{name}")


def _check_json_plain(value: Any, kind: str, path: str) -> None:
    if kind == "Number":
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not whole and isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
            whole = True  # 700.0 is still a whole number
        if not whole:
            raise invalid_argument(path, f"must be a JSON whole number (Number), got {_json_kind(value)} {_short(value)}")
    elif kind == "Boolean":
        if not isinstance(value, bool):
            raise invalid_argument(path, f"must be JSON true or false (Boolean), got {_json_kind(value)} {_short(value)}")
    elif not isinstance(value, str):  # String, Date and Price travel as JSON strings
        raise invalid_argument(path, f"must be a JSON string ({kind}), got {_json_kind(value)} {_short(value)}")
    elif kind == "Date":
        _check_date(value, path)
    elif kind == "Price" and not YUAN_TEXT.fullmatch(value):
        raise invalid_argument(path, f"must be yuan with at most 2 decimals (Price), got {_short(value)}")


def _json_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, Decimal)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "null"


def _short(value: Any) -> str:
    text = repr(value if not isinstance(value, Decimal) else format(value, "f"))
    return text if len(text) <= 40 else text[:37] + "..."
