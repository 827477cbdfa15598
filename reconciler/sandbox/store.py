"""The sandbox's memory: per-shop state (optionally mirrored to a JSON file) and the call log.

State layout, generic so a new method family only claims a namespace::

    {"version": 1,
     "sequences": {"itempool.activity": 10003},          # next id per id sequence
     "shops": {"demo-shop": {"itempool": {...}, "coupons": {...}}},
     "apps": {"23456789": {"tbk": {...}}}}                 # state of session-less app accounts

Handlers run under :attr:`Store.lock` (the HTTP server is threaded), so they may read and
mutate freely; the dispatcher calls :meth:`Store.save` after a state-changing call. The file is
replaced atomically (tmp + ``os.replace``) so a crash never leaves half a shop behind, and a
restarted sandbox — or a second client process — sees exactly what the last call left.
"""

from __future__ import annotations

import copy
import os
import tempfile
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reconciler.sandbox.codec import json_dumps, json_loads

STATE_VERSION = 1


def _empty_state() -> dict[str, Any]:
    return {"version": STATE_VERSION, "sequences": {}, "shops": {}, "apps": {}}


class Store:
    """All shops' state in memory, guarded by one re-entrant lock."""

    def __init__(self, data_file: str | None = None) -> None:
        self.lock = threading.RLock()
        self._path = Path(data_file) if data_file else None
        self._state = self._load() if self._path is not None and self._path.exists() else _empty_state()

    def namespace(self, shop: str, name: str) -> dict[str, Any]:
        """The mutable dict one method family keeps for one shop (created empty on first use)."""
        shop_state: dict[str, Any] = self._state["shops"].setdefault(shop, {})
        space: dict[str, Any] = shop_state.setdefault(name, {})
        return space

    def app_namespace(self, app_key: str, name: str) -> dict[str, Any]:
        """Like :meth:`namespace`, for the account behind an app key rather than a seller: what a
        method called without a session acts on (a Taoke promoter's gifts)."""
        app_state: dict[str, Any] = self._state.setdefault("apps", {}).setdefault(app_key, {})
        space: dict[str, Any] = app_state.setdefault(name, {})
        return space

    def next_id(self, sequence: str, first: int) -> int:
        """Allocate the next id of a sequence; ids are global (unique across shops), as on TOP."""
        sequences: dict[str, int] = self._state["sequences"]
        allocated = sequences.get(sequence, first)
        sequences[sequence] = allocated + 1
        return allocated

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self._state)

    def reset(self) -> None:
        with self.lock:
            self._state = _empty_state()
            self.save()

    def save(self) -> None:
        """Write the state file atomically; a no-op without a data file."""
        if self._path is None:
            return
        with self.lock:
            text = json_dumps(self._state)
            self._path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=f".{self._path.name}.", suffix=".tmp", dir=self._path.parent)
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as tmp:
                    tmp.write(text)
                    tmp.flush()
                    os.fsync(tmp.fileno())
                os.replace(tmp_name, self._path)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise

    def _load(self) -> dict[str, Any]:
        assert self._path is not None
        try:
            state = json_loads(self._path.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ValueError(f"sandbox data file {self._path} is not valid JSON: {exc}") from exc
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            raise ValueError(f"sandbox data file {self._path} is not a version {STATE_VERSION} sandbox state")
        state.setdefault("sequences", {})
        state.setdefault("shops", {})
        state.setdefault("apps", {})
        return state


@dataclass(frozen=True)
class CallRecord:
    """One request that reached /router/rest with a method. Never holds secret, session or sign."""

    method: str
    params: dict[str, str]  # business params as received
    session: str | None  # the shop nick the session resolved to, never the session string
    ok: bool
    at: int  # epoch ms of arrival
    app: str = ""  # the calling app's key (no secret: every request carries it in clear)
    session_sent: bool = False  # whether any session parameter came along, valid or not


class CallLog:
    """Arrival-ordered log of calls, for tests and benchmarks (kept in memory only)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[CallRecord] = []

    def append(self, record: CallRecord) -> None:
        with self._lock:
            self._records.append(record)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def as_json(self) -> list[dict[str, Any]]:
        with self._lock:
            return [asdict(record) for record in self._records]
