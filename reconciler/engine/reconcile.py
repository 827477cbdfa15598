"""The driver: one run's workflow, in order, as octoDNS's Manager.sync drives a sync.

    load manifests (or read a saved plan, once) ─▶ connect (the caller's hook says where)
      ─▶ [apply: lock the shops, settle the journal] ─▶ read TOP + diff (engine/plan.py)
      ─▶ [saved plan: refuse it if stale] [--checksum: refuse a plan that differs]
      ─▶ price check (engine/guardrails.py) ─▶ the Plan, built once with its warnings
      ─▶ safety (engine/safety.py, engine/duplicates.py) ─▶ Review
      ─▶ [apply] Review.raise_if_unsafe() ─▶ apply_plan ─▶ record what was applied

Everything returns plain values (Review, ApplyReport) or raises typed errors (reconciler.errors:
UnsafePlan, StalePlan, ChecksumMismatch); the CLI only parses flags, builds the settings root
(reconciler/settings.py), calls this and prints. Nothing here reads the environment or prints.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Protocol

from reconciler.engine.apply import STATE_ONLY, ApplyListener, ApplyReport, apply_plan, settle_interrupted_writes
from reconciler.engine.drift import DriftReport, find_drift, record_applied
from reconciler.engine.duplicates import duplicate_problems
from reconciler.engine.guardrails import PriceCheck, ShopPrices, check_prices, price_shops
from reconciler.engine.plan import PlanDraft, PlanOptions, desired_resources, draft_plan, kinds_in_dependency_order
from reconciler.engine.reads import KindReads, busy_beside_reads
from reconciler.engine.render import render_text
from reconciler.engine.safety import prevent_destroy_violations, threshold_violations
from reconciler.engine.saved import SavedPlan, plan_checksum, plan_difference, read_saved_plan, stale_objects
from reconciler.errors import (
    ChecksumMismatch,
    ImportRefused,
    PlanError,
    ReconcilerError,
    SettingsError,
    StalePlan,
    UnsafePlan,
)
from reconciler.i18n import N_, _
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, PlanContext
from reconciler.manifest import ManifestSet, load_manifests, profiles_ahead
from reconciler.model import Link, Plan, Resource, ResourceKey
from reconciler.settings import EVERYTHING, Scope, Settings, ShopConnection, connections_of
from reconciler.state import ShopLocks, StateStore


class Connector(Protocol):
    """The per-shop TOP callers (reconciler.connect.Clients): told how to reach each shop once the
    manifests (or a saved plan) are read, then called as shop → Caller."""

    def use_profiles(self, settings: Mapping[str, ShopConnection]) -> None: ...

    def __call__(self, shop: str) -> Caller: ...


def _nothing() -> None:
    return None


def _ignore(_: str) -> None:
    return None


@dataclass(frozen=True)
class Hooks:
    """What the caller says along the way (the CLI prints; a test may record)."""

    # The shops are known and no TOP answer is used yet: say where. (Plan may have sent reads
    # ahead, engine/reads.py; their answers and errors are taken only after this.)
    connected: Callable[[], object] = _nothing
    recovered: Callable[[str], object] = _ignore  # a write of an interrupted apply was settled


# Translators: what a blocked plan meant for the run ("the plan is blocked by safety checks; nothing was sent:")
_OUTCOMES = (N_("nothing will be applied"), N_("nothing was sent"))


@dataclass(frozen=True)
class Review:
    """A plan and everything checked about it, before anything is sent."""

    plan: Plan  # with the price check's warnings, notes and reads in it
    desired: tuple[Resource, ...]
    prices: PriceCheck
    problems: tuple[str, ...]  # safety: prevent_destroy, thresholds, duplicates
    notes: tuple[str, ...]  # about the run, not the plan (writes of an interrupted apply)
    moment: datetime  # the moment planned for: the run's clock, or a saved plan's
    scope: Scope
    shops: Mapping[str, ShopConnection]
    saved: bool = False  # made from a saved plan file (which is its own approval)

    @cached_property
    def checksum(self) -> str:
        return plan_checksum(self.plan)

    @property
    def blocked(self) -> tuple[str, ...]:
        """Every problem that stops the plan (for alerts and metrics)."""
        return self.problems + self.prices.blocked

    def unsafe(self, outcome: str) -> list[str]:
        """What stops the plan, one section per cause; `outcome` says what that meant for the run
        (one of _OUTCOMES, said in the reader's language)."""
        said = _(outcome)
        sections = []
        if self.problems:
            sections.append(_("the plan is blocked by safety checks; {outcome}:").format(outcome=said) + "\n  "
                            + "\n  ".join(self.problems))
        if self.prices.blocked:
            sections.append(_("the plan would take items below their price floor; {outcome}:").format(outcome=said)
                            + "\n  " + "\n  ".join(self.prices.blocked))
        if self.prices.unknown_items:
            sections.append(_("the plan names items the shop does not have; {outcome}:").format(outcome=said)
                            + "\n  " + "\n  ".join(self.prices.unknown_items))
        return sections

    def raise_if_unsafe(self, outcome: str = "nothing will be applied") -> None:
        sections = self.unsafe(outcome)
        if sections:
            raise UnsafePlan(sections)

    def to_saved(self) -> SavedPlan:
        return SavedPlan(self.plan, self.desired, self.moment, self.scope, self.shops)


@dataclass
class Reconciler:
    """One run against one state store, with the settings root and the per-shop callers."""

    settings: Settings
    clients: Connector
    store: StateStore
    hooks: Hooks = field(default_factory=Hooks)
    locks: ShopLocks | None = None  # apply: every shop it may read or write is held before settling

    # ---- plan ------------------------------------------------------------------------------

    def review(self, paths: Sequence[str]) -> Review:
        """`plan`: what the manifests at `paths` would do now (or at --at), checked; nothing sent.
        The reads that need no manifest start first and go on while the manifests load (issue 20.6)."""
        moment = self.settings.clock.moment
        draft, resources, shops = self._draft_reading_ahead(paths, self._options(self.settings.scope, moment))
        return self._reviewed(draft, resources, shops, moment, self.settings.scope, paths,
                              notes=tuple(interrupted_notes(self.store, self.settings.scope)))

    def _draft_reading_ahead(
        self, paths: Sequence[str], options: PlanOptions,
    ) -> tuple[PlanDraft, list[Resource], dict[str, ShopConnection]]:
        with KindReads(self.clients, options.concurrency) as reads:
            self._read_ahead(paths, reads, options, self.store.link_ids())
            # The links with their records are read once for the whole draft, and let go with it
            # (a big shop's are ~100 MB decoded), while the reads ahead are on their way.
            stored = self.store.links()
            with busy_beside_reads():
                resources, shops = self._load(paths, options.now, stored=stored)
            draft = draft_plan(resources, self.store, self.clients, options, reads, stored)
        return draft, resources, shops

    def _options(self, scope: Scope, moment: datetime) -> PlanOptions:
        return PlanOptions(scope, moment, concurrency=self.settings.client.workers)

    def _read_ahead(
        self, paths: Sequence[str], reads: KindReads, options: PlanOptions, ids: Sequence[tuple[ResourceKey, str]],
    ) -> None:
        """Start reading the kinds whose reads follow from the state store alone (reads_links_only:
        the item pools, most of a big shop's reads) of the shops whose Shop profile can be read on
        its own, before every manifest is loaded and validated. Reads only: if the manifests are
        then refused, the reads not yet sent are not sent (KindReads.close) and nothing is written.
        Apply reads nothing ahead: its journal must be settled first. When the profiles cannot be
        found this way (a templated profile, a profile file with a problem), nothing starts early."""
        scope = options.scope
        profiles = {name: profile for name, profile in profiles_ahead(paths).items() if scope.covers_shop(name)}
        # Links without their records: these kinds read by key and remote id only (reads_links_only).
        links = [Link(key, remote_id, {}) for key, remote_id in ids if key.shop in profiles and scope.covers(key)]
        early = [name for name in kinds_in_dependency_order() if KINDS[name].reads_links_only]
        if not links or not early:
            return
        try:
            self.clients.use_profiles(connections_of(profiles))
        except ReconcilerError:
            return  # said in its place, once the manifests are loaded
        for shop in sorted({link.key.shop for link in links}):
            ctx = PlanContext(shop=shop, now=options.now, desired={},
                              links={link.key: link for link in links if link.key.shop == shop})
            for kind_name in early:
                if ctx.links_of(kind_name):
                    reads.start(kind_name, ctx)

    def _load(
        self, paths: Sequence[str], moment: datetime, *, say: bool = True, whole: bool = True,
        stored: Sequence[Link] | None = None,
    ) -> tuple[list[Resource], dict[str, ShopConnection]]:
        manifests = self._scoped(paths, whole=whole, stored=stored)
        resources = desired_resources(manifests, moment)
        shops = connections_of(manifests.shops)
        self._connect(shops, say=say)
        return resources, shops  # the documents need not stay in memory while TOP is read

    def _scoped(self, paths: Sequence[str], *, whole: bool = True, stored: Sequence[Link] | None = None) -> ManifestSet:
        """The manifests of the shops in scope (--shop, --shard). When they are the `whole` desired
        state (plan, apply, drift; not import, whose PATHS may be one shop's files), refused if this
        project's state store manages objects of an in-scope shop that has no Shop profile any more."""
        scope = self.settings.scope
        links = self.store.links() if stored is None else stored
        manifests = scoped_manifests(load_manifests(list(paths)), scope, {link.key.shop for link in links})
        if not whole:
            return manifests
        orphaned: dict[str, int] = {}
        for link in links:
            if link.key.shop not in manifests.shops and scope.covers(link.key):
                orphaned[link.key.shop] = orphaned.get(link.key.shop, 0) + 1
        if orphaned:
            raise PlanError("\n".join(_orphan_message(shop, count, self.store) for shop, count in sorted(orphaned.items())))
        return manifests

    def _connect(self, shops: Mapping[str, ShopConnection], *, say: bool = True) -> None:
        self.clients.use_profiles(shops)
        if say:
            self.hooks.connected()  # before the first TOP call: a run that fails still said where it pointed

    def _reviewed(
        self, draft: PlanDraft, desired: Sequence[Resource], shops: Mapping[str, ShopConnection], moment: datetime,
        scope: Scope, paths: Sequence[str], *, notes: tuple[str, ...] = (), saved: bool = False,
    ) -> Review:
        prices = check_prices(draft.plan(), desired, self.store, self.clients, moment, scope)
        # A saved plan already carries the warnings and notes of the check made when it was planned.
        plan = draft.plan(
            warnings=[w for w in prices.warnings if w not in draft.warnings],
            notes=[n for n in prices.notes if n not in draft.notes],
            read_calls=prices.read_calls,
        )
        return Review(plan, tuple(desired), prices, tuple(self._safety_problems(plan, desired, paths)), notes,
                      moment, scope, shops, saved)

    def _safety_problems(self, plan: Plan, desired: Sequence[Resource], paths: Sequence[str]) -> list[str]:
        safety = self.settings.safety
        duplicates = [] if safety.allow_duplicates else duplicate_problems(plan, paths)
        return prevent_destroy_violations(plan, {r.key: r for r in desired}) + threshold_violations(plan, safety) + duplicates

    # ---- drift and import ------------------------------------------------------------------

    def drift(self, paths: Sequence[str]) -> DriftReport:
        """`drift`: TOP against what was last applied; the manifests only say how to reach each shop."""
        self._connect(connections_of(self._scoped(paths).shops))
        return find_drift(self.store, self.clients, self.settings.clock.now, self.settings.scope)

    def adopt(self, kind: str, name: str, remote_id: str, paths: Sequence[str]) -> ResourceKey:
        """`import`: link the TOP object `remote_id` to KIND/NAME, declared in the manifests at
        `paths`; only the state store changes (the shop is locked while it does)."""
        resources, _manifests = self._load(paths, self.settings.clock.now, say=False, whole=False)
        matches = [r for r in resources if r.key.kind == kind and r.key.name == name]
        if not matches:
            raise ImportRefused(_("no manifest declares {kind}/{name}; declare it first, then import the object it should "
                                  "manage").format(kind=kind, name=name))
        if len(matches) > 1:
            raise ImportRefused(_("{kind}/{name} is declared for several shops; import is per shop — narrow PATHS to one "
                                  "shop's files").format(kind=kind, name=name))
        resource = matches[0]
        if self.locks is not None:
            self.locks.hold([resource.key.shop])
        existing = self.store.get(resource.key)
        if existing is not None:
            raise ImportRefused(_("{key} already manages remote object {remote_id}; `reconciler state rm` it first").format(
                key=resource.key, remote_id=existing.remote_id))
        for link in self.store.links(resource.key.shop):
            if link.key.kind == kind and link.remote_id == remote_id:
                raise ImportRefused(_("remote object {remote_id} is already managed as {key}").format(
                    remote_id=remote_id, key=link.key))
        record = KINDS[kind].import_record(self.clients(resource.key.shop), remote_id, resource)
        self.store.put(Link(resource.key, remote_id, record))
        for entry in self.store.journal(status="sent"):
            if entry.key == resource.key:  # a create whose answer was lost: this import settles it
                self.store.journal_failed(entry.id, f"resolved by `reconciler import` of remote object {remote_id}")
        return resource.key

    # ---- apply -----------------------------------------------------------------------------

    def review_for_apply(self, paths: Sequence[str]) -> Review:
        """`apply PATHS`: settle the journal, plan now, and (with a reviewed checksum) refuse a
        plan that is not the reviewed one."""
        moment = self.settings.clock.now  # one clock per run: the plan and its price check share it
        resources, shops = self._load(paths, moment)
        self._settle(shops)
        scope = self.settings.scope
        draft = draft_plan(resources, self.store, self.clients, self._options(scope, moment))
        expected = self.settings.apply.checksum
        if expected:
            _require_checksum(draft.plan(), expected, self.settings.apply.reviewed_plan)
        return self._reviewed(draft, resources, shops, moment, scope, paths)

    def review_saved(self, path: str) -> Review:
        """`apply plan.json`: the saved plan, read and verified once, if nothing it was planned
        from moved since; its own moment and scope."""
        saved = read_saved_plan(path)
        self._connect(saved.shops)
        self._settle(saved.shops)
        current = draft_plan(list(saved.desired), self.store, self.clients, self._options(saved.scope, saved.now))
        moved = stale_objects(saved.plan, current.plan())
        if moved:
            raise StalePlan(path, moved)
        # The duplicate guard looks at TOP as it is now: a saved plan does not carry what it found.
        draft = PlanDraft.of(saved.plan, current.duplicates)
        return self._reviewed(draft, saved.desired, saved.shops, saved.now, saved.scope, (), saved=True)

    def _settle(self, shops: Mapping[str, ShopConnection]) -> None:
        # Every shop this apply may read or write is locked before the journal is settled: another
        # apply's unanswered write is in flight, not lost, and must not be settled from here.
        # Only shops in scope (--shop, --shard): another shard's apply holds and settles its own.
        in_scope = self.settings.scope.covers_shop
        if self.locks is not None:
            open_writes = self.store.journal(status="sent")
            wanted = set(shops) | {link.key.shop for link in self.store.links()} | {e.key.shop for e in open_writes}
            self.locks.hold(shop for shop in wanted if in_scope(shop))
        for message in settle_interrupted_writes(self.store, self.clients, in_scope):
            self.hooks.recovered(message)

    def apply(self, review: Review, listener: ApplyListener | None = None) -> ApplyReport:
        """Send the reviewed plan (refused when unsafe), then record what TOP now matches and the
        revision. An empty plan sends nothing and still records."""
        review.raise_if_unsafe("nothing was sent")
        if review.plan.empty:
            report = ApplyReport(run_id="")
        else:
            workers = self.settings.apply.parallelism or self.settings.client.concurrency
            report = apply_plan(review.plan, self.store, self.clients, listener=listener, parallelism=workers)
        record_applied(self.store, review.desired, review.scope, unsettled=_unsettled(report))
        revision = self.settings.apply.revision
        if revision:  # also after a failure: what was sent came from this revision's reviewed plan
            self.store.record_revision(revision, "apply")
        return report


def prices(
    settings: Settings, clients: Connector, paths: Sequence[str], item_ids: Sequence[str] = (), hooks: Hooks = Hooks(),
) -> list[ShopPrices]:
    """`price`: each shop's items at the run's moment (--at) with every declared promotion that can
    apply then. No state store: what is declared is priced, not what was applied."""
    clock = settings.clock
    manifests = scoped_manifests(load_manifests(list(paths)), settings.scope)
    # A manifest whose window is over is an error in plan; here only if it was over at the moment priced.
    resources = desired_resources(manifests, min(clock.moment, clock.now))
    clients.use_profiles(connections_of(manifests.shops))
    hooks.connected()
    return price_shops(resources, clients, clock.moment, item_ids)


def _require_checksum(current: Plan, expected: str, reviewed_plan: str | None) -> None:
    actual = plan_checksum(current)
    if actual == expected:
        return
    lines = [_("the plan now differs from the reviewed one (checksum {actual}, reviewed {expected}); nothing was "
               "sent.").format(actual=actual, expected=expected)]
    if reviewed_plan:
        lines += plan_difference(read_saved_plan(reviewed_plan).plan, current)
    else:
        lines.append(_("The plan as it is now:"))
        lines.append(render_text(current))
    raise ChecksumMismatch(actual, expected, lines)


def _unsettled(report: ApplyReport) -> set[ResourceKey]:
    return {change.key for change, _ in report.failed} | {change.key for change in report.not_tried}


def scoped_manifests(manifests: ManifestSet, scope: Scope, stored_shops: Collection[str] = ()) -> ManifestSet:
    """Only the Shop profiles and documents of the shops in scope (--shop, --shard): the others are
    neither normalised nor read from TOP. A --shop naming no Shop profile (nor a shop the state
    store manages, which the orphan check then names) is a typo, refused."""
    if not scope.shop_limited:
        return manifests
    unknown = sorted((scope.shops or frozenset()) - set(manifests.shops) - set(stored_shops))
    if unknown:
        known = ", ".join(sorted(manifests.shops)) or _("none")
        raise SettingsError(_("--shop {shops}: no Shop profile of that name in the manifests; known: {known}").format(
            shops=", ".join(unknown), known=known))
    return ManifestSet(
        shops={name: profile for name, profile in manifests.shops.items() if scope.covers_shop(name)},
        documents=tuple(doc for doc in manifests.documents if doc.shop is not None and scope.covers_shop(doc.shop)),
    )


def _orphan_message(shop: str, count: int, store: StateStore) -> str:
    """A shop of THIS project (its namespace) whose Shop profile was removed while the store still
    manages its objects: planning it would need credentials nobody declares, and skipping it would
    silently stop managing objects on TOP. Another repository's shops never get here (their rows
    carry another namespace)."""
    return _(
        "shop '{shop}' has {count} managed object(s) in this project's state store (project id '{project}') but no "
        "Shop profile in the manifests. To delete them from TOP, restore its Shop profile without their manifests and "
        "apply with --prune; to stop managing them and leave them on TOP, `reconciler state rm {shop}/KIND/NAME` "
        "each (`reconciler state list` shows them); to leave the shop out of this run, name the others with --shop"
    ).format(shop=shop, count=count, project=store.namespace)


def interrupted_notes(store: StateStore, scope: Scope = EVERYTHING) -> list[str]:
    open_writes = [e for e in store.journal(status="sent") if e.method != STATE_ONLY and scope.covers_shop(e.key.shop)]
    if not open_writes:
        return []
    return [f"{len(open_writes)} write(s) of an interrupted apply have no recorded answer; "
            "the next apply asks TOP whether they took effect before doing anything else"]
