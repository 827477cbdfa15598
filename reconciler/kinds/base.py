"""What every resource kind provides: normalise a manifest, read live state, plan the calls.

A kind is a stateless object; the engine drives the workflow (load → read → diff → plan → apply)
and each kind only fills in its part, as octoDNS providers do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar, Protocol

from reconciler.errors import ManifestError, Problem, TopPermanentError
from reconciler.manifest import Document
from reconciler.model import Change, Link, Resource, ResourceKey, SourceRef


class Caller(Protocol):
    """The slice of the TOP client a kind needs; lets kinds stay independent of transport details."""

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]: ...


@dataclass(frozen=True)
class NormaliseContext:
    """What normalisation may depend on besides the document itself."""

    now: datetime


class ProblemCollector:
    """Gathers every problem of a document so the user sees them all at once."""

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.problems: list[Problem] = []

    def add(self, path: Sequence[str | int], message: str) -> None:
        self.problems.append(self.doc.problem(path, message))

    def raise_if_any(self) -> None:
        if self.problems:
            raise ManifestError(self.problems)


class Kind(ABC):
    kind: ClassVar[str]
    # TOP methods this kind reads with; used by docs and by the read-only checks.
    read_methods: ClassVar[tuple[str, ...]] = ()
    write_methods: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    def normalise(self, doc: Document, ctx: NormaliseContext) -> Resource:
        """Check the document's meaning and convert it to wire units; raise ManifestError."""

    @abstractmethod
    def read_live(self, client: Caller, links: Sequence[Link]) -> dict[str, Any]:
        """Live objects by resource name; a linked object that is gone on TOP maps to None."""

    @abstractmethod
    def plan_change(self, desired: Resource | None, link: Link | None, live: Any | None) -> Change | None:
        """The change that brings TOP from `live` to `desired`, or None when they agree."""

    def check_response(self, method: str, response: Mapping[str, Any]) -> None:
        """Raise when TOP answered 200 but the body says the call failed."""
        ensure_success(method, response)


def resource_key(doc: Document) -> ResourceKey:
    return ResourceKey(shop=doc.shop or "", kind=doc.kind, name=doc.name)


def source_of(doc: Document) -> SourceRef:
    return SourceRef(file=doc.file, line=doc.line)


def ensure_success(method: str, response: Mapping[str, Any]) -> None:
    """Several TOP families answer success with a flag inside the body; a false flag is a failure."""
    result = response.get("result")
    holders: list[Mapping[str, Any]] = [response]
    if isinstance(result, Mapping):
        holders.append(result)
    for holder in holders:
        for flag in ("is_success", "success"):
            if holder.get(flag) is False:
                raise TopPermanentError(
                    method,
                    code=None,
                    msg=str(holder.get("message") or "TOP answered success=false"),
                    sub_code=str(holder.get("fail_code") or holder.get("error_code") or "") or None,
                )
