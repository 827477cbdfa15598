"""The TOP HTTP client: one signed POST per call, typed errors, call counts, no secrets in output."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx

from reconciler.errors import ReadOnlyViolation, TopTransportError
from reconciler.top.credentials import Credentials
from reconciler.top.encoding import encode_params, format_epoch_seconds
from reconciler.top.envelope import parse_response
from reconciler.top.methods import is_write
from reconciler.top.signing import SIGN_METHODS, sign

logger = logging.getLogger("reconciler.top")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
SYSTEM_PARAM_NAMES = frozenset(
    {"method", "app_key", "session", "timestamp", "format", "v", "sign_method", "sign"}
)
READ_ONLY_MESSAGE = "is a write and this client is read-only (plan/validate/drift never write)"


@dataclass
class CallStats:
    """Calls made through one client (logical calls, not transport attempts)."""

    reads: int = 0
    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)

    def record(self, method: str, write: bool) -> None:
        if write:
            self.writes += 1
        else:
            self.reads += 1
        self.by_method[method] = self.by_method.get(method, 0) + 1


class TopClient:
    """Calls TOP methods. Use as a context manager, or call close()."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        sign_method: str = "hmac-sha256",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if sign_method not in SIGN_METHODS:
            raise ValueError(f"unknown sign_method {sign_method!r}; use one of {sorted(SIGN_METHODS)}")
        self._credentials = credentials
        self._sign_method = sign_method
        self._clock = clock
        self.read_only = read_only
        self.stats = CallStats()
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return (
            f"TopClient(gateway={self._credentials.gateway!r}, app_key={self._credentials.app_key!r}, "
            f"sign_method={self._sign_method!r}, read_only={self.read_only!r})"
        )

    def __enter__(self) -> TopClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call `method` once and return its response payload; raises a TopError subclass on failure."""
        write = is_write(method)
        if self.read_only and write:
            # Refused before any I/O, so a read-only run can never change a shop.
            raise ReadOnlyViolation(method, msg=READ_ONLY_MESSAGE)
        business = encode_params(params or {})
        _reject_system_names(business)
        self.stats.record(method, write)
        return self._send_once(method, business)

    def system_params(self, method: str) -> dict[str, str]:
        """The unsigned system parameters for one call."""
        system = {
            "method": method,
            "app_key": self._credentials.app_key,
            "timestamp": format_epoch_seconds(self._clock()),
            "format": "json",
            "v": "2.0",
            "sign_method": self._sign_method,
        }
        if self._credentials.session:
            system["session"] = self._credentials.session
        return system

    def _send_once(self, method: str, business: dict[str, str]) -> dict[str, Any]:
        """One signed attempt: the seam retries and rate limiting will wrap."""
        system = self.system_params(method)
        system["sign"] = sign({**system, **business}, self._credentials.app_secret, self._sign_method)
        started = time.perf_counter()
        try:
            response = self._post(method, system, business)
        finally:
            # Method and duration only: params and the query hold personal data and the session.
            logger.debug("%s took %.1f ms", method, (time.perf_counter() - started) * 1000)
        return parse_response(method, response.content)

    def _post(self, method: str, system: dict[str, str], business: dict[str, str]) -> httpx.Response:
        # System params in the query and business params in the body, as the official SDKs send them.
        try:
            response = self._http.post(
                self._credentials.gateway,
                params=system,
                content=urlencode(business, encoding="utf-8").encode("ascii"),
                headers={"Content-Type": FORM_CONTENT_TYPE},
            )
        except httpx.HTTPError as exc:
            # Only the class name: httpx messages can quote the URL, whose query holds the session.
            raise TopTransportError(method, msg=f"transport error {type(exc).__name__}") from exc
        if response.status_code != 200:
            raise TopTransportError(method, msg=f"HTTP {response.status_code}")
        return response


def _reject_system_names(business: Mapping[str, str]) -> None:
    clashes = sorted(SYSTEM_PARAM_NAMES & business.keys())
    if clashes:
        raise ValueError(f"business params may not set system params: {', '.join(clashes)}")
