"""SQLite state store: one file, no server, the default for one person or one CI job.

Shop locks are file locks (filelock: flock on POSIX, msvcrt on Windows, so the module imports on
any OS) on one file per shop in `<database>.locks/` next to the database, with the holder's
name in a `.holder` file beside it: they work across processes on one machine and the kernel
releases them when the holding process dies, so a crashed apply never leaves a shop locked. (A lock row in the database
would either need BEGIN IMMEDIATE held for the whole apply, blocking every other writer, or
a stale-lock timeout.) Teams whose applies run on several machines use PostgreSQL.
"""

from __future__ import annotations

import hashlib
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from reconciler.errors import StateError
from reconciler.i18n import _
from reconciler.model import Link, ResourceKey, StateEffect
from reconciler.state.base import (
    DEFAULT_NAMESPACE,
    LockTimeoutError,
    LockWaitNotice,
    Migration,
    SqlStateStore,
    dumps,
    lock_holder_label,
    lock_name,
    lock_timeout_message,
    pending_migrations,
)

MIGRATIONS: tuple[Migration, ...] = (
    # Version 1 is the schema from before versioning; IF NOT EXISTS lets such stores adopt it as is.
    Migration(1, "links and journal", (
        """CREATE TABLE IF NOT EXISTS links (
            shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            remote_id TEXT NOT NULL, record TEXT NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (shop, kind, name))""",
        """CREATE TABLE IF NOT EXISTS journal (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            run_id TEXT NOT NULL, shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            method TEXT NOT NULL, params TEXT NOT NULL, call TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL, answer TEXT, error TEXT,
            sent_at REAL NOT NULL, answered_at REAL)""",
        "CREATE INDEX IF NOT EXISTS journal_run ON journal (run_id)",
        "CREATE INDEX IF NOT EXISTS journal_status ON journal (status)",
    )),
    Migration(2, "applied specs, for drift detection", (
        """CREATE TABLE applied_specs (
            shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            resource TEXT NOT NULL, applied_at REAL NOT NULL,
            PRIMARY KEY (shop, kind, name))""",
    )),
    Migration(3, "git revisions applied, for the schedule", (
        """CREATE TABLE revisions (
            id INTEGER PRIMARY KEY AUTOINCREMENT, revision TEXT NOT NULL, command TEXT NOT NULL, recorded_at TEXT NOT NULL)""",
    )),
    # Several repositories may share one store (issue 20): every row names its project. SQLite
    # cannot change a primary key in place, so links and applied_specs are copied into new tables
    # keyed by (project, shop, kind, name); every earlier row goes to the default namespace.
    Migration(4, "project namespaces, so several repositories share one store", (
        """CREATE TABLE links_v4 (
            project TEXT NOT NULL DEFAULT 'default', shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            remote_id TEXT NOT NULL, record TEXT NOT NULL, updated_at REAL NOT NULL,
            PRIMARY KEY (project, shop, kind, name))""",
        """INSERT INTO links_v4 (project, shop, kind, name, remote_id, record, updated_at)
            SELECT 'default', shop, kind, name, remote_id, record, updated_at FROM links""",
        "DROP TABLE links",
        "ALTER TABLE links_v4 RENAME TO links",
        """CREATE TABLE applied_specs_v4 (
            project TEXT NOT NULL DEFAULT 'default', shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
            resource TEXT NOT NULL, applied_at REAL NOT NULL,
            PRIMARY KEY (project, shop, kind, name))""",
        """INSERT INTO applied_specs_v4 (project, shop, kind, name, resource, applied_at)
            SELECT 'default', shop, kind, name, resource, applied_at FROM applied_specs""",
        "DROP TABLE applied_specs",
        "ALTER TABLE applied_specs_v4 RENAME TO applied_specs",
        "ALTER TABLE journal ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
        "CREATE INDEX journal_project_status ON journal (project, status)",
        "ALTER TABLE revisions ADD COLUMN project TEXT NOT NULL DEFAULT 'default'",
    )),
    # PostgreSQL's migration 5 adds the shared QPS budgets (TOP_QPS_SHARED); with SQLite that
    # budget is a file for the whole machine (state/budget.py), so here the step only keeps both
    # stores at one schema version.
    Migration(5, "shared QPS budgets (a file with SQLite: nothing to change)", ()),
)

_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY, description TEXT NOT NULL, applied_at REAL NOT NULL)"""

LOCK_POLL_SECONDS = 0.05
OPEN_TIMEOUT_SECONDS = 30


def _use_wal(db: sqlite3.Connection) -> None:
    """PRAGMA journal_mode=WAL, retried while "database is locked". When several processes open a
    new file at once (two applies started together), SQLite can refuse the switch at once rather
    than after its busy timeout (seen about once in a hundred three-way opens); the mode is
    stored in the file, so the first switch serves every later opener."""
    deadline = time.monotonic() + OPEN_TIMEOUT_SECONDS
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(LOCK_POLL_SECONDS)


class SqliteStateStore(SqlStateStore):
    _mark = "?"

    def __init__(self, path: str, namespace: str = DEFAULT_NAMESPACE) -> None:
        self.path = path
        self.namespace = namespace
        try:
            if path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # check_same_thread off: apply sends changes from worker threads and serialises its
            # store calls itself (engine/apply.py), so the connection is never used concurrently.
            self._db = sqlite3.connect(path, timeout=OPEN_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
            _use_wal(self._db)
        except sqlite3.Error as exc:
            raise StateError(_("cannot open state store {path}: {error}").format(path=path, error=exc)) from exc
        try:
            self._migrate()
        except sqlite3.Error as exc:
            self._db.close()
            raise StateError(_("cannot open state store {path}: {error}").format(path=path, error=exc)) from exc
        except BaseException:
            self._db.close()
            raise
        self._lock_dir = Path(path + ".locks") if path != ":memory:" else Path(tempfile.mkdtemp(prefix="reconciler-locks-"))

    # ---- schema -------------------------------------------------------------------------

    def _migrate(self) -> None:
        # A store that is up to date is only read, so a read-only file can be planned against.
        if pending_migrations(MIGRATIONS, self._version_if_any(), self.path) == []:
            return
        with self._transaction():
            self._db.execute(_VERSION_TABLE)
            for step in pending_migrations(MIGRATIONS, self._current_version(), self.path):
                for statement in step.statements:
                    self._db.execute(statement)
                self._db.execute(
                    "INSERT INTO schema_version (version, description, applied_at) VALUES (?, ?, ?)",
                    (step.version, step.description, time.time()),
                )

    def _version_if_any(self) -> int:
        row = self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'").fetchone()
        return self._current_version() if row else 0

    def _current_version(self) -> int:
        row = self._db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        return int(row[0] or 0)

    def schema_version(self) -> int:
        return self._current_version()

    # ---- links --------------------------------------------------------------------------

    def put(self, link: Link) -> None:
        with self._transaction():
            self._put(link)

    def remove(self, key: ResourceKey) -> None:
        with self._transaction():
            self._remove(key)

    def _put(self, link: Link) -> None:
        self._db.execute(
            "INSERT INTO links (project, shop, kind, name, remote_id, record, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (project, shop, kind, name) DO UPDATE SET remote_id = excluded.remote_id, "
            "record = excluded.record, updated_at = excluded.updated_at",
            (self.namespace, link.key.shop, link.key.kind, link.key.name, link.remote_id, dumps(link.record), time.time()),
        )

    # ---- applied specs ------------------------------------------------------------------

    def put_applied_spec(self, key: ResourceKey, resource: Mapping[str, Any]) -> None:
        with self._transaction():
            self._db.execute(
                "INSERT INTO applied_specs (project, shop, kind, name, resource, applied_at) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (project, shop, kind, name) DO UPDATE SET resource = excluded.resource, "
                "applied_at = excluded.applied_at",
                (self.namespace, key.shop, key.kind, key.name, dumps(resource), time.time()),
            )

    # ---- journal ------------------------------------------------------------------------

    def journal_sent(
        self, run_id: str, key: ResourceKey, method: str, params: Mapping[str, Any], call: Mapping[str, Any]
    ) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO journal (project, run_id, shop, kind, name, method, params, call, status, sent_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'sent', ?)",
                (self.namespace, run_id, key.shop, key.kind, key.name, method, dumps(params), dumps(call), time.time()),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def journal_answered(
        self,
        entry_id: int,
        key: ResourceKey,
        answer: Mapping[str, Any],
        effects: Sequence[StateEffect],
        bound: Mapping[str, Any],
    ) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE journal SET status = 'ok', answer = ?, answered_at = ? WHERE id = ? AND project = ?",
                (dumps(answer), time.time(), entry_id, self.namespace),
            )
            for effect in effects:
                self._apply_effect(key, effect, bound)

    def journal_failed(self, entry_id: int, error: str) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE journal SET status = 'failed', error = ?, answered_at = ? WHERE id = ? AND project = ?",
                (error, time.time(), entry_id, self.namespace),
            )

    # ---- shop locks ---------------------------------------------------------------------

    @contextmanager
    def lock(self, shop: str, timeout: float, on_wait: LockWaitNotice | None = None) -> Iterator[None]:
        self._lock_dir.mkdir(parents=True, exist_ok=True)
        # Shop names may hold any character; the project's namespace is part of the name.
        name = hashlib.sha256(lock_name(shop, self.namespace).encode("utf-8")).hexdigest()[:24]
        holder_file = self._lock_dir / f"{name}.holder"
        # One lock object per call, never shared between threads: a second apply of the same shop
        # in this process waits like one in another process.
        file_lock = FileLock(str(self._lock_dir / f"{name}.lock"), thread_local=False)
        self._acquire(file_lock, holder_file, shop, timeout, on_wait)
        try:
            since = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
            holder_file.write_text(f"{lock_holder_label()}, since {since}", encoding="utf-8")
            yield
        finally:
            holder_file.unlink(missing_ok=True)
            file_lock.release()

    @staticmethod
    def _acquire(file_lock: FileLock, holder_file: Path, shop: str, timeout: float, on_wait: LockWaitNotice | None) -> None:
        deadline = time.monotonic() + timeout
        told = False
        while True:
            try:
                file_lock.acquire(timeout=0)
                return
            except Timeout:
                holder = _read_holder(holder_file)
                if not told and on_wait is not None:
                    on_wait(holder)
                    told = True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise LockTimeoutError(lock_timeout_message(shop, timeout, holder)) from None
                time.sleep(min(LOCK_POLL_SECONDS, remaining))

    def close(self) -> None:
        self._db.close()

    # ---- helpers ------------------------------------------------------------------------

    def _rows(self, query: str, args: Sequence[Any]) -> list[Sequence[Any]]:
        rows: list[Sequence[Any]] = self._db.execute(query, args).fetchall()
        return rows

    def _row(self, query: str, args: Sequence[Any]) -> Sequence[Any] | None:
        row: Sequence[Any] | None = self._db.execute(query, args).fetchone()
        return row

    def _run(self, query: str, args: Sequence[Any]) -> None:
        self._db.execute(query, args)

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)


def _read_holder(holder_file: Path) -> str:
    try:
        return holder_file.read_text(encoding="utf-8") or "another process"
    except OSError:  # not written yet, or just removed: the holder is between two steps
        return "another process"


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, so a crash leaves either all of a call's bookkeeping or none."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")
