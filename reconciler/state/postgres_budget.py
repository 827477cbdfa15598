"""An app key's shared QPS budget as one PostgreSQL row (see reconciler.state.budget for why).

Table `qps_budgets` (state/postgres.py migrations): app_key, next_slot and banned_until (epoch
seconds of the database's clock), bans (distinct bans met, for operators). GCRA with a burst of one:
a call takes slot = max(next_slot, banned_until, now) and moves next_slot one interval past it.
Every step is a single statement in its own transaction (autocommit), atomic under the row lock, on
a connection of its own so that it never waits behind the store's transactions.
"""

from __future__ import annotations

from typing import Any

import psycopg

from reconciler.errors import StateError
from reconciler.state.base import lock_holder_label
from reconciler.state.postgres import CONNECT_TIMEOUT_SECONDS, safe_url

_NOW = "extract(epoch FROM clock_timestamp())::double precision"

_CREATE_ROW = "INSERT INTO qps_budgets (app_key) VALUES (%(app)s) ON CONFLICT (app_key) DO NOTHING"

_TAKE_SLOT = f"""
UPDATE qps_budgets AS b SET next_slot = GREATEST(b.next_slot, b.banned_until, clock.t) + %(interval)s
FROM (SELECT {_NOW} AS t) AS clock
WHERE b.app_key = %(app)s
RETURNING b.next_slot - %(interval)s - clock.t"""

# The CTE locks the row and reads the ban in force before the UPDATE, so the answer says whether
# this report starts a new ban (calls already on their way come back banned too: not a new one).
_BAN = f"""
WITH old AS (SELECT banned_until, {_NOW} AS t FROM qps_budgets WHERE app_key = %(app)s FOR UPDATE)
UPDATE qps_budgets AS b SET
    banned_until = GREATEST(b.banned_until, old.t + %(seconds)s),
    next_slot = GREATEST(b.next_slot, old.t + %(seconds)s),
    bans = b.bans + CASE WHEN old.banned_until <= old.t THEN 1 ELSE 0 END
FROM old WHERE b.app_key = %(app)s
RETURNING old.banned_until <= old.t"""

_SLIP = "UPDATE qps_budgets SET next_slot = next_slot + %(seconds)s WHERE app_key = %(app)s"

_BAN_REMAINING = f"SELECT GREATEST(0, banned_until - {_NOW}) FROM qps_budgets WHERE app_key = %(app)s"


class PostgresSlots:
    """reconciler.top.ratelimit.SharedSlots in the PostgreSQL state store."""

    def __init__(self, url: str, app_key: str) -> None:
        self._where = safe_url(url)
        self._app = app_key
        try:
            self._db = psycopg.connect(
                url, autocommit=True, application_name=lock_holder_label(), connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except psycopg.Error:
            raise StateError(f"cannot connect to the state store {self._where} for the shared QPS budget") from None
        try:
            self._value(_CREATE_ROW, {})
        except BaseException:
            self._db.close()
            raise

    def take_slot(self, interval: float) -> float:
        return float(self._value(_TAKE_SLOT, {"interval": interval}))

    def ban(self, seconds: float) -> bool:
        return bool(self._value(_BAN, {"seconds": seconds}))

    def ban_remaining(self) -> float:
        return float(self._value(_BAN_REMAINING, {}))

    def slip(self, seconds: float) -> None:
        self._value(_SLIP, {"seconds": seconds})

    def close(self) -> None:
        self._db.close()

    def _value(self, query: str, args: dict[str, Any]) -> Any:
        try:
            cursor = self._db.execute(query, {"app": self._app, **args})
            row = cursor.fetchone() if cursor.description else None
        except psycopg.errors.InsufficientPrivilege as exc:
            # A plan job's role that may only SELECT: it calls TOP too, so it takes turns as well.
            raise StateError(
                f"shared QPS budget in the state store {self._where}: {str(exc).strip()}; with TOP_QPS_SHARED=1 "
                "every role that calls TOP needs GRANT INSERT, UPDATE ON qps_budgets"
            ) from exc
        except psycopg.Error as exc:
            raise StateError(f"shared QPS budget in the state store {self._where}: {str(exc).strip()}") from exc
        return row[0] if row else None
