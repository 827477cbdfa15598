"""The state store interface every backend implements, and what the backends share: the JSON
encoding of stored values, how a call's state effects change the links, and migrations."""

from __future__ import annotations

import functools
import hashlib
import os
import socket
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, ClassVar

import simplejson

from reconciler.errors import StateError
from reconciler.i18n import _
from reconciler.model import DropLink, Link, Ref, ResourceKey, SetLink, SetRecordEntry, StateEffect

# Called once when a shop's lock is taken by someone else, with who holds it, before waiting.
LockWaitNotice = Callable[[str], None]


class LockTimeoutError(StateError):
    """Another apply held a shop's lock for longer than this run was willing to wait."""


@dataclass(frozen=True)
class Migration:
    """One step of a backend's schema history; steps run in order, each exactly once per store."""

    version: int
    description: str
    statements: tuple[str, ...]


@dataclass(frozen=True)
class JournalEntry:
    id: int
    run_id: str
    key: ResourceKey
    method: str
    params: Mapping[str, Any]
    status: str  # "sent" (no answer recorded yet), "ok", "failed"
    answer: Mapping[str, Any] | None
    error: str | None
    call: Mapping[str, Any]  # the engine's encoding of the call (binds, effects), for recovery


def dumps(value: Any) -> str:
    # Decimal stays an exact JSON number; the default json module would need float.
    return simplejson.dumps(value, use_decimal=True, sort_keys=True, ensure_ascii=False)


def loads(text: str) -> Any:
    return simplejson.loads(text, use_decimal=True)


def link_from_row(row: Sequence[Any]) -> Link:
    return Link(ResourceKey(row[0], row[1], row[2]), row[3], loads(row[4]))


def journal_entry_from_row(row: Sequence[Any]) -> JournalEntry:
    return JournalEntry(
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


def lock_holder_label() -> str:
    """Who takes a lock, as other runs waiting for it are told: process and host, never secrets."""
    return f"reconciler pid {os.getpid()} on {socket.gethostname()}"


# The namespace of rows written before stores were shared (migration 4 moved them here), and of a
# project whose reconciler.toml names no id (reconciler.project.DEFAULT_PROJECT_ID says the same).
DEFAULT_NAMESPACE = "default"


def lock_name(shop: str, namespace: str = DEFAULT_NAMESPACE) -> str:
    """What a shop's lock is called: with the project's namespace, so two repositories sharing a
    store that both have a shop named 'main' do not wait for each other. A namespace holds no '/'
    (reconciler.project.PROJECT_ID_PATTERN), so the text names one pair."""
    return f"{namespace}/{shop}"


def lock_key(name: str) -> int:
    """A stable signed 64-bit number per lock name (PostgreSQL advisory lock keys are bigint)."""
    digest = hashlib.sha256(f"campaign-reconciler apply lock:{name}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_timeout_message(shop: str, timeout: float, holder: str) -> str:
    return _(
        "shop {shop} is locked by another apply ({holder}) and stayed locked for {timeout:g} s; "
        "nothing was sent. Wait for that apply to finish (its CI job or terminal shows it), then run "
        "apply again, or pass a longer --lock-timeout. The lock is released when its process ends, "
        "so it cannot stay stuck after a crash."
    ).format(shop=shop, holder=holder, timeout=timeout)


class StateStore(ABC):
    # The project whose rows this store reads and writes (reconciler.project: reconciler.toml's id).
    namespace: str = DEFAULT_NAMESPACE

    @abstractmethod
    def links(self, shop: str | None = None) -> list[Link]: ...

    def link_ids(self) -> list[tuple[ResourceKey, str]]:
        """Each link's key and remote id, without its record: what reading a kind by id needs,
        without decoding every record (a big shop's are ~100 MB and ~0.5 s decoded)."""
        return [(link.key, link.remote_id) for link in self.links()]

    @abstractmethod
    def get(self, key: ResourceKey) -> Link | None: ...

    @abstractmethod
    def put(self, link: Link) -> None: ...

    @abstractmethod
    def remove(self, key: ResourceKey) -> None:
        """Forget the object; its applied spec goes with it (an unmanaged object cannot drift)."""

    @abstractmethod
    def journal_sent(
        self, run_id: str, key: ResourceKey, method: str, params: Mapping[str, Any], call: Mapping[str, Any]
    ) -> int:
        """Record a write before it is sent; returns the entry id."""

    @abstractmethod
    def journal_answered(
        self,
        entry_id: int,
        key: ResourceKey,
        answer: Mapping[str, Any],
        effects: Sequence[StateEffect],
        bound: Mapping[str, Any],
    ) -> None:
        """Record a successful answer and apply its state effects in one transaction."""

    @abstractmethod
    def journal_failed(self, entry_id: int, error: str) -> None: ...

    @abstractmethod
    def journal(self, run_id: str | None = None, status: str | None = None) -> list[JournalEntry]: ...

    @abstractmethod
    def applied_specs(self, shop: str | None = None) -> dict[ResourceKey, Mapping[str, Any]]:
        """The desired resource (engine encoding) each object last converged to, by key: what
        drift detection compares TOP with."""

    @abstractmethod
    def put_applied_spec(self, key: ResourceKey, resource: Mapping[str, Any]) -> None: ...

    @abstractmethod
    def record_revision(self, revision: str, command: str) -> None:
        """Remember that `command` (apply) ran the manifests of git revision `revision`."""

    @abstractmethod
    def last_revision(self, command: str) -> str | None:
        """The revision `command` ran last; None if never."""

    @abstractmethod
    def lock(self, shop: str, timeout: float, on_wait: LockWaitNotice | None = None) -> AbstractContextManager[None]:
        """Hold the shop's apply lock for the `with` block, across processes and machines sharing
        this store. Waits up to `timeout` seconds (calling `on_wait` once with the holder first),
        then raises LockTimeoutError. A lock dies with its process, so it never stays stuck."""

    @abstractmethod
    def schema_version(self) -> int: ...

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- what both backends do the same way, on their own primitives ----------------------

    @abstractmethod
    def _put(self, link: Link) -> None:
        """Write a link inside the caller's transaction."""

    @abstractmethod
    def _remove(self, key: ResourceKey) -> None:
        """Delete a link (and its applied spec) inside the caller's transaction."""

    def _apply_effect(self, key: ResourceKey, effect: StateEffect, bound: Mapping[str, Any]) -> None:
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



class SqlStateStore(StateStore):
    """The queries both SQL backends run alike (same tables); a backend gives its parameter mark
    and how it runs a query. Every row carries its project's namespace (`project`, migration 4)
    and every query asks for this store's own: another repository's shops sharing the database
    are never read, written, settled or locked from here."""

    _mark: ClassVar[str]  # the driver's parameter placeholder: "?" (sqlite3) or "%s" (psycopg)

    @abstractmethod
    def _rows(self, query: str, args: Sequence[Any]) -> list[Sequence[Any]]: ...

    @abstractmethod
    def _row(self, query: str, args: Sequence[Any]) -> Sequence[Any] | None: ...

    @abstractmethod
    def _run(self, query: str, args: Sequence[Any]) -> None: ...

    def links(self, shop: str | None = None) -> list[Link]:
        m = self._mark
        query = f"SELECT shop, kind, name, remote_id, record FROM links WHERE project = {m}"
        args: tuple[Any, ...] = (self.namespace,)
        if shop is not None:
            query += f" AND shop = {m}"
            args += (shop,)
        return [link_from_row(row) for row in self._rows(query + " ORDER BY shop, kind, name", args)]

    def link_ids(self) -> list[tuple[ResourceKey, str]]:
        query = f"SELECT shop, kind, name, remote_id FROM links WHERE project = {self._mark} ORDER BY shop, kind, name"
        return [(ResourceKey(row[0], row[1], row[2]), row[3]) for row in self._rows(query, (self.namespace,))]

    def get(self, key: ResourceKey) -> Link | None:
        m = self._mark
        row = self._row(
            f"SELECT shop, kind, name, remote_id, record FROM links "
            f"WHERE project = {m} AND shop = {m} AND kind = {m} AND name = {m}",
            (self.namespace, key.shop, key.kind, key.name),
        )
        return link_from_row(row) if row else None

    def _remove(self, key: ResourceKey) -> None:
        m = self._mark
        for table in ("links", "applied_specs"):
            self._run(f"DELETE FROM {table} WHERE project = {m} AND shop = {m} AND kind = {m} AND name = {m}",
                      (self.namespace, key.shop, key.kind, key.name))

    def applied_specs(self, shop: str | None = None) -> dict[ResourceKey, Mapping[str, Any]]:
        m = self._mark
        query = f"SELECT shop, kind, name, resource FROM applied_specs WHERE project = {m}"
        args: tuple[Any, ...] = (self.namespace,)
        if shop is not None:
            query += f" AND shop = {m}"
            args += (shop,)
        rows = self._rows(query + " ORDER BY shop, kind, name", args)
        return {ResourceKey(row[0], row[1], row[2]): loads(row[3]) for row in rows}

    def record_revision(self, revision: str, command: str) -> None:
        m = self._mark
        self._run(f"INSERT INTO revisions (project, revision, command, recorded_at) VALUES ({m}, {m}, {m}, {m})",
                  (self.namespace, revision, command, datetime.now(timezone.utc).isoformat()))

    def last_revision(self, command: str) -> str | None:
        m = self._mark
        row = self._row(f"SELECT revision FROM revisions WHERE project = {m} AND command = {m} ORDER BY id DESC LIMIT 1",
                        (self.namespace, command))
        return str(row[0]) if row else None

    def journal(self, run_id: str | None = None, status: str | None = None) -> list[JournalEntry]:
        query = "SELECT id, run_id, shop, kind, name, method, params, status, answer, error, call FROM journal"
        conditions, args = [f"project = {self._mark}"], [self.namespace]
        if run_id is not None:
            conditions.append(f"run_id = {self._mark}")
            args.append(run_id)
        if status is not None:
            conditions.append(f"status = {self._mark}")
            args.append(status)
        query += " WHERE " + " AND ".join(conditions)
        return [journal_entry_from_row(row) for row in self._rows(query + " ORDER BY id", tuple(args))]


def pending_migrations(steps: Sequence[Migration], current: int, where: str) -> list[Migration]:
    """The steps a store at `current` still needs; refuses a store newer than this code."""
    latest = steps[-1].version
    if current > latest:
        raise StateError(_(
            "the state store {where} has schema version {current}, newer than this reconciler knows "
            "({latest}); upgrade campaign-reconciler before using it"
        ).format(where=where, current=current, latest=latest))
    return [step for step in steps if step.version > current]


class ShopLocks:
    """The apply locks of several shops, held until closed. All of a run's shops are taken in one
    call, in sorted order, so two runs wanting overlapping shops cannot deadlock."""

    def __init__(
        self, store: StateStore, timeout: float, on_wait: Callable[[str, str], None] | None = None
    ) -> None:
        self._store = store
        self._timeout = timeout
        self._on_wait = on_wait
        self._stack = ExitStack()
        self.held: list[str] = []

    def hold(self, shops: Iterable[str]) -> None:
        for shop in sorted(set(shops) - set(self.held)):
            notice = functools.partial(self._on_wait, shop) if self._on_wait else None
            self._stack.enter_context(self._store.lock(shop, self._timeout, on_wait=notice))
            self.held.append(shop)

    def close(self) -> None:
        self._stack.close()
        self.held.clear()

    def __enter__(self) -> "ShopLocks":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
