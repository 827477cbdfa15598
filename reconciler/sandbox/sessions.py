"""The table of sessions the gateway accepts, and the tokens it issues and refreshes.

* The fixed demo sessions (``sandbox-session-demo-shop`` …) are always valid unless a fault
  expires them; tokens issued here are valid until their ``expires_in`` runs out or a fault
  expires them.
* Refreshing rotates the refresh token: the old one stops working, the old access token stays
  valid until it expires.

The token methods that issue into it are ``families/auth.py``; the gateway (server.py) reads it
as a Mapping of valid sessions. Its own module so the handler context (context.py) can name it
without importing a method family.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from reconciler.sandbox.errors import business_error

DEFAULT_ACCESS_TTL_S = 24 * 3600
DEFAULT_REFRESH_TTL_S = 30 * 24 * 3600
_USER_IDS = {"demo-shop": "2200000000001", "other-shop": "2200000000002"}


@dataclass
class _Grant:
    shop: str
    expires_at_ms: int


class SessionTable(Mapping[str, str]):
    """session key → shop nick, for the gateway's session check; also issues and refreshes tokens."""

    def __init__(self, static: Mapping[str, str], now_ms: Callable[[], int]) -> None:
        self._static = dict(static)
        self._now_ms = now_ms
        self._lock = threading.RLock()
        self._issued: dict[str, _Grant] = {}
        self._refresh: dict[str, _Grant] = {}
        self._expired: set[str] = set()  # fixed demo sessions a fault has expired
        self.access_ttl_s: float = DEFAULT_ACCESS_TTL_S

    # ---- the gateway's view: a Mapping of valid sessions -----------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        with self._lock:
            if key in self._expired:
                return default
            if key in self._static:
                return self._static[key]
            grant = self._issued.get(key)
            if grant is None or grant.expires_at_ms <= self._now_ms():
                return default
            return grant.shop

    def __getitem__(self, key: str) -> str:
        shop = self.get(key)
        if shop is None:
            raise KeyError(key)
        return str(shop)

    def __iter__(self) -> Iterator[str]:
        with self._lock:
            keys = list(self._static) + list(self._issued)
        return iter([key for key in keys if self.get(key) is not None])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    # ---- changes ---------------------------------------------------------------------------

    def issue(self, shop: str) -> dict[str, Any]:
        """A new access + refresh token for `shop`, as TOP's token_result fields."""
        now_ms = self._now_ms()
        access_ttl_ms = int(self.access_ttl_s * 1000)
        refresh_ttl_ms = max(access_ttl_ms, DEFAULT_REFRESH_TTL_S * 1000)
        access_token = "sbx-at-" + secrets.token_hex(16)
        refresh_token = "sbx-rt-" + secrets.token_hex(16)
        with self._lock:
            self._issued[access_token] = _Grant(shop, now_ms + access_ttl_ms)
            self._refresh[refresh_token] = _Grant(shop, now_ms + refresh_ttl_ms)
        return _token_result(shop, access_token, refresh_token, now_ms, access_ttl_ms, refresh_ttl_ms)

    def refresh(self, refresh_token: str) -> dict[str, Any]:
        with self._lock:
            grant = self._refresh.pop(refresh_token, None)
            if grant is None or grant.expires_at_ms <= self._now_ms():
                raise business_error("refresh-token-invalid", "the refresh token is unknown, used or expired")
            return self.issue(grant.shop)

    def expire_all(self) -> None:
        """Every session valid now stops working (a fault); refresh tokens keep working."""
        with self._lock:
            self._expired.update(self._static)
            now_ms = self._now_ms()
            for grant in self._issued.values():
                grant.expires_at_ms = min(grant.expires_at_ms, now_ms)

    def reset(self) -> None:
        with self._lock:
            self._issued.clear()
            self._refresh.clear()
            self._expired.clear()


def _token_result(
    shop: str, access_token: str, refresh_token: str, now_ms: int, access_ttl_ms: int, refresh_ttl_ms: int
) -> dict[str, Any]:
    expires_in, re_expires_in = access_ttl_ms // 1000, refresh_ttl_ms // 1000
    return {
        "access_token": access_token,
        "refresh_token": refresh_token,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "re_expires_in": re_expires_in,
        "r1_expires_in": expires_in,
        "r2_expires_in": expires_in,
        "w1_expires_in": expires_in,
        "w2_expires_in": expires_in,
        "expire_time": now_ms + access_ttl_ms,
        "refresh_token_valid_time": now_ms + refresh_ttl_ms,
        "r1_valid": now_ms + access_ttl_ms,
        "r2_valid": now_ms + access_ttl_ms,
        "w1_valid": now_ms + access_ttl_ms,
        "w2_valid": now_ms + access_ttl_ms,
        "taobao_user_id": _USER_IDS.get(shop, "2200000000000"),
        "taobao_user_nick": quote(shop, safe=""),
        "taobao_open_uid": "AAH" + secrets.token_hex(8),
    }
