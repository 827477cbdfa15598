"""Retrying TOP calls: which failures may be sent again, how long to wait, when to give up.

Reads (and token calls) are retried on every TopRetryableError: isp.* faults, code 10/50, call
limits, network failures, non-200 answers. A write is only sent again when the failure proves TOP
did not run it: a call-limit rejection, or a connection that failed before the request went out.
Any other failure of a write (isp.*, read timeout, dropped connection, 5xx) is *ambiguous*: TOP may
have run it and lost only the answer. It becomes a TopAmbiguousWriteError, which is never retried
here; the engine looks on TOP before it sends the write again.

Waits: exponential backoff with full jitter (tenacity's wait_random_exponential); a call-limit ban
waits at least the seconds TOP names, and a ban longer than `max_ban_seconds` fails at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception, wait_random_exponential

from reconciler.errors import (
    ReconcilerError,
    TopAmbiguousWriteError,
    TopCallLimitError,
    TopError,
    TopNotSentError,
    TopPermanentError,
    TopRetryableError,
)
from reconciler.i18n import _

logger = logging.getLogger("reconciler.top.retry")

T = TypeVar("T")


class SettingError(ReconcilerError):
    """An environment setting has a value that cannot be used; the message names the variable."""


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries. The defaults suit real TOP; tests shrink the waits."""

    attempts: int = 5  # tries per call for platform faults and network errors (1 = never retry)
    ban_attempts: int = 10  # tries per call while TOP keeps answering call-limit bans
    backoff: float = 0.5  # seconds; the ceiling of the random wait doubles with every retry
    max_backoff: float = 20.0  # seconds; the largest ceiling
    max_ban_seconds: float = 120.0  # a longer ban is not waited out: the run stops and says so

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.ban_attempts < 1:
            raise ValueError("attempts and ban_attempts must be at least 1")
        if self.backoff < 0 or self.max_backoff < 0 or self.max_ban_seconds < 0:
            raise ValueError("waits cannot be negative")

    @classmethod
    def single_attempt(cls) -> RetryPolicy:
        """Every call is sent once; failures are raised as they come."""
        return cls(attempts=1, ban_attempts=1)

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> RetryPolicy:
        """TOP_RETRY_ATTEMPTS, TOP_RETRY_BAN_ATTEMPTS, TOP_RETRY_BACKOFF, TOP_RETRY_MAX_BACKOFF,
        TOP_MAX_BAN_SECONDS; unset ones keep their defaults."""
        default = cls()
        return cls(
            attempts=env_int(env, "TOP_RETRY_ATTEMPTS", default.attempts),
            ban_attempts=env_int(env, "TOP_RETRY_BAN_ATTEMPTS", default.ban_attempts),
            backoff=env_float(env, "TOP_RETRY_BACKOFF", default.backoff),
            max_backoff=env_float(env, "TOP_RETRY_MAX_BACKOFF", default.max_backoff),
            max_ban_seconds=env_float(env, "TOP_MAX_BAN_SECONDS", default.max_ban_seconds),
        )


def env_int(env: Mapping[str, str], name: str, default: int, minimum: int = 1) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingError(_("{name} must be a whole number, got {raw!r}").format(name=name, raw=raw)) from None
    if value < minimum:
        raise SettingError(_("{name} must be at least {minimum}, got {value}").format(name=name, minimum=minimum, value=value))
    return value


def env_float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingError(_("{name} must be a number of seconds, got {raw!r}").format(name=name, raw=raw)) from None
    if value < 0 or value != value:  # NaN is not a wait
        raise SettingError(_("{name} must be zero or more, got {raw!r}").format(name=name, raw=raw))
    return value


# ---- deciding what a failure means ----------------------------------------------------------


def proves_not_run(exc: TopError) -> bool:
    """True when TOP certainly did not run the call: it was refused at the gate, or never sent."""
    return isinstance(exc, (TopCallLimitError, TopNotSentError))


def write_failure(exc: TopRetryableError) -> TopRetryableError:
    """The error a failed *write* raises: unchanged when re-sending is safe, else ambiguous."""
    if proves_not_run(exc):
        return exc
    ambiguous = TopAmbiguousWriteError(
        exc.method,
        code=exc.code,
        msg=f"the answer was lost, so TOP may or may not have made this change ({exc.msg or type(exc).__name__})",
        sub_code=exc.sub_code,
        sub_msg=exc.sub_msg,
        request_id=exc.request_id,
    )
    ambiguous.__cause__ = exc
    return ambiguous


def ban_too_long(exc: TopCallLimitError, policy: RetryPolicy) -> TopPermanentError | None:
    """A ban longer than the policy waits out becomes a permanent error that says so."""
    if exc.ban_seconds is None or exc.ban_seconds <= policy.max_ban_seconds:
        return None
    error = TopPermanentError(
        exc.method,
        code=exc.code,
        msg=(
            f"TOP banned this app's calls for {exc.ban_seconds:g} s, longer than the "
            f"{policy.max_ban_seconds:g} s a run waits (TOP_MAX_BAN_SECONDS); try again later"
        ),
        sub_code=exc.sub_code,
        sub_msg=exc.sub_msg,
        request_id=exc.request_id,
    )
    error.__cause__ = exc
    return error


# ---- the retry loop -------------------------------------------------------------------------


def _worth_retrying(exc: BaseException) -> bool:
    return isinstance(exc, TopRetryableError) and not isinstance(exc, TopAmbiguousWriteError)


def _stop(policy: RetryPolicy) -> Callable[[RetryCallState], bool]:
    def stop(state: RetryCallState) -> bool:
        failure = state.outcome.exception() if state.outcome else None
        limit = policy.ban_attempts if isinstance(failure, TopCallLimitError) else policy.attempts
        return state.attempt_number >= limit

    return stop


def _wait(policy: RetryPolicy) -> Callable[[RetryCallState], float]:
    backoff = wait_random_exponential(multiplier=policy.backoff, max=policy.max_backoff)

    def wait(state: RetryCallState) -> float:
        delay = float(backoff(state))
        failure = state.outcome.exception() if state.outcome else None
        if isinstance(failure, TopCallLimitError) and failure.ban_seconds:
            delay = max(delay, failure.ban_seconds)
        return delay

    return wait


def _describe(failure: BaseException | None) -> str:
    # TOP's code and sub_code only: enough to see what happened, nothing from the request.
    if isinstance(failure, TopError):
        parts = [type(failure).__name__]
        if failure.code is not None:
            parts.append(f"code {failure.code}")
        if failure.sub_code:
            parts.append(failure.sub_code)
        elif failure.msg:
            parts.append(failure.msg)
        return " ".join(parts)
    return type(failure).__name__


def _log_retry(method: str) -> Callable[[RetryCallState], None]:
    def before_sleep(state: RetryCallState) -> None:
        failure = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        logger.info("%s: %s; attempt %d failed, retrying in %.2f s", method, _describe(failure), state.attempt_number, wait)

    return before_sleep


def call_with_retries(
    attempt: Callable[[], T],
    *,
    method: str,
    policy: RetryPolicy,
) -> T:
    """Run `attempt` until it succeeds, fails for good, or the policy gives up (last error raised)."""
    retrying = Retrying(
        retry=retry_if_exception(_worth_retrying),
        stop=_stop(policy),
        wait=_wait(policy),
        before_sleep=_log_retry(method),
        reraise=True,
    )
    try:
        return retrying(attempt)
    except TopRetryableError as exc:
        tries = retrying.statistics.get("attempt_number", 1)
        if tries > 1 and _worth_retrying(exc):
            logger.warning("%s: giving up after %d attempts (%s)", method, tries, _describe(exc))
        raise
