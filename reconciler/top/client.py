"""The TOP HTTP client: signed POSTs, typed errors, retries, a shared QPS budget, token refresh,
clock-skew correction, concurrent reads, call counts; no secrets in output.

One logical call, from the outside in:

    call()                   read-only check, encoding, call counts
     └ _call()               gateway repairs, each at most once per call: refresh the session on
        │                    code 26/27 (or shortly before it expires), correct the clock on code 31
        └ call_with_retries  backoff and jitter; call-limit bans; writes only when provably not run
           └ _attempt()      waits for the QPS budget; turns an unclear write failure into
              │              TopAmbiguousWriteError
              └ _send_once() one signed HTTP request: the single-attempt seam
"""

from __future__ import annotations

import functools
import logging
import ssl
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import httpx

from reconciler.errors import (
    ReadOnlyViolation,
    TopCallLimitError,
    TopError,
    TopNotSentError,
    TopPermanentError,
    TopRetryableError,
    TopSessionError,
    TopTransportError,
)
from reconciler.top.clock import INVALID_TIMESTAMP_CODE, SkewedClock, parse_http_date, parse_top_time
from reconciler.top.credentials import Credentials
from reconciler.top.encoding import encode_params, format_epoch_seconds
from reconciler.top.gateways import public_url
from reconciler.top.envelope import parse_response
from reconciler.top.methods import is_write
from reconciler.top.ratelimit import Budget
from reconciler.top.retry import RetryPolicy, ban_too_long, call_with_retries, write_failure
from reconciler.top.signing import SIGN_METHODS, sign
from reconciler.top.tokens import CREATE_METHOD, REFRESH_METHOD, SESSION_CODES, SellerSession, Token, token_result_of

logger = logging.getLogger("reconciler.top")

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded;charset=UTF-8"
SYSTEM_PARAM_NAMES = frozenset(
    {"method", "app_key", "session", "timestamp", "format", "v", "sign_method", "sign", "simplify"}
)
READ_ONLY_MESSAGE = "is a write and this client is read-only (plan/validate/drift never write)"
TIME_METHOD = "taobao.time.get"
# Failures that happen before a byte of the request left: TOP cannot have run the call.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


class _WithoutQueryStrings(logging.Filter):
    """httpx logs every request's URL at INFO, and TOP's query string carries the session: the
    URL is logged without its query instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(arg.copy_with(query=None) if isinstance(arg, httpx.URL) else arg for arg in record.args)
        return True


def _hide_query_strings_in_httpx_logs() -> None:
    httpx_logger = logging.getLogger("httpx")
    if not any(isinstance(existing, _WithoutQueryStrings) for existing in httpx_logger.filters):
        httpx_logger.addFilter(_WithoutQueryStrings())


_hide_query_strings_in_httpx_logs()


@dataclass
class CallStats:
    """Calls made through one client (logical calls, not transport attempts); safe across threads."""

    reads: int = 0
    writes: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def record(self, method: str, write: bool) -> None:
        with self._lock:
            if write:
                self.writes += 1
            else:
                self.reads += 1
            self.by_method[method] = self.by_method.get(method, 0) + 1


class TopClient:
    """Calls TOP methods. Use as a context manager, or call close().

    `retry` says how hard each call tries: the default sends every call once, so the caller
    decides; the CLI passes ClientSettings.retry. `budget` is the app's QPS budget, shared with
    every other client of the run that uses the same app key. `concurrency` bounds call_many.
    `session` supplies (and refreshes) the seller's access token; without it the client sends
    `credentials.session` and cannot refresh it. `simplify` asks for TOP's root-level answer with
    bare arrays (what TOP's newer SDKs ask for); every answer is read in either shape regardless
    (reconciler.top.answers), so False only serves tests and gateways that mishandle it.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        sign_method: str = "hmac-sha256",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        read_only: bool = False,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy | None = None,
        budget: Budget | None = None,
        concurrency: int = 1,
        session: SellerSession | None = None,
        simplify: bool = True,
    ) -> None:
        if sign_method not in SIGN_METHODS:
            raise ValueError(f"unknown sign_method {sign_method!r}; use one of {sorted(SIGN_METHODS)}")
        self._credentials = credentials
        self._sign_method = sign_method
        self._clock = SkewedClock(clock)
        self._clock_lock = threading.Lock()
        self.read_only = read_only
        self.retry = retry or RetryPolicy.single_attempt()
        self._budget = budget
        self.concurrency = max(1, concurrency)
        self._session = session or SellerSession.fixed(credentials.session)
        self._simplify = simplify
        self.stats = CallStats()
        self._http = httpx.Client(timeout=timeout, transport=transport, verify=_tls_context())
        # With httpx's own transport the budget's turn is taken as the request is written (see
        # _paced_at_write); a transport given by a test has no such hook: the turn comes before it.
        self._pace_at_write = transport is None

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

    def secret_values(self) -> tuple[str, ...]:
        """Every secret this client holds or has held (app secret, sessions, refresh tokens)."""
        return self._credentials.secret_values() + self._session.secret_values()

    # ---- public calls ----------------------------------------------------------------------

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Call `method` and return its response payload; raises a TopError subclass on failure."""
        write = is_write(method)
        if self.read_only and write:
            # Refused before any I/O, so a read-only run can never change a shop.
            raise ReadOnlyViolation(method, msg=READ_ONLY_MESSAGE)
        business = encode_params(params or {})
        _reject_system_names(business)
        self.stats.record(method, write)
        return self._call(method, business, idempotent=not write)

    def call_many(
        self, method: str, params_list: Sequence[Mapping[str, Any] | None], *, return_exceptions: bool = False,
        each: Callable[[dict[str, Any]], Any] | None = None,
    ) -> list[Any]:
        """Read `method` once per params, up to `concurrency` at a time within the QPS budget; the
        answers come back in the order of `params_list`. With return_exceptions a failed call
        leaves its TopError in its place instead of raising the first one. `each` is applied to
        every answer in the thread that received it, and its result kept instead."""
        if is_write(method):
            raise ValueError(f"call_many is for reads; {method} is a write and goes through the engine's journal")
        return call_concurrently(self.call, method, params_list, workers=self.concurrency,
                                 return_exceptions=return_exceptions, each=each)

    def exchange_code(self, code: str, uuid: str | None = None) -> Token:
        """taobao.top.auth.token.create: a seller's authorisation code for a token (no session sent).
        Allowed for a read-only client: it changes no shop."""
        self.stats.record(CREATE_METHOD, False)
        business = encode_params({"code": code, "uuid": uuid})
        answer = self._call(CREATE_METHOD, business, idempotent=True, with_session=False)
        return Token.from_token_result(token_result_of(CREATE_METHOD, answer), self._clock.now())

    def system_params(self, method: str) -> dict[str, str]:
        """The unsigned system parameters for one call, with the current session."""
        return self._system_params(method, self._session.current)

    # ---- one logical call ------------------------------------------------------------------

    def _call(self, method: str, business: dict[str, str], *, idempotent: bool, with_session: bool = True) -> dict[str, Any]:
        if with_session and self._session.refresh_due(self._clock.now()):
            self._refresh_ahead()
        repaired: set[str] = set()
        while True:
            session = self._session.current if with_session else None
            try:
                return call_with_retries(
                    functools.partial(self._attempt, method, business, session, idempotent=idempotent),
                    method=method,
                    policy=self.retry,
                )
            except TopPermanentError as exc:
                # Gateway refusals: TOP ran nothing, so even a write may be sent again once fixed.
                if not self._repair(exc, session, repaired, with_session=with_session):
                    raise

    def _refresh_ahead(self) -> None:
        """Refresh a token about to expire. If that fails, the old token may still work for a
        while: say so and go on; a code 27 later gets its own refresh and, failing that, an error."""
        try:
            self._session.refresh(self._session.current, self._exchange_refresh_token, self._clock.now)
        except TopSessionError as exc:
            logger.warning("could not refresh the access token ahead of its expiry (%s); using it while it lasts",
                           exc.sub_code or exc.code)

    def _repair(self, exc: TopPermanentError, session: str | None, repaired: set[str], *, with_session: bool) -> bool:
        """Fix what a gateway refusal says is wrong, at most once per kind and call; True = send again."""
        if exc.code in SESSION_CODES and with_session:
            if "session" in repaired or self._session.store is None:
                raise self._session.rejected(exc) from exc
            self._session.refresh(session, self._exchange_refresh_token, self._clock.now)
            repaired.add("session")
            return True
        if exc.code == INVALID_TIMESTAMP_CODE and "clock" not in repaired:
            self._correct_clock()
            repaired.add("clock")
            return True
        return False

    def _attempt(self, method: str, business: dict[str, str], session: str | None, *, idempotent: bool) -> dict[str, Any]:
        try:  # each attempt takes its turn in the QPS budget (_post)
            return self._send_once(method, business, session=session)
        except TopCallLimitError as exc:
            too_long = ban_too_long(exc, self.retry)
            if too_long is not None:
                raise too_long from exc
            if self._budget is not None and exc.ban_seconds:
                self._budget.pause(exc.ban_seconds)
            raise
        except TopRetryableError as exc:
            failure = exc if idempotent else write_failure(exc)
            if failure is exc:
                raise
            raise failure from exc

    def _send_once(self, method: str, business: dict[str, str], *, session: str | None) -> dict[str, Any]:
        """One signed attempt: the seam retries, rate limiting and repairs wrap."""
        response = self._signed_post(method, business, session)
        return parse_response(method, response.content)

    def _signed_post(self, method: str, business: dict[str, str], session: str | None) -> httpx.Response:
        system = self._system_params(method, session)
        system["sign"] = sign({**system, **business}, self._credentials.app_secret, self._sign_method)
        started = time.perf_counter()
        try:
            return self._post(method, system, business)
        finally:
            # Method and duration only: params and the query hold personal data and the session.
            logger.debug("%s took %.1f ms", method, (time.perf_counter() - started) * 1000)

    def _system_params(self, method: str, session: str | None) -> dict[str, str]:
        system = {
            "method": method,
            "app_key": self._credentials.app_key,
            "timestamp": format_epoch_seconds(self._clock.now()),
            "format": "json",
            "v": "2.0",
            "sign_method": self._sign_method,
        }
        if self._simplify:
            system["simplify"] = "true"
        if session:
            system["session"] = session
        return system

    def _post(self, method: str, system: dict[str, str], business: dict[str, str]) -> httpx.Response:
        # System params in the query and business params in the body, as the official SDKs send them.
        extensions: dict[str, Any] = {}
        if self._budget is not None:
            if self._pace_at_write:
                extensions["trace"] = _paced_at_write(self._budget)
            else:
                self._budget.acquire()
        try:
            response = self._http.post(
                self._credentials.gateway,
                params=system,
                content=urlencode(business, encoding="utf-8").encode("ascii"),
                headers={"Content-Type": FORM_CONTENT_TYPE},
                extensions=extensions,
            )
        except _NOT_SENT as exc:
            raise TopNotSentError(method, msg=f"transport error {type(exc).__name__} at "
                                  f"{public_url(self._credentials.gateway)}; the request was not sent") from exc
        except httpx.HTTPError as exc:
            # Only the class name and the gateway without its query: httpx messages can quote the
            # URL, whose query holds the session.
            raise TopTransportError(method, msg=f"transport error {type(exc).__name__} at "
                                    f"{public_url(self._credentials.gateway)}") from exc
        if response.status_code != 200:
            raise TopTransportError(method, msg=f"HTTP {response.status_code}")
        return response

    # ---- gateway repairs -------------------------------------------------------------------

    def _exchange_refresh_token(self, refresh_token: str) -> dict[str, Any]:
        self.stats.record(REFRESH_METHOD, False)
        business = encode_params({"refresh_token": refresh_token})
        answer = self._call(REFRESH_METHOD, business, idempotent=True, with_session=False)
        return token_result_of(REFRESH_METHOD, answer)

    def _correct_clock(self) -> None:
        """Measure TOP's clock once per client: taobao.time.get, or when even that is refused for
        its timestamp, the Date header of TOP's answer."""
        with self._clock_lock:
            if self._clock.measured:
                return  # another call measured it meanwhile; just send again
            self.stats.record(TIME_METHOD, False)
            sent_at = self._clock.local()
            response = self._signed_post(TIME_METHOD, {}, None)
            received_at = self._clock.local()
            self._clock.correct(_server_time(response), sent_at, received_at)


def _paced_at_write(budget: Budget) -> Callable[[str, dict[str, Any]], None]:
    """httpcore's trace hook (httpx's `trace` request extension) that waits for the call's turn in
    the QPS budget just before the request is written: after a new connection's TCP and TLS set-up,
    not before it. TOP meters calls as they arrive, and the budget's pacing holds only if calls
    arrive as paced; measured on the fleet benchmark (issue 20.6), a tenth of the calls opened a
    connection (each shop's client has its own pool) and reached the gateway 105 ms after their
    turn at the 99th percentile instead of 13 ms, bunched with the calls after them. Taken here, the
    set-up overlaps the wait. A connection that fails before the request is written takes no turn."""
    taken = False

    def trace(event: str, info: dict[str, Any]) -> None:
        nonlocal taken
        if not taken and event.endswith(".send_request_headers.started"):
            taken = True
            budget.acquire()

    return trace


@functools.cache
def _tls_context() -> ssl.SSLContext:
    # Loading the CA bundle takes ~0.1 s; every client of the process shares one context.
    return httpx.create_ssl_context()


def _server_time(response: httpx.Response) -> float:
    try:
        return parse_top_time(str(parse_response(TIME_METHOD, response.content)["time"]))
    except TopError as exc:
        if exc.code != INVALID_TIMESTAMP_CODE:
            raise
        from_header = parse_http_date(response.headers.get("date"))
        if from_header is None:
            raise TopPermanentError(
                TIME_METHOD, code=exc.code, msg="the local clock is more than 10 minutes off TOP's and TOP's time "
                "could not be read; set the system clock right",
            ) from exc
        return from_header
    except (KeyError, ValueError) as exc:
        raise TopTransportError(TIME_METHOD, msg="taobao.time.get answered without a readable time") from exc


def call_concurrently(
    call: Callable[[str, Mapping[str, Any] | None], dict[str, Any]], method: str,
    params_list: Sequence[Mapping[str, Any] | None], *, workers: int, return_exceptions: bool = False,
    each: Callable[[dict[str, Any]], Any] | None = None,
) -> list[Any]:
    """`call(method, params)` once per params, up to `workers` at a time, the answers in the order
    of `params_list` (a Caller's call_many: TopClient's, and the plan's stoppable reads). With
    return_exceptions a failed call leaves its TopError in its place instead of raising the first
    one; `each` is applied to every answer in the thread that received it, and its result kept."""
    def one(params: Mapping[str, Any] | None) -> Any:
        try:
            answer = call(method, params)
        except TopError as exc:
            if not return_exceptions:
                raise
            return exc
        return each(answer) if each is not None else answer

    workers = min(workers, len(params_list))
    if workers <= 1:
        return [one(params) for params in params_list]
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="top-read") as pool:
        futures = [pool.submit(one, params) for params in params_list]
        try:
            return [future.result() for future in futures]
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _reject_system_names(business: Mapping[str, str]) -> None:
    clashes = sorted(SYSTEM_PARAM_NAMES & business.keys())
    if clashes:
        raise ValueError(f"business params may not set system params: {', '.join(clashes)}")
