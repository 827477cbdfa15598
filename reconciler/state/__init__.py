"""State store: which remote object each managed resource is, what was last applied, and the
journal of every write. SQLite by default; a postgresql:// URL in RECONCILER_STATE picks the
PostgreSQL store that a team and its CI share."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.state.base import JournalEntry, LockTimeoutError, ShopLocks, StateStore
from reconciler.state.sqlite import SqliteStateStore

DEFAULT_PATH = ".reconciler/state.db"


def open_store(env: Mapping[str, str] = os.environ) -> StateStore:
    location = env.get("RECONCILER_STATE") or DEFAULT_PATH
    if location.startswith(("postgresql://", "postgres://")):
        # Imported here so that SQLite users never load the PostgreSQL driver.
        from reconciler.state.postgres import PostgresStateStore

        return PostgresStateStore(location)
    if location.startswith("sqlite:///"):
        location = location[len("sqlite:///") :]
    return SqliteStateStore(location)


__all__ = ["JournalEntry", "LockTimeoutError", "ShopLocks", "StateStore", "SqliteStateStore", "open_store", "DEFAULT_PATH"]
