"""Reading TOP's JSON envelope: the success payload, or a typed error saying whether retrying can help.

Classification (TOP-PROTOCOL.md "Error codes"), first match wins:
    sub_code accesscontrol.limited-by-app-access-count -> TopDailyQuotaError (permanent: the daily
                                                          app quota is spent; waiting minutes won't help)
    code 4/5/6/7/8 or sub_code accesscontrol.*          -> TopCallLimitError(ban_seconds from sub_msg)
    sub_code isp.*                                      -> TopRetryableError (platform fault)
    code 10/50 without an isv.* sub_code                -> TopRetryableError (service unavailable)
    anything else (isv.*, 11-13, 15, 20-34, 40-43, ...) -> TopPermanentError (fix, don't retry)
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from reconciler.errors import (
    TopCallLimitError,
    TopError,
    TopPermanentError,
    TopRetryableError,
    TopTransportError,
)

DAILY_QUOTA_SUB_CODE = "accesscontrol.limited-by-app-access-count"
CALL_LIMIT_CODES = frozenset({4, 5, 6, 7, 8})
UNAVAILABLE_CODES = frozenset({10, 50})

_BAN_SECONDS = re.compile(r"ban will last for (\d+(?:\.\d+)?) more seconds", re.IGNORECASE)


class TopDailyQuotaError(TopPermanentError):
    """The app's daily call quota is exhausted: a call limit, but not one a retry loop should sit out."""

    def _describe(self) -> str:
        return f"{super()._describe()} - the app's daily call quota is exhausted; retry tomorrow"


def response_key(method: str) -> str:
    """`taobao.item.update.listing` -> `item_update_listing_response`; other prefixes (alibaba.) stay."""
    name = method.removeprefix("taobao.")
    return name.replace(".", "_") + "_response"


def parse_ban_seconds(sub_msg: str | None) -> float | None:
    """N from "This ban will last for N more seconds", or None when TOP did not say."""
    if not sub_msg:
        return None
    match = _BAN_SECONDS.search(sub_msg)
    return float(match.group(1)) if match else None


def _as_code(raw: Any) -> int | None:
    # TOP sends numbers, but some gateways and proxies quote them; anything else is "no code".
    if isinstance(raw, bool):
        return None
    if isinstance(raw, int):
        return raw
    if isinstance(raw, str) and raw.strip().isdigit():
        return int(raw)
    return None


def _as_text(raw: Any) -> str | None:
    return None if raw is None else str(raw)


def _error_class(code: int | None, sub_code: str) -> type[TopError]:
    if sub_code == DAILY_QUOTA_SUB_CODE:
        return TopDailyQuotaError
    if code in CALL_LIMIT_CODES or sub_code.startswith("accesscontrol."):
        return TopCallLimitError
    if sub_code.startswith("isp."):
        return TopRetryableError
    if code in UNAVAILABLE_CODES and not sub_code.startswith("isv."):
        return TopRetryableError
    return TopPermanentError


def classify_error(method: str, error: Mapping[str, Any]) -> TopError:
    """The typed exception for one `error_response` object (built only from TOP's own fields)."""
    code = _as_code(error.get("code"))
    sub_code = _as_text(error.get("sub_code"))
    sub_msg = _as_text(error.get("sub_msg"))
    fields: dict[str, Any] = {
        "code": code,
        "msg": _as_text(error.get("msg")) or "",
        "sub_code": sub_code,
        "sub_msg": sub_msg,
        "request_id": _as_text(error.get("request_id")),
    }
    error_class = _error_class(code, sub_code or "")
    if error_class is TopCallLimitError:
        return TopCallLimitError(method, ban_seconds=parse_ban_seconds(sub_msg), **fields)
    return error_class(method, **fields)


def _decode(method: str, body: bytes | str) -> dict[str, Any]:
    try:
        document = json.loads(body, parse_float=Decimal)  # money must never pass through float
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are both ValueErrors
        raise TopTransportError(method, msg="response body is not JSON") from exc
    if not isinstance(document, dict):
        raise TopTransportError(method, msg="response body is not a JSON object")
    return document


def _other_method_key(document: Mapping[str, Any], expected: str) -> bool:
    """True when the body is wrapped for a different method: a gateway or sandbox mix-up, not data."""
    return any(
        key.endswith("_response") and key != expected and isinstance(value, dict)
        for key, value in document.items()
    )


def parse_response(method: str, body: bytes | str) -> dict[str, Any]:
    """The payload of a TOP response, in either the wrapped or the `simplify=true` shape."""
    document = _decode(method, body)
    if "error_response" in document:
        error = document["error_response"]
        if not isinstance(error, dict):
            raise TopTransportError(method, msg="error_response is not a JSON object")
        raise classify_error(method, error)
    key = response_key(method)
    if key in document:
        payload = document[key]
        if not isinstance(payload, dict):
            raise TopTransportError(method, msg=f"{key} is not a JSON object")
        return payload
    if _other_method_key(document, key):
        raise TopTransportError(method, msg=f"response is not wrapped in {key}")
    return document  # simplify=true: the fields sit at the root
