"""The state store interface every backend implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.model import Link, ResourceKey, StateEffect


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


class StateStore(ABC):
    @abstractmethod
    def links(self, shop: str | None = None) -> list[Link]: ...

    @abstractmethod
    def get(self, key: ResourceKey) -> Link | None: ...

    @abstractmethod
    def put(self, link: Link) -> None: ...

    @abstractmethod
    def remove(self, key: ResourceKey) -> None: ...

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
    def close(self) -> None: ...

    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
