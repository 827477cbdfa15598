"""PostgreSQL state store (psycopg 3): one store shared by a team and its CI jobs.

Chosen by RECONCILER_STATE=postgresql://user:password@host/db. Same interface and tables as the
SQLite store. Values are kept as TEXT in our exact JSON encoding rather than JSONB: psycopg reads
JSON numbers back as float, and money must round-trip as Decimal.

A shop's apply lock is a session-level advisory lock keyed by a hash of the shop name: it is held
by this store's connection and released by PostgreSQL when the connection ends, crash or not.
Migrations run inside one transaction under a transaction-level advisory lock, so two processes
opening a fresh database at once do not both create the tables.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import errors as pg_errors

from reconciler.errors import StateError
from reconciler.model import Link, ResourceKey, StateEffect
from reconciler.state.base import (
    DEFAULT_NAMESPACE,
    LockTimeoutError,
    LockWaitNotice,
    Migration,
    SqlStateStore,
    dumps,
    lock_holder_label,
    lock_key,
    lock_name,
    lock_timeout_message,
    pending_migrations,
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "links and journal", (
        """CREATE TABLE links (
            shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            remote_id TEXT NOT NULL, record TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (shop, kind, name))""",
        """CREATE TABLE journal (
            id BIGSERIAL PRIMARY KEY,
            run_id TEXT NOT NULL, shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            method TEXT NOT NULL, params TEXT NOT NULL, call TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL, answer TEXT, error TEXT,
            sent_at TIMESTAMPTZ NOT NULL DEFAULT now(), answered_at TIMESTAMPTZ)""",
        "CREATE INDEX journal_run ON journal (run_id)",
        "CREATE INDEX journal_status ON journal (status)",
    )),
    Migration(2, "applied specs, for drift detection", (
        """CREATE TABLE applied_specs (
            shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            resource TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
            PRIMARY KEY (shop, kind, name))""",
    )),
    Migration(3, "git revisions applied, for the schedule", (
        """CREATE TABLE revisions (
            id BIGSERIAL PRIMARY KEY, revision TEXT NOT NULL, command TEXT NOT NULL, recorded_at TEXT NOT NULL)""",
    )),
    # Several repositories share one database (issue 20): every row names its project, and the
    # keys of links and applied_specs include it; every earlier row goes to the default namespace.
    Migration(4, "project namespaces, so several repositories share one store", (
        "ALTER TABLE links ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
        "ALTER TABLE links DROP CONSTRAINT links_pkey",
        "ALTER TABLE links ADD PRIMARY KEY (project, shop, kind, name)",
        "ALTER TABLE applied_specs ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
        "ALTER TABLE applied_specs DROP CONSTRAINT applied_specs_pkey",
        "ALTER TABLE applied_specs ADD PRIMARY KEY (project, shop, kind, name)",
        "ALTER TABLE journal ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
        "CREATE INDEX journal_project_status ON journal (project, status)",
        "ALTER TABLE revisions ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
    )),
    # TOP_QPS_SHARED (issue 20): one QPS budget per app key for every worker and project that
    # calls with it (state/postgres_budget.py). Per app key, not per project: TOP meters the app.
    Migration(5, "shared QPS budgets, one row per app key", (
        """CREATE TABLE qps_budgets (
            app_key TEXT PRIMARY KEY,
            next_slot DOUBLE PRECISION NOT NULL DEFAULT 0,
            banned_until DOUBLE PRECISION NOT NULL DEFAULT 0,
            bans BIGINT NOT NULL DEFAULT 0)""",
    )),
)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"""
T = TypeVar("T")
_MIGRATION_LOCK = lock_key("(schema migrations)")
CONNECT_TIMEOUT_SECONDS = 10

_HOLDER_QUERY = """
SELECT a.pid, a.application_name, a.client_addr::text, a.backend_start
FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
  AND l.classid::bigint = %s AND l.objid::bigint = %s
"""


def is_postgres_url(location: str) -> bool:
    return location.startswith(("postgresql://", "postgres://"))


def safe_url(url: str) -> str:
    """The URL with its password masked, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return urlunsplit(parts._replace(netloc=netloc))


def _translated(method: Callable[..., T]) -> Callable[..., T]:
    """A database failure mid-run (connection lost, permission denied) becomes a StateError with
    the server's words, so the CLI reports it like any other error instead of a traceback."""

    @functools.wraps(method)
    def run(self: "PostgresStateStore", *args: Any, **kwargs: Any) -> T:
        try:
            return method(self, *args, **kwargs)
        except psycopg.Error as exc:
            raise StateError(f"state store {self._where}: {str(exc).strip()}") from exc

    return run


class PostgresStateStore(SqlStateStore):
    _mark = "%s"

    def __init__(self, url: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        self._where = safe_url(url)
        self.namespace = namespace
        password = urlsplit(url).password
        try:
            self._db = psycopg.connect(
                url, autocommit=True, application_name=lock_holder_label(), connect_timeout=CONNECT_TIMEOUT_SECONDS
            )
        except psycopg.Error as exc:
            message = str(exc).strip()
            if password:
                message = message.replace(password, "***")
            raise StateError(f"cannot connect to the state store {self._where}: {message}") from None
        try:
            self._migrate()
        except psycopg.Error as exc:
            self._db.close()
            raise StateError(f"cannot prepare the state store {self._where}: {str(exc).strip()}") from None
        except BaseException:
            self._db.close()
            raise

    # ---- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        # A store that is up to date is only read, so a role that may only SELECT (the plan
        # job's) can open it.
        if pending_migrations(MIGRATIONS, self._version_if_any(), self._where) == []:
            return
        with self._db.transaction():
            self._db.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            self._db.execute(_VERSION_TABLE)
            for step in pending_migrations(MIGRATIONS, self._current_version(), self._where):
                for statement in step.statements:
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT INTO schema_version (version, description) VALUES (%s, %s)", (step.version, step.description)
                )

    def _version_if_any(self) -> int:
        row = self._db.execute("SELECT to_regclass('schema_version') IS NOT NULL").fetchone()
        return self._current_version() if row and row[0] else 0

    def _current_version(self) -> int:
        row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0) if row else 0

    @_translated
    def schema_version(self) -> int:
        return self._current_version()

    # ---- links --------------------------------------------------------------------------

    @_translated
    def put(self, link: Link) -> None:
        with self._db.transaction():
            self._put(link)

    @_translated
    def remove(self, key: ResourceKey) -> None:
        with self._db.transaction():
            self._remove(key)

    def _put(self, link: Link) -> None:
        self._db.execute(
            "INSERT INTO links (project, shop, kind, name, remote_id, record, updated_at) "
            "VALUES (%s, %s, %s, %s, %s, %s, now()) "
            "ON CONFLICT (project, shop, kind, name) DO UPDATE SET remote_id = excluded.remote_id, "
            "record = excluded.record, updated_at = excluded.updated_at",
            (self.namespace, link.key.shop, link.key.kind, link.key.name, link.remote_id, dumps(link.record)),
        )

    # ---- applied specs ------------------------------------------------------------------

    @_translated
    def put_applied_spec(self, key: ResourceKey, resource: Mapping[str, Any]) -> None:
        self._db.execute(
            "INSERT INTO applied_specs (project, shop, kind, name, resource, applied_at) "
            "VALUES (%s, %s, %s, %s, %s, now()) "
            "ON CONFLICT (project, shop, kind, name) DO UPDATE SET resource = excluded.resource, "
            "applied_at = excluded.applied_at",
            (self.namespace, key.shop, key.kind, key.name, dumps(resource)),
        )

    # ---- journal ------------------------------------------------------------------------

    @_translated
    def journal_sent(
        self, run_id: str, key: ResourceKey, method: str, params: Mapping[str, Any], call: Mapping[str, Any]
    ) -> int:
        row = self._db.execute(
            "INSERT INTO journal (project, run_id, shop, kind, name, method, params, call, status) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, 'sent') RETURNING id",
            (self.namespace, run_id, key.shop, key.kind, key.name, method, dumps(params), dumps(call)),
        ).fetchone()
        assert row is not None
        return int(row[0])

    @_translated
    def journal_answered(
        self,
        entry_id: int,
        key: ResourceKey,
        answer: Mapping[str, Any],
        effects: Sequence[StateEffect],
        bound: Mapping[str, Any],
    ) -> None:
        with self._db.transaction():
            self._db.execute(
                "UPDATE journal SET status = 'ok', answer = %s, answered_at = now() WHERE id = %s AND project = %s",
                (dumps(answer), entry_id, self.namespace),
            )
            for effect in effects:
                self._apply_effect(key, effect, bound)

    @_translated
    def journal_failed(self, entry_id: int, error: str) -> None:
        self._db.execute(
            "UPDATE journal SET status = 'failed', error = %s, answered_at = now() WHERE id = %s AND project = %s",
            (error, entry_id, self.namespace),
        )

    # ---- shop locks ---------------------------------------------------------------------

    @contextmanager
    def lock(self, shop: str, timeout: float, on_wait: LockWaitNotice | None = None) -> Iterator[None]:
        key = lock_key(lock_name(shop, self.namespace))
        if not self._try_lock(key):
            holder = self._holder(key)
            if on_wait is not None:
                on_wait(holder)
            self._wait_for_lock(key, shop, timeout, holder)
        try:
            yield
        finally:
            if not self._db.closed:
                self._db.execute("SELECT pg_advisory_unlock(%s)", (key,))

    @_translated
    def _try_lock(self, key: int) -> bool:
        row = self._db.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
        return bool(row and row[0])

    @_translated
    def _wait_for_lock(self, key: int, shop: str, timeout: float, holder: str) -> None:
        # lock_timeout 0 would mean "wait forever", so a zero timeout is a failed try.
        if timeout <= 0:
            raise LockTimeoutError(lock_timeout_message(shop, timeout, holder))
        self._db.execute("SELECT set_config('lock_timeout', %s, false)", (f"{max(1, round(timeout * 1000))}ms",))
        try:
            self._db.execute("SELECT pg_advisory_lock(%s)", (key,))
        except pg_errors.LockNotAvailable:
            raise LockTimeoutError(lock_timeout_message(shop, timeout, self._holder(key))) from None
        finally:
            self._db.execute("SELECT set_config('lock_timeout', '0', false)")

    @_translated
    def _holder(self, key: int) -> str:
        unsigned = key & 0xFFFFFFFFFFFFFFFF
        row = self._db.execute(_HOLDER_QUERY, (unsigned >> 32, unsigned & 0xFFFFFFFF)).fetchone()
        if row is None:
            return "another session"
        pid, application, address, started = row
        who = application or f"database session {pid}"
        where = f" from {address}" if address else ""
        since = f", connected since {started:%Y-%m-%d %H:%M:%S %Z}" if started else ""
        return f"{who}{where}{since}"

    def close(self) -> None:
        self._db.close()

    # ---- helpers ------------------------------------------------------------------------

    @_translated
    def _rows(self, query: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = list(self._db.execute(query, args).fetchall())
        return rows

    @_translated
    def _row(self, query: str, args: Sequence[Any]) -> Sequence[Any] | None:
        return self._db.execute(query, args).fetchone()

    def _run(self, query: str, args: Sequence[Any]) -> None:
        self._db.execute(query, args)
