"""The TOP gateway protocol as the sandbox speaks it: checks, signatures, envelopes.

Written from /work/shared/TOP-PROTOCOL.md, independently of ``reconciler.top`` (the client):
a mistake on either side must surface as a failing contract test, not cancel out.

Gateway checks run in this order; the first failure answers ``error_response`` (HTTP 200):

====  =====================  ==========================================================
code  msg                    when
====  =====================  ==========================================================
21    Missing Method         no ``method``
22    Invalid Method         ``method`` not implemented by the sandbox
28    Missing App Key        no ``app_key``
29    Invalid App Key        ``app_key`` unknown
43    Parameter Error        ``sign_method`` not md5 / hmac / hmac-sha256 (sub_code
                             ``isv.invalid-sign-method``). Chosen over 25 so that a client
                             bug in the algorithm name is not confused with a bad digest.
                             A missing ``sign_method`` means md5 (TOP's default).
24    Missing Signature      no ``sign``
25    Invalid Signature      digest mismatch (upper-case hex expected, as every SDK sends)
30    Missing Timestamp      no ``timestamp``
31    Invalid Timestamp      unparseable, or more than 10 minutes off the sandbox clock;
                             ``yyyy-MM-dd HH:mm:ss`` (GMT+8) and epoch milliseconds accepted
32    Missing Version        no ``v``
34    Unsupported Version    ``v`` other than ``2.0``
23    Invalid Format         ``format`` missing or not ``json``: TOP's default is xml and the
                             sandbox speaks only json (the table in TOP-PROTOCOL.md numbers
                             Invalid Format 23, so 23 it is, not 22)
26    Missing Session        no ``session`` for a method that needs one
27    Invalid session        unknown ``session`` (sub_code ``invalid-sessionkey``)
====  =====================  ==========================================================

Business errors are raised by method handlers with ``errors.missing_argument`` (code 40),
``errors.invalid_argument`` (code 41) and ``errors.business_error`` (code 15, or in the body for
the item-pool family; see ``MethodSpec.refusal_in_body`` in context.py); see the family modules
(``families/``) for which is used when. Request params are checked against TOP's pages before any
handler runs (``request_params.py``). The JSON codec and the GMT+8 wall-time format are codec.py's.

Success bodies: handlers return the ``simplify=true`` form (lists as bare arrays); without
``simplify=true`` the server wraps every list first (``shapes.wrap_lists``), then
:func:`success_body` adds the ``<method>_response`` key.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import string
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from reconciler.sandbox.codec import GMT8, TIME_FORMAT, format_gmt8
from reconciler.sandbox.context import MethodSpec
from reconciler.sandbox.errors import ApiError

MAX_CLOCK_SKEW_MS = 10 * 60 * 1000
SUPPORTED_SIGN_METHODS = ("md5", "hmac", "hmac-sha256")

# Parameters the gateway consumes itself; everything else is a business parameter.
SYSTEM_PARAMS = frozenset(
    {
        "method",
        "app_key",
        "session",
        "timestamp",
        "format",
        "v",
        "sign_method",
        "sign",
        "partner_id",
        "target_app_key",
        "simplify",
    }
)


# --------------------------------------------------------------------------- time


_EPOCH_MS = re.compile(r"[0-9]{1,16}")


def parse_timestamp_ms(raw: str) -> int | None:
    """A request timestamp as epoch ms: GMT+8 wall time or epoch ms (Python SDK); None if neither."""
    text = raw.strip()
    if _EPOCH_MS.fullmatch(text):
        return int(text)
    try:
        wall = datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        return None
    return int(wall.replace(tzinfo=GMT8).timestamp() * 1000)


# --------------------------------------------------------------------------- signature


def sign(params: Mapping[str, str], secret: str, sign_method: str) -> str:
    """TOP's signature over every param except ``sign``, empty values dropped (as Java does)."""
    payload = "".join(f"{key}{value}" for key, value in sorted(params.items()) if key != "sign" and value != "")
    data, key = payload.encode("utf-8"), secret.encode("utf-8")
    if sign_method == "md5":
        return hashlib.md5(key + data + key).hexdigest().upper()
    if sign_method == "hmac":
        return hmac.new(key, data, hashlib.md5).hexdigest().upper()
    if sign_method == "hmac-sha256":
        return hmac.new(key, data, hashlib.sha256).hexdigest().upper()
    raise ValueError(f"unsupported sign_method {sign_method!r}")


# --------------------------------------------------------------------------- gateway checks


def check_request(
    params: Mapping[str, str],
    *,
    methods: Mapping[str, MethodSpec],
    app_secrets: Mapping[str, str],
    sessions: Mapping[str, str],
    now_ms: int,
) -> tuple[MethodSpec, str | None]:
    """Run the gateway checks in TOP's order; return the method and the shop, or raise ApiError."""
    spec = _check_method(params, methods)
    secret = _check_app_key(params, app_secrets)
    _check_signature(params, secret)
    _check_timestamp(params, now_ms)
    _check_version(params)
    _check_format(params)
    shop = _check_session(params, sessions) if spec.needs_session else None
    return spec, shop


def _value(params: Mapping[str, str], name: str) -> str:
    # An empty value counts as absent: it is not even part of the signature.
    return params.get(name, "").strip()


def _check_method(params: Mapping[str, str], methods: Mapping[str, MethodSpec]) -> MethodSpec:
    name = _value(params, "method")
    if not name:
        raise ApiError(21, "Missing Method")
    spec = methods.get(name)
    if spec is None:
        raise ApiError(22, "Invalid Method", "isv.invalid-method", f"the sandbox does not implement {name}")
    return spec


def _check_app_key(params: Mapping[str, str], app_secrets: Mapping[str, str]) -> str:
    app_key = _value(params, "app_key")
    if not app_key:
        raise ApiError(28, "Missing App Key")
    secret = app_secrets.get(app_key)
    if secret is None:
        raise ApiError(29, "Invalid App Key")
    return secret


def _check_signature(params: Mapping[str, str], secret: str) -> None:
    sign_method = _value(params, "sign_method") or "md5"
    if sign_method not in SUPPORTED_SIGN_METHODS:
        raise ApiError(
            43,
            "Parameter Error",
            "isv.invalid-sign-method",
            f"sign_method must be one of {', '.join(SUPPORTED_SIGN_METHODS)}",
        )
    received = _value(params, "sign")
    if not received:
        raise ApiError(24, "Missing Signature")
    expected = sign(params, secret, sign_method)
    if not hmac.compare_digest(received.encode("utf-8"), expected.encode("ascii")):
        raise ApiError(25, "Invalid Signature", "isv.invalid-signature", "sign does not match the request")


def _check_timestamp(params: Mapping[str, str], now_ms: int) -> None:
    raw = _value(params, "timestamp")
    if not raw:
        raise ApiError(30, "Missing Timestamp")
    sent_ms = parse_timestamp_ms(raw)
    if sent_ms is None:
        raise ApiError(
            31, "Invalid Timestamp", "isv.invalid-timestamp", "use yyyy-MM-dd HH:mm:ss (GMT+8) or epoch milliseconds"
        )
    if abs(sent_ms - now_ms) > MAX_CLOCK_SKEW_MS:
        raise ApiError(
            31,
            "Invalid Timestamp",
            "isv.invalid-timestamp",
            f"timestamp is more than 10 minutes off the server time {format_gmt8(now_ms)}",
        )


def _check_version(params: Mapping[str, str]) -> None:
    version = _value(params, "v")
    if not version:
        raise ApiError(32, "Missing Version")
    if version != "2.0":
        raise ApiError(34, "Unsupported Version", "isv.unsupported-version", "only v=2.0 is supported")


def _check_format(params: Mapping[str, str]) -> None:
    if _value(params, "format") != "json":
        raise ApiError(23, "Invalid Format", "isv.invalid-format", "the sandbox answers only format=json")


def _check_session(params: Mapping[str, str], sessions: Mapping[str, str]) -> str:
    session = _value(params, "session")
    if not session:
        raise ApiError(26, "Missing Session")
    shop = sessions.get(session)
    if shop is None:
        raise ApiError(27, "Invalid session", "invalid-sessionkey", "session key is invalid or expired")
    return shop


def business_params(params: Mapping[str, str]) -> dict[str, str]:
    """The params a handler sees (and the call log records): no system params, so no secrets."""
    return {key: value for key, value in params.items() if key not in SYSTEM_PARAMS}


def wants_simplify(params: Mapping[str, str]) -> bool:
    return _value(params, "simplify").lower() == "true"


# --------------------------------------------------------------------------- envelopes

_REQUEST_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_request_id() -> str:
    # Shaped like TOP's ("3nyb1kl7x3qj"-style); random so tests cannot depend on it.
    return "".join(secrets.choice(_REQUEST_ID_ALPHABET) for _ in range(13))


def response_key(method: str) -> str:
    """``taobao.time.get`` → ``time_get_response``; other prefixes (alibaba.*) are kept."""
    return method.removeprefix("taobao.").replace(".", "_") + "_response"


def success_body(method: str, fields: Mapping[str, Any], request_id: str, simplify: bool) -> dict[str, Any]:
    payload = {**fields, "request_id": request_id}
    return payload if simplify else {response_key(method): payload}


def error_body(error: ApiError, request_id: str) -> dict[str, Any]:
    # error_response stays wrapped even with simplify=true, as on TOP.
    return {"error_response": {**error.fields(), "request_id": request_id}}
