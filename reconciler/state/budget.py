"""Where the QPS budget of an app key lives when every worker of the app shares it
(TOP_QPS_SHARED=1): the SharedSlots of reconciler.top.ratelimit, implemented without importing it
(the state and top layers stand apart; reconciler.connect plugs one into the other).

- PostgreSQL store (postgres_budget.py): one row per app key in `qps_budgets` (a migration of
  state/postgres.py), the
  GCRA state of the app: the next free slot and the end of TOP's ban, as epoch seconds of the
  *database's* clock, so workers on machines whose clocks differ still agree. Each step is one
  UPDATE, atomic under the row lock. Built on PostgreSQL rather than a library: the rate-limit
  libraries with a shared backend (pyrate-limiter, limits) keep it in Redis or in a SQLite file,
  which a fleet with only the state store's PostgreSQL would have to add; pyrate-limiter's
  PostgreSQL bucket logs every call as a row and bursts, and none knows TOP's bans.
- SQLite store (one machine): the same two numbers in a JSON file, read and written under a file
  lock (filelock, already used for the SQLite store's shop locks), with the machine's monotonic
  clock, which every process of the machine shares. The file sits in TOP_QPS_SHARED_DIR (default:
  the system temp directory), so every project of the machine that calls with the app key shares it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from filelock import FileLock

from reconciler.errors import StateError
from reconciler.state import DEFAULT_PATH


class Slots(Protocol):
    """Structurally reconciler.top.ratelimit.SharedSlots (see there for what each step means)."""

    def take_slot(self, interval: float) -> float: ...

    def ban(self, seconds: float) -> bool: ...

    def ban_remaining(self) -> float: ...

    def slip(self, seconds: float) -> None: ...

    def close(self) -> None: ...


def shared_slots(env: Mapping[str, str]) -> Callable[[str], Slots]:
    """app key -> its shared slots, in the store RECONCILER_STATE names (as open_store reads it)."""
    location = env.get("RECONCILER_STATE") or DEFAULT_PATH
    if location.startswith(("postgresql://", "postgres://")):
        from reconciler.state.postgres import PostgresStateStore
        from reconciler.state.postgres_budget import PostgresSlots

        PostgresStateStore(location).close()  # brings the schema up to date (the qps_budgets table)
        return lambda app_key: PostgresSlots(location, app_key)
    folder = Path(env.get("TOP_QPS_SHARED_DIR") or Path(tempfile.gettempdir()) / "reconciler-qps-budget")
    return lambda app_key: FileSlots(folder, app_key)


# ---- one machine: a file -------------------------------------------------------------------

# time.monotonic restarts at boot while the file in the temp directory may survive a reboot:
# values further ahead than any queue or ban a run waits for are from before it, and dropped.
STALE_AHEAD_SECONDS = 3600.0


class FileSlots:
    def __init__(self, folder: Path, app_key: str) -> None:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StateError(f"cannot create the shared QPS budget directory {folder} (TOP_QPS_SHARED_DIR): {exc}") from None
        # The app key is not a secret, but a file name should not depend on what it may contain.
        name = hashlib.sha256(app_key.encode()).hexdigest()[:24]
        self.path = folder / f"{name}.json"
        self._lock = FileLock(str(folder / f"{name}.lock"), thread_local=False)

    def take_slot(self, interval: float) -> float:
        with self._lock:
            now = time.monotonic()
            state = self._read(now)
            slot = max(state["next_slot"], state["banned_until"], now)
            state["next_slot"] = slot + interval
            self._write(state)
        return slot - now

    def ban(self, seconds: float) -> bool:
        with self._lock:
            now = time.monotonic()
            state = self._read(now)
            new_ban = state["banned_until"] <= now
            state["banned_until"] = max(state["banned_until"], now + seconds)
            state["next_slot"] = max(state["next_slot"], now + seconds)
            state["bans"] += int(new_ban)
            self._write(state)
        return new_ban

    def ban_remaining(self) -> float:
        with self._lock:
            now = time.monotonic()
            return max(0.0, self._read(now)["banned_until"] - now)

    def slip(self, seconds: float) -> None:
        with self._lock:
            state = self._read(time.monotonic())
            state["next_slot"] += seconds
            self._write(state)

    def bans(self) -> int:
        """Distinct bans recorded since the file was made (for tests and operators)."""
        with self._lock:
            return int(self._read(time.monotonic())["bans"])

    def close(self) -> None:
        """Nothing held between steps."""

    def _read(self, now: float) -> dict[str, float]:
        fresh = {"next_slot": 0.0, "banned_until": 0.0, "bans": 0.0}
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            state = {key: float(data[key]) for key in fresh}
        except FileNotFoundError:
            return fresh
        except (OSError, ValueError, KeyError, TypeError):
            return fresh  # a torn or foreign file: start afresh rather than stop every worker
        if max(state["next_slot"], state["banned_until"]) > now + STALE_AHEAD_SECONDS:
            return {**fresh, "bans": state["bans"]}
        return state

    def _write(self, state: dict[str, float]) -> None:
        partial = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        partial.write_text(json.dumps(state), encoding="utf-8")
        os.replace(partial, self.path)  # never a half-written file, even if this process dies here
