"""State store: which remote object each managed resource is, what was last applied, and the
journal of every write. SQLite by default; the URL in RECONCILER_STATE picks another backend."""

from __future__ import annotations

import os
from collections.abc import Mapping

from reconciler.state.base import JournalEntry, StateStore
from reconciler.state.sqlite import SqliteStateStore

DEFAULT_PATH = ".reconciler/state.db"


def open_store(env: Mapping[str, str] = os.environ) -> StateStore:
    location = env.get("RECONCILER_STATE") or DEFAULT_PATH
    if location.startswith("sqlite:///"):
        location = location[len("sqlite:///") :]
    return SqliteStateStore(location)


__all__ = ["JournalEntry", "StateStore", "SqliteStateStore", "open_store", "DEFAULT_PATH"]
