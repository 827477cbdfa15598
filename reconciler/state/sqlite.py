"""SQLite state store: one file, no server, the default for one person or one CI job."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import simplejson

from reconciler.errors import StateError
from reconciler.model import DropLink, Link, Ref, ResourceKey, SetLink, SetRecordEntry, StateEffect
from reconciler.state.base import JournalEntry, StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS links (
    shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    remote_id TEXT NOT NULL, record TEXT NOT NULL, updated_at REAL NOT NULL,
    PRIMARY KEY (shop, kind, name)
);
CREATE TABLE IF NOT EXISTS journal (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL, shop TEXT NOT NULL, kind TEXT NOT NULL, name TEXT NOT NULL,
    method TEXT NOT NULL, params TEXT NOT NULL, call TEXT NOT NULL DEFAULT '{}',
    status TEXT NOT NULL, answer TEXT, error TEXT,
    sent_at REAL NOT NULL, answered_at REAL
);
CREATE INDEX IF NOT EXISTS journal_run ON journal (run_id);
CREATE INDEX IF NOT EXISTS journal_status ON journal (status);
"""


def dumps(value: Any) -> str:
    # Decimal stays an exact JSON number; the default json module would need float.
    return simplejson.dumps(value, use_decimal=True, sort_keys=True, ensure_ascii=False)


def loads(text: str) -> Any:
    return simplejson.loads(text, use_decimal=True)


class SqliteStateStore(StateStore):
    def __init__(self, path: str) -> None:
        self.path = path
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path, timeout=30, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.executescript(_SCHEMA)
        except sqlite3.Error as exc:
            raise StateError(f"cannot open state store {path}: {exc}") from exc

    # ---- links --------------------------------------------------------------------------

    def links(self, shop: str | None = None) -> list[Link]:
        query = "SELECT shop, kind, name, remote_id, record FROM links"
        args: tuple[Any, ...] = ()
        if shop is not None:
            query += " WHERE shop = ?"
            args = (shop,)
        rows = self._db.execute(query + " ORDER BY shop, kind, name", args).fetchall()
        return [_link(row) for row in rows]

    def get(self, key: ResourceKey) -> Link | None:
        row = self._db.execute(
            "SELECT shop, kind, name, remote_id, record FROM links WHERE shop = ? AND kind = ? AND name = ?",
            (key.shop, key.kind, key.name),
        ).fetchone()
        return _link(row) if row else None

    def put(self, link: Link) -> None:
        with self._transaction():
            self._put(link)

    def remove(self, key: ResourceKey) -> None:
        with self._transaction():
            self._remove(key)

    def _put(self, link: Link) -> None:
        self._db.execute(
            "INSERT INTO links (shop, kind, name, remote_id, record, updated_at) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (shop, kind, name) DO UPDATE SET remote_id = excluded.remote_id, "
            "record = excluded.record, updated_at = excluded.updated_at",
            (link.key.shop, link.key.kind, link.key.name, link.remote_id, dumps(link.record), time.time()),
        )

    def _remove(self, key: ResourceKey) -> None:
        self._db.execute(
            "DELETE FROM links WHERE shop = ? AND kind = ? AND name = ?", (key.shop, key.kind, key.name)
        )

    # ---- journal ------------------------------------------------------------------------

    def journal_sent(
        self, run_id: str, key: ResourceKey, method: str, params: Mapping[str, Any], call: Mapping[str, Any]
    ) -> int:
        with self._transaction():
            cursor = self._db.execute(
                "INSERT INTO journal (run_id, shop, kind, name, method, params, call, status, sent_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 'sent', ?)",
                (run_id, key.shop, key.kind, key.name, method, dumps(params), dumps(call), time.time()),
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
                "UPDATE journal SET status = 'ok', answer = ?, answered_at = ? WHERE id = ?",
                (dumps(answer), time.time(), entry_id),
            )
            for effect in effects:
                self._apply(key, effect, bound)

    def journal_failed(self, entry_id: int, error: str) -> None:
        with self._transaction():
            self._db.execute(
                "UPDATE journal SET status = 'failed', error = ?, answered_at = ? WHERE id = ?",
                (error, time.time(), entry_id),
            )

    def journal(self, run_id: str | None = None, status: str | None = None) -> list[JournalEntry]:
        query = "SELECT id, run_id, shop, kind, name, method, params, status, answer, error, call FROM journal"
        conditions, args = [], []
        if run_id is not None:
            conditions.append("run_id = ?")
            args.append(run_id)
        if status is not None:
            conditions.append("status = ?")
            args.append(status)
        if conditions:
            query += " WHERE " + " AND ".join(conditions)
        rows = self._db.execute(query + " ORDER BY id", tuple(args)).fetchall()
        return [
            JournalEntry(
                id=row[0],
                run_id=row[1],
                key=ResourceKey(row[2], row[3], row[4]),
                method=row[5],
                params=loads(row[6]),
                status=row[7],
                answer=loads(row[8]) if row[8] else None,
                error=row[9],
                call=loads(row[10]),
            )
            for row in rows
        ]

    def close(self) -> None:
        self._db.close()

    # ---- helpers ------------------------------------------------------------------------

    def _apply(self, key: ResourceKey, effect: StateEffect, bound: Mapping[str, Any]) -> None:
        if isinstance(effect, SetLink):
            remote_id = effect.remote_id
            if isinstance(remote_id, Ref):
                remote_id = bound[remote_id.name]
            self._put(Link(key, str(remote_id), effect.record))
        elif isinstance(effect, DropLink):
            self._remove(key)
        elif isinstance(effect, SetRecordEntry):
            link = self.get(key)
            if link is None:
                raise StateError(f"{key}: no state entry to record {effect.section}.{effect.entry} in")
            record = dict(link.record)
            section = dict(record.get(effect.section) or {})
            if effect.value is None:
                section.pop(effect.entry, None)
            else:
                section[effect.entry] = effect.value
            record[effect.section] = section
            self._put(Link(key, link.remote_id, record))

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db)


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, so a crash leaves either all of a call's bookkeeping or none."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, *rest: object) -> None:
        self._db.execute("ROLLBACK" if exc_type else "COMMIT")


def _link(row: Sequence[Any]) -> Link:
    return Link(ResourceKey(row[0], row[1], row[2]), row[3], loads(row[4]))
