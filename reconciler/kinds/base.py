"""What every resource kind provides: normalise a manifest, read live state, plan the calls.

A kind is a stateless object; the engine drives the workflow (load → read → diff → plan → apply)
and each kind only fills in its part, as octoDNS providers do.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, ClassVar, Protocol

from reconciler.errors import ManifestError, PlanError, Problem, TopPermanentError
from reconciler.i18n import N_, _
from reconciler.kinds.exported import ExportError, Exported
from reconciler.manifest import Document, ShopProfile
from reconciler.model import (
    Action,
    Call,
    Change,
    DropLink,
    Link,
    Ref,
    Resource,
    ResourceKey,
    SourceRef,
    StateEffect,
)
from reconciler.pricing.rules import PriceRule


class Caller(Protocol):
    """The slice of the TOP client a kind needs; lets kinds stay independent of transport details."""

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    def call_many(
        self, method: str, params_list: Sequence[Mapping[str, Any] | None], *, return_exceptions: bool = False,
        each: Callable[[dict[str, Any]], Any] | None = None,
    ) -> list[Any]:
        """Reads only: one call per params, concurrently within the app's QPS budget, answers in
        order; with return_exceptions a failed call leaves its TopError in its place. `each`, when
        given, is applied to every answer as it arrives and its result kept instead: a thousand
        pages of rows need never be in memory at once (issue 20.6)."""
        ...


@dataclass(frozen=True)
class NormaliseContext:
    """What normalisation may depend on besides the document itself."""

    now: datetime
    shops: Mapping[str, ShopProfile] = field(default_factory=dict)  # the Shop profiles, by name


@dataclass
class PlanContext:
    """What a kind may look at while reading and planning one shop.

    `planned` fills up as the engine plans kinds in dependency order, so a kind that refers to
    another (a grant to its coupon) sees whether that object is being created in this plan.
    """

    shop: str
    now: datetime
    desired: Mapping[ResourceKey, Resource]
    links: Mapping[ResourceKey, Link]
    planned: dict[ResourceKey, Change] = field(default_factory=dict)

    def desired_of(self, kind: str) -> list[Resource]:
        return [r for key, r in sorted(self.desired.items()) if key.kind == kind]

    def links_of(self, kind: str) -> list[Link]:
        return [link for key, link in sorted(self.links.items()) if key.kind == kind]

    def remote_id(self, key: ResourceKey) -> str | Ref | None:
        """The id another change should use for `key`: a Ref when this plan (re)creates it."""
        change = self.planned.get(key)
        if change is not None and change.action in (Action.CREATE, Action.REPLACE):
            return new_id_ref(key)
        link = self.links.get(key)
        return link.remote_id if link else None


@dataclass
class LiveState:
    """What a kind read from TOP for one shop."""

    by_name: dict[str, Any] = field(default_factory=dict)  # linked objects; None = gone on TOP
    unmanaged: list[str] = field(default_factory=list)  # remote objects nobody owns, described
    extra: dict[str, Any] = field(default_factory=dict)  # kind-specific facts, e.g. valid coupon count
    # Lines to show about an object as plan notes: not diffed, not fingerprinted and not part of
    # the plan checksum (a gift's claim figures move all the time without making a plan stale).
    info: dict[str, list[str]] = field(default_factory=dict)
    # remote id → what the list call showed of each unmanaged object, for Kind.same_as_create.
    unmanaged_rows: dict[str, Any] = field(default_factory=dict)


class Phase(Enum):
    """Where a declared object is in its life at a moment (Kind.phase)."""

    NOT_STARTED = "not started"
    LIVE = "live"
    ENDED = "ended"


def new_id_ref(key: ResourceKey) -> Ref:
    """The plan-wide name of the id a create of `key` returns."""
    return Ref(f"{key}#id")


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
    """A template (issue 18): the base owns the workflow steps every kind shares, a kind fills in
    its own. `normalise` checks the common metadata once and asks `normalise_spec` for the spec;
    `plan_change` sorts a key into create / existing / gone and asks `plan_create`,
    `plan_existing` or `plan_gone`, writing the "already gone on TOP" change itself.
    docs/adding-a-kind.md walks through a new kind."""

    kind: ClassVar[str]
    # The kind's JSON Schema file in reconciler/schemas (the manifest check finds it by that name;
    # the editor's dispatcher schema is generated from these: reconciler/kinds/schemas.py).
    schema: ClassVar[str] = ""
    # What the plan calls one of the kind's objects on TOP ("activity 42 is already gone on TOP").
    noun: ClassVar[str] = N_("object")
    # read_live reports every linked object, None when it is gone on TOP. False for kinds TOP
    # cannot show (a grant's ledger lives only in the state store): None then says nothing.
    reads_back: ClassVar[bool] = True
    # metadata.prevent_destroy applies: False for kinds whose removal sends nothing that destroys.
    guarded: ClassVar[bool] = True
    # Kinds whose objects this kind refers to; they are planned and created first, deleted last.
    depends_on: ClassVar[tuple[str, ...]] = ()
    # TOP methods this kind uses; documentation, and the read-only checks in tests.
    read_methods: ClassVar[tuple[str, ...]] = ()
    write_methods: ClassVar[tuple[str, ...]] = ()
    # Kinds with a list call read the shop even when nothing is declared, to report unmanaged objects.
    always_read: ClassVar[bool] = False
    # read_live looks only at ctx.shop, ctx.now and each link's key and remote id (never
    # ctx.desired, nor link records): what it reads follows from the state store's ids alone, so
    # `plan` may read it while the manifests still load (engine/reads.py; issue 20.6). True only
    # where that holds, e.g. kinds read by id.
    reads_links_only: ClassVar[bool] = False
    # The price guardrails: a changed or removed object of this kind keeps lowering prices (a shop
    # coupon stays valid until its end, a claimed cash gift stays usable), so the old rules count too.
    prices_outlive_changes: ClassVar[bool] = False
    # `reconciler export`: why TOP's reads cannot give this kind's manifests, when they cannot.
    not_exportable: ClassVar[str] = ""

    def normalise(self, doc: Document, ctx: NormaliseContext) -> Resource:
        """Check the document's meaning and convert it to wire units; raise ManifestError with
        every problem found. The metadata every kind shares (identity, source, prevent_destroy,
        allow_below_floor) is read here; the spec is the kind's (normalise_spec)."""
        problems = ProblemCollector(doc)
        spec = self.normalise_spec(doc, ctx, problems)
        problems.raise_if_any()
        below_floor = doc.metadata.get("allow_below_floor")
        return Resource(
            key=resource_key(doc),
            spec=spec,
            source=source_of(doc),
            prevent_destroy=bool(doc.metadata.get("prevent_destroy", False)) if self.guarded else False,
            allow_below_floor=str(below_floor) if below_floor else None,
        )

    @abstractmethod
    def normalise_spec(self, doc: Document, ctx: NormaliseContext, problems: ProblemCollector) -> dict[str, Any]:
        """doc.spec checked and in wire units. Report each problem to `problems` and go on (return
        any placeholder for what cannot be read): the base raises them all together."""

    @abstractmethod
    def read_live(self, client: Caller, ctx: PlanContext) -> LiveState:
        """Read this kind's objects of ctx.shop: every linked one (None when gone) and unmanaged ones."""

    def plan_change(
        self, desired: Resource | None, link: Link | None, live: Any | None, ctx: PlanContext
    ) -> Change | None:
        """The change that brings TOP from `live` to `desired`, or None when they agree: the
        manifest was removed (plan_gone, or forget_gone when TOP no longer has the object), it
        names an object not linked yet (plan_create), or one that is linked (plan_existing)."""
        if desired is None:
            assert link is not None, "the engine plans a key only when it is declared or linked"
            if live is None and self.reads_back:
                return forget_gone(link, self.noun)
            return self.plan_gone(link, live, ctx)
        if link is None:
            return self.plan_create(desired, live, ctx)
        return self.plan_existing(desired, link, live, ctx)

    @abstractmethod
    def plan_create(self, desired: Resource, live: Any | None, ctx: PlanContext) -> Change | None:
        """A declared object with no link yet. `live` is whatever read_live put under its name
        (usually None; a kind may put facts there, e.g. lookalike coupons)."""

    @abstractmethod
    def plan_existing(self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        """A declared object that is linked: update, replace, or None when TOP agrees. `live` is
        None when TOP no longer has it (reads_back kinds): the kind says how it is made again."""

    @abstractmethod
    def plan_gone(self, link: Link, live: Any | None, ctx: PlanContext) -> Change | None:
        """A linked object whose manifest was removed (planned only with prune) and that TOP still
        has (or that TOP cannot show: reads_back False). Delete it, stop it, or forget it."""

    def phase(self, resource: Resource, ctx: PlanContext) -> Phase:
        """What `resource` (as normalised) is at ctx.now. Time is an input of every plan: the engine
        never plans a create of an ENDED object (it notes "ended before it was created: nothing to
        do"), and asks plan_ended, not plan_change, about an ENDED object that exists. Objects
        without an end are LIVE by default."""
        return Phase.LIVE

    def plan_ended(
        self, desired: Resource, link: Link, live: Any | None, ctx: PlanContext
    ) -> Change | None:
        """The change for an object that exists (it has a link) and has ENDED. Left alone by
        default: TOP ends it by itself, and most objects cannot be changed once over. A kind whose
        objects can and should be stopped (a cash gift still issuing) overrides this."""
        return None

    def import_record(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        """Adopt an existing object (`reconciler import`): read it on TOP and return the state record
        to keep for it. Raise PlanError when it does not exist or this kind cannot adopt objects."""
        raise PlanError(_("{kind} objects cannot be imported").format(kind=self.kind))

    def import_exported(self, client: Caller, remote_id: str, desired: Resource) -> Mapping[str, Any]:
        """`reconciler export --import`: the state record for an object whose manifest the export just
        wrote from TOP itself. import_record by default; a kind whose plain import leaves a review step
        (an item pool's fields TOP does not return) may record the exported manifest as applied."""
        return self.import_record(client, remote_id, desired)

    # ---- `reconciler export` (issue 19; kinds/exported.py) --------------------------------------

    def export_listed(self, client: Caller) -> list[Exported] | None:
        """Every object of this kind on the shop as a manifest document (read with the kind's own
        paged list calls); None when TOP has no list call for the kind (then only export_one)."""
        return None

    def export_one(self, client: Caller, remote_id: str) -> Exported:
        """The object `remote_id` as a manifest document (`export --id KIND:ID`); ExportError when
        TOP has no such object or this kind cannot be exported."""
        why = _(self.not_exportable) if self.not_exportable else _("export cannot write them yet")
        raise ExportError(_("{kind} objects cannot be exported: {why}; declare them by hand and "
                            "`reconciler import {kind} NAME {id}`").format(kind=self.kind, why=why, id=remote_id))

    def same_as_create(self, client: Caller, desired: Resource, live: LiveState) -> list[str]:
        """Ids of unmanaged objects on TOP that hold exactly what creating `desired` would make.
        The duplicate guard (engine/duplicates.py) blocks such a create when the state store has
        no entry for `desired`: the object is likely that resource's, made before the store knew
        of it (another directory's store, a lost store), and should be imported instead. `live`
        is what read_live found for the shop. None are known by default."""
        return []

    def check_plan(self, changes: Sequence[Change], live: LiveState, ctx: PlanContext) -> list[str]:
        """Shop-wide rules a plan must not break (e.g. at most 50 valid coupons); each string is an error."""
        return []

    def check_response(self, method: str, response: Mapping[str, Any]) -> None:
        """Raise when TOP answered 200 but the body says the call failed."""
        ensure_success(method, response)

    def recover(self, client: Caller, method: str, params: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """A write was sent but its answer was lost (timeout, crash). Look on TOP whether it took
        effect: return the answer it would have had (with every field its Call binds) if it did,
        None if it certainly did not. Raise PlanError when TOP cannot tell: never guess, since a
        blind re-send can duplicate a coupon or an activity."""
        raise PlanError(_("{method}: cannot tell from TOP whether this write took effect; check the shop, "
                          "then `reconciler import` or `reconciler state rm` before applying again").format(method=method))

    def price_rules(self, resource: Resource) -> list[PriceRule]:
        """What `resource` (as normalised) does to what buyers pay, for the price guardrails
        (reconciler.pricing): the promotions it makes, or the floors it sets. None by default."""
        return []

    def effects(self, call: Call, answer: Mapping[str, Any]) -> tuple[StateEffect, ...]:
        """What to record after `call` succeeded; a kind overrides this when it depends on the answer."""
        return call.effects


def forget(link: Link, reason: str) -> Change:
    """A delete that makes no TOP call: only the state entry goes (TOP cannot or need not be asked)."""
    return Change(key=link.key, action=Action.DELETE, calls=(), reason=reason, effects=(DropLink(),))


def forget_gone(link: Link, noun: str) -> Change:
    """The manifest was removed and TOP no longer has the object either: no call, only the link goes."""
    return forget(link, _("{noun} {id} is already gone on TOP; only the state entry is removed").format(
        noun=_(noun), id=link.remote_id))


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
