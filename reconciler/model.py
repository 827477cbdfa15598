"""Plain values that flow between the layers: resources, calls, changes, plans. No I/O here."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, order=True)
class ResourceKey:
    """The identity of a managed object: unique per shop and kind, chosen by the user."""

    shop: str
    kind: str
    name: str

    def __str__(self) -> str:
        return f"{self.shop}/{self.kind}/{self.name}"


@dataclass(frozen=True)
class SourceRef:
    """Where a resource was declared, so plans and errors can point at it."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Resource:
    """A desired object: its spec is already normalised to wire units by its kind (fen, 600-style rates)."""

    key: ResourceKey
    spec: Mapping[str, Any]
    source: SourceRef | None = None
    prevent_destroy: bool = False
    # metadata.allow_below_floor: why this resource may take items below their PriceFloor (None: it may not).
    allow_below_floor: str | None = None


@dataclass(frozen=True)
class Ref:
    """A value only known once an earlier call of the same change has answered (e.g. a new activity id)."""

    name: str

    def __str__(self) -> str:
        return f"(known after apply: {self.name})"


# What apply writes to the state store right after a call succeeded, so the store always
# reflects exactly the calls TOP has accepted, even if the next call fails.
@dataclass(frozen=True)
class SetLink:
    remote_id: str | Ref
    record: Mapping[str, Any]


@dataclass(frozen=True)
class DropLink:
    pass


@dataclass(frozen=True)
class SetRecordEntry:
    """Set (or with value None, remove) record[section][entry] of the resource's link."""

    section: str
    entry: str
    value: Any | None


StateEffect = SetLink | DropLink | SetRecordEntry


@dataclass(frozen=True)
class Call:
    """One TOP call exactly as apply will send it.

    `params` holds business parameters as Python values (objects stay dicts: the client encodes
    them as JSON strings); a value may be a Ref to something an earlier call returned.
    `binds` names values to keep from the answer: {"activity_id": "result.data"}.
    """

    method: str
    params: Mapping[str, Any]
    binds: Mapping[str, str] = field(default_factory=dict)
    effects: tuple[StateEffect, ...] = ()


class Action(enum.Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"
    DELETE = "delete"

    @property
    def symbol(self) -> str:
        return {"create": "+", "update": "~", "replace": "-/+", "delete": "-"}[self.value]


@dataclass(frozen=True)
class Change:
    key: ResourceKey
    action: Action
    calls: tuple[Call, ...]
    reason: str = ""  # why this action (e.g. why a replace and not an update)
    details: tuple[str, ...] = ()  # human-readable field differences
    source: SourceRef | None = None
    # State-only effects applied after the calls, e.g. forgetting an object someone deleted on TOP.
    effects: tuple[StateEffect, ...] = ()
    # The fields `details` words in the manifest's units, with their exact wire values:
    # {"field": "discount_rate", "before": 850, "after": 800} (plan --json; not in the text).
    wire_changes: tuple[Mapping[str, Any], ...] = ()


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]
    unmanaged: tuple[str, ...] = ()  # remote objects nobody owns: listed, never touched
    warnings: tuple[str, ...] = ()
    read_calls: int = 0
    # Digest of every live object and state entry read, by address: a saved plan is stale when any moved.
    fingerprints: Mapping[str, str] = field(default_factory=dict)
    managed_counts: Mapping[str, int] = field(default_factory=dict)  # managed objects per shop, for thresholds
    # Whole-number facts kinds read per shop (e.g. valid_coupons), for metrics; not part of the checksum.
    live_counts: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # facts worth seeing that change nothing (e.g. a gift's figures)
    # Creates of resources the state store does not know, each with the ids of unmanaged objects
    # TOP already holds with exactly that content: blocked unless allowed (engine/duplicates.py).
    # Recomputed by every plan, so not part of the checksum or of a saved plan.
    duplicates: Mapping[ResourceKey, tuple[str, ...]] = field(default_factory=dict)

    @property
    def write_calls(self) -> int:
        return sum(len(change.calls) for change in self.changes)

    def counts(self) -> dict[str, int]:
        result = {action.value: 0 for action in Action}
        for change in self.changes:
            result[change.action.value] += 1
        return result

    @property
    def empty(self) -> bool:
        return not self.changes


@dataclass(frozen=True)
class Link:
    """What the state store knows of one managed object: its remote id and what was last applied."""

    key: ResourceKey
    remote_id: str
    record: Mapping[str, Any]
