"""State store: which remote object each managed resource is, what was last applied, and the
journal of every write. SQLite by default; a postgresql:// URL in RECONCILER_STATE picks the
PostgreSQL store that a team and its CI share."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.errors import StateError
from reconciler.i18n import _
from reconciler.state.base import DEFAULT_NAMESPACE, JournalEntry, LockTimeoutError, ShopLocks, StateStore
from reconciler.state.sqlite import SqliteStateStore

DEFAULT_PATH = ".reconciler/state.db"
# The project's namespace in the store, set by reconciler.project.Project.env from reconciler.toml's id.
NAMESPACE_ENV = "RECONCILER_PROJECT_ID"


def open_store(env: Mapping[str, str] = os.environ) -> StateStore:
    location = env.get("RECONCILER_STATE") or DEFAULT_PATH
    namespace = env.get(NAMESPACE_ENV) or DEFAULT_NAMESPACE
    if location.startswith(("postgresql://", "postgres://")):
        return _postgres_store(location, namespace)
    if location.startswith("sqlite:///"):
        location = location[len("sqlite:///") :]
    return SqliteStateStore(location, namespace)


def _postgres_store(location: str, namespace: str) -> StateStore:
    # Imported here so that SQLite users never load the PostgreSQL driver, which is an optional
    # extra (pyproject.toml): without it, say how to get it rather than show an ImportError.
    try:
        from reconciler.state.postgres import PostgresStateStore
    except ImportError as exc:
        if not (exc.name or "").startswith("psycopg"):
            raise
        raise StateError(_(
            "RECONCILER_STATE names a PostgreSQL store, but the PostgreSQL driver (psycopg) is not "
            "installed: pip install 'campaign-reconciler[postgres]'"
        )) from exc
    return PostgresStateStore(location, namespace)


__all__ = ["JournalEntry", "LockTimeoutError", "ShopLocks", "StateStore", "SqliteStateStore", "open_store", "DEFAULT_PATH",
           "DEFAULT_NAMESPACE", "NAMESPACE_ENV"]
