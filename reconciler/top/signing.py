"""TOP request signatures (md5, hmac = HMAC-MD5, hmac-sha256) over the sorted key+value string."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

SIGN_METHODS: frozenset[str] = frozenset({"md5", "hmac", "hmac-sha256"})


def string_to_sign(params: Mapping[str, str]) -> str:
    """concat(key + value) over sorted keys; `sign` and empty values are skipped as TOP's Java SDK does."""
    return "".join(
        f"{key}{params[key]}" for key in sorted(params) if key != "sign" and params[key] != ""
    )


def sign(params: Mapping[str, str], secret: str, sign_method: str) -> str:
    """The upper-case hex signature TOP expects in the `sign` parameter."""
    message = string_to_sign(params).encode("utf-8")
    key = secret.encode("utf-8")
    if sign_method == "md5":
        digest = hashlib.md5(key + message + key).hexdigest()
    elif sign_method == "hmac":
        digest = hmac.new(key, message, hashlib.md5).hexdigest()
    elif sign_method == "hmac-sha256":
        digest = hmac.new(key, message, hashlib.sha256).hexdigest()
    else:
        raise ValueError(f"unknown sign_method {sign_method!r}; use one of {sorted(SIGN_METHODS)}")
    return digest.upper()
