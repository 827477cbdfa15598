"""How the TOP clients of one run behave, built once from the environment by the CLI.

    TOP_QPS                calls per second per app for the whole run (default 10; raise it to
                           your app's quota)
    TOP_QPS_SHARED         1: TOP_QPS is the budget of every worker of the app key together, kept in
                           the PostgreSQL state store, or with SQLite in a file for the machine
                           (reconciler.state.budget); default 0: the budget of this process
    TOP_CONCURRENCY        reads in flight at once, up to the QPS budget (default 8)
    TOP_TIMEOUT            seconds to wait for TOP's answer (default 10; connecting: 5)
    TOP_TOKEN_FILE         where `reconciler auth` keeps tokens (default .reconciler/token.json)
    TOP_SIMPLIFY           false: ask TOP for its wrapped answer shape instead of simplify=true
                           (default true; the client reads both, this only chooses which is asked for)
    TOP_RETRY_*, TOP_MAX_BAN_SECONDS   see RetryPolicy.from_env
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from reconciler.top.retry import RetryPolicy, env_float, env_int
from reconciler.top.tokens import TokenFile

DEFAULT_QPS = 10
DEFAULT_CONCURRENCY = 8
DEFAULT_READ_TIMEOUT = 10.0
CONNECT_TIMEOUT = 5.0


@dataclass(frozen=True)
class ClientSettings:
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    qps: int = DEFAULT_QPS
    qps_shared: bool = False  # TOP_QPS_SHARED
    concurrency: int = DEFAULT_CONCURRENCY
    read_timeout: float = DEFAULT_READ_TIMEOUT
    token_file: TokenFile = field(default_factory=lambda: TokenFile.from_env({}))
    simplify: bool = True

    @property
    def timeout(self) -> httpx.Timeout:
        return httpx.Timeout(self.read_timeout, connect=min(CONNECT_TIMEOUT, self.read_timeout or CONNECT_TIMEOUT))

    @property
    def workers(self) -> int:
        """Concurrent reads never exceed the budget: more threads would only queue on it."""
        return max(1, min(self.concurrency, self.qps))

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> ClientSettings:
        return cls(
            retry=RetryPolicy.from_env(env),
            qps=env_int(env, "TOP_QPS", DEFAULT_QPS),
            qps_shared=_env_bool(env, "TOP_QPS_SHARED", False),
            concurrency=env_int(env, "TOP_CONCURRENCY", DEFAULT_CONCURRENCY),
            read_timeout=env_float(env, "TOP_TIMEOUT", DEFAULT_READ_TIMEOUT) or DEFAULT_READ_TIMEOUT,
            token_file=TokenFile.from_env(env),
            simplify=_env_bool(env, "TOP_SIMPLIFY", True),
        )


def _env_bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ValueError(f"{name} must be true or false, got {raw!r}")
