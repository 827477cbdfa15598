"""`reconciler export` (issue 19): adopt an existing shop in one command. It reads the shop with the
kinds' own read calls (read-only client), writes one manifest file per kind in the manifests' words
(kinds/exported.py), and with --import links each exported object in the state store through
`reconciler import`'s code path (Reconciler.adopt, under the shop's lock), so the next plan of the
directory shows no changes. Files written go to stdout, one per line; every message to stderr."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

import click

from reconciler.cli.common import EXIT_ERROR, build_settings, check_outputs, errors_reported, fail, project_of, shop_locks
from reconciler.cli.root import cli
from reconciler.connect import Clients
from reconciler.engine.plan import desired_resources
from reconciler.engine.reconcile import Reconciler
from reconciler.errors import ImportRefused, ManifestError, PlanError
from reconciler.i18n import _
from reconciler.kinds import KINDS
from reconciler.kinds.base import Caller, Kind
from reconciler.kinds.exported import (
    ExportError,
    Exported,
    KindExport,
    document_block,
    file_text,
    iso_now,
    yaml_text,
)
from reconciler.kinds.listing_window import ListingWindow
from reconciler.manifest import ShopProfile, load_manifest_texts, load_manifests
from reconciler.model import Link
from reconciler.project import DEFAULT_MANIFESTS
from reconciler.settings import Scope, Settings, connections_of
from reconciler.state import StateStore, open_store

SNAPSHOT_NAME = "on-sale-snapshot"
SHOP_FILE = "shop.yaml"


def file_name(kind: str) -> str:
    """ShopCoupon → shop-coupon.yaml, as the schemas are named."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", kind).lower() + ".yaml"


@dataclass
class Outcome:
    """What the run did, for the closing summary."""

    by_kind: dict[str, KindExport] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)  # already managed
    ended: list[str] = field(default_factory=list)  # ended before the run, left out (no --include-ended)
    imported: list[str] = field(default_factory=list)
    not_imported: list[str] = field(default_factory=list)  # import refused, with why

    def of(self, kind: str) -> KindExport:
        return self.by_kind.setdefault(kind, KindExport(kind))

    def exported(self) -> list[Exported]:
        return [obj for part in self.by_kind.values() for obj in part.objects]

    def summary(self, unlisted: Sequence[tuple[str, str]]) -> list[str]:
        objects = self.exported()
        lossy = [obj for obj in objects if obj.lossy]
        failed = [f"{part.kind} {line}" for part in self.by_kind.values() for line in part.failed]
        counts = {"exported": len(objects) - len(lossy), "skipped": len(self.skipped), "lossy": len(lossy),
                  "failed": len(failed), "ended": len(self.ended), "unlisted": len(unlisted), "imported": len(self.imported)}
        if self.imported:
            head = _("exported {exported}, skipped {skipped} (already managed), lossy {lossy} (written commented out, not "
                     "imported), failed {failed}, ended {ended} (not exported), not listable {unlisted} kind(s), "
                     "imported {imported}").format(**counts)
        else:
            head = _("exported {exported}, skipped {skipped} (already managed), lossy {lossy} (written commented out, not "
                     "imported), failed {failed}, ended {ended} (not exported), not listable {unlisted} kind(s)").format(**counts)
        lines = [head]
        lines += [_("skipped: {what}").format(what=line) for line in self.skipped]
        lines += [_("ended, not exported: {what} (--include-ended exports it)").format(what=line) for line in self.ended]
        lines += [_("lossy: {kind} {remote_id}: {lost}").format(kind=obj.kind, remote_id=obj.remote_id, lost="; ".join(obj.lost))
                  for obj in lossy]
        lines += [_("failed: {what}").format(what=line) for line in failed]
        lines += [_("not imported: {what}").format(what=line) for line in self.not_imported]
        return lines


@cli.command("export")
@click.option("--shop", "shops", multiple=True, metavar="NAME",
              help="The shop to read: a Shop profile (metadata.name) in --manifests. Repeatable: then each shop is "
                   "written to DIR/NAME/.")
@click.option("--shard", default=None, metavar="I/N",
              help="Every shop of shard I of N among the Shop profiles in --manifests (as `plan --shard` and "
                   "`reconciler shops --shard` take them; with --shop, those of them in the shard), each to DIR/NAME/.")
@click.option("--out", "out_dir", required=True, metavar="DIR",
              help=f"Where to write one manifest file per kind (and {SHOP_FILE}, a copy of the Shop profile, unless "
                   "DIR is inside --manifests). Existing files there are never overwritten.")
@click.option("--kind", "kinds", multiple=True, metavar="KIND",
              help="Export every object of this kind TOP can list (repeatable). Default: every kind TOP can list "
                   "(ShopCoupon, ItemDiscount, FullDiscount).")
@click.option("--id", "ids", multiple=True, metavar="KIND:ID",
              help="Also export this object (repeatable), e.g. ItemPoolActivity:42: the only way for kinds TOP "
                   "cannot list.")
@click.option("--import", "link", is_flag=True,
              help="Also link each exported object in the state store (as `reconciler import` does, under the "
                   "shop's lock), so `reconciler plan DIR` shows no changes. Without it the plan shows the imports "
                   "to make.")
@click.option("--listing", type=click.Choice(["snapshot"]), default=None,
              help=f"Also write a ListingWindow ({SNAPSHOT_NAME}) pinning the items on sale now.")
@click.option("--include-ended", is_flag=True,
              help="Also export objects whose window ended before now (TOP's lists still show them). Default: they "
                   "are left out and counted in the summary as 'ended, not exported'.")
@click.option("--manifests", default=None, metavar="PATH",
              help=f"The manifests holding the Shop profile: how to reach TOP (the env var names of its credentials, "
                   f"its gateway). Default: {DEFAULT_MANIFESTS}/ of DIR's project (reconciler.toml or git root). "
                   "Credentials come from the environment, never from files.")
def export(shops: tuple[str, ...], shard: str | None, out_dir: str, kinds: tuple[str, ...], ids: tuple[str, ...],
           link: bool, listing: str | None, include_ended: bool, manifests: str | None) -> None:
    """Write the shop's live promotions as manifests in DIR, in the manifests' units (yuan strings, 折
    rates, ISO times with +08:00), named by title slug + remote id, each with comments carrying its
    remote id and what the manifest format does not hold. An object whose values the format cannot
    express is written commented out, says what would be lost, and is not imported.

    TOP has no list call for ItemPoolActivity, TaokeCashGift and CouponGrant: name their ids with
    --id KIND:ID (ItemPoolActivity only, for now). Objects the state store already manages are
    skipped, and so are objects whose window ended before now unless --include-ended. Never writes
    to TOP.

    Several shops (--shop repeated, or --shard I/N for one job of a fleet): each is read, written to
    DIR/NAME/ and linked on its own, with its own summary; --id, which names one shop's object,
    needs a single --shop."""
    if not shops and shard is None:
        fail(_("name the shop to read with --shop NAME (or the shops of a shard with --shard I/N)"))
    listed_kinds, wanted_ids = _parse_selection(kinds, ids)
    check_outputs({}, {"--out": out_dir})
    single = len(shops) == 1 and shard is None  # written to DIR itself, as before shards
    if wanted_ids and not single:
        fail(_("--id names one shop's object: give a single --shop (without --shard) with it"))
    project = project_of([out_dir])
    manifests = manifests or str(project.root / DEFAULT_MANIFESTS)
    if not Path(manifests).exists():
        fail(_("{manifests} does not exist: give the manifests that declare shop {shops} with --manifests PATH").format(
            manifests=manifests, shops=", ".join(shops) or _("profiles")))
    with errors_reported():
        profiles = _profiles(manifests, shops, shard)
    if not profiles:
        click.echo(_("shard {shard} holds none of the shops in {manifests}: nothing to export").format(
            shard=shard, manifests=manifests), err=True)
        return
    targets = {shop: Path(out_dir) if single else Path(out_dir) / shop for shop in profiles}
    names = [file_name(kind) for kind in {*listed_kinds, *(kind for kind, _ in wanted_ids)}]
    names += [file_name(ListingWindow.kind)] if listing else []
    taken = [str(target / name) for target in targets.values() for name in [*names, SHOP_FILE] if (target / name).exists()]
    if taken:
        fail(_("{files} already exist(s); export writes new files only: move them or choose another --out").format(
            files=", ".join(taken)))
    for target in targets.values():
        target.mkdir(parents=True, exist_ok=True)
    settings = build_settings(project)
    selection = Selection(listed_kinds, wanted_ids, listing, include_ended, link)
    failed = False
    with Clients(read_only=True, env=settings.env, settings=settings.client) as clients, \
            errors_reported([clients]), open_store(settings.env) as store:
        clients.use_profiles(connections_of(profiles))
        for shop, profile in profiles.items():
            if not single:
                click.echo(_("shop {shop} → {directory}:").format(shop=shop, directory=targets[shop]), err=True)
            outcome = Outcome()
            paths = _export_shop(settings, clients, store, shop, profile, manifests, targets[shop], selection, outcome)
            _report(outcome, selection, paths, str(targets[shop]))
            failed = failed or any(part.failed for part in outcome.by_kind.values())
    if failed:
        sys.exit(EXIT_ERROR)


@dataclass(frozen=True)
class Selection:
    """What to export of each shop, as the options gave it."""

    listed_kinds: list[str]
    wanted_ids: list[tuple[str, str]]
    listing: str | None
    include_ended: bool
    link: bool


def _export_shop(settings: Settings, clients: Clients, store: StateStore, shop: str, profile: ShopProfile,
                 manifests: str, target: Path, selection: Selection, outcome: Outcome) -> list[str]:
    """One shop: read, leave out what is managed (and what ended), check, write, link. Returns the
    paths a plan of the export reads."""
    _read(clients(shop), selection.listed_kinds, selection.wanted_ids, selection.listing, outcome)
    _skip_managed(store, shop, outcome)
    if not selection.include_ended:
        _skip_ended(outcome, settings.clock.now)
    _check_each(outcome, shop, profile, settings.clock.now)
    paths = _write(target, shop, profile, manifests, outcome, iso_now(settings.clock.now))
    _check_written(paths)
    if selection.link:
        _link(Reconciler(settings, clients, store, locks=shop_locks(store)), clients(shop), paths, outcome)
    return paths


def _report(outcome: Outcome, selection: Selection, paths: Sequence[str], out_dir: str) -> None:
    unlisted = _unlisted(selection.listed_kinds, {kind for kind, _ in selection.wanted_ids})
    for line in outcome.summary(unlisted):
        click.echo(line, err=True)
    for kind, hint in unlisted:
        click.echo(_("not listable: {kind}: {hint}").format(kind=kind, hint=hint), err=True)
    importable = [obj for obj in outcome.exported() if not obj.lossy]
    if not selection.link and importable:
        # Item pools have no duplicate guard: their plan shows a create, so the imports are said here.
        click.echo(_("next: link the exported objects (or run export again with --import), then `reconciler plan "
                     "{out_dir}` shows no change:").format(out_dir=out_dir), err=True)
        for obj in importable:
            words = ["reconciler", "import", obj.kind, obj.name, obj.remote_id, *paths]
            click.echo("  " + " ".join(shlex.quote(word) for word in words), err=True)


# ---- what to export --------------------------------------------------------------------------


def _listable(kind: str) -> bool:
    """A kind whose export_listed the base does not leave at None (it has a list call)."""
    return type(KINDS[kind]).export_listed is not Kind.export_listed


def _parse_selection(kinds: Sequence[str], ids: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    known = sorted(KINDS)
    for kind in kinds:
        if kind not in KINDS:
            fail(_("--kind {kind}: no such kind; kinds: {known}").format(kind=kind, known=", ".join(known)))
        if not _listable(kind):
            fail(f"--kind {kind}: {_why_not_listed(kind)}")
    wanted: list[tuple[str, str]] = []
    for item in ids:
        kind, sep, remote_id = item.partition(":")
        if not sep or not remote_id or kind not in KINDS:
            fail(_("--id {item}: not KIND:ID with a known kind, e.g. ItemPoolActivity:42; kinds: {known}").format(
                item=item, known=", ".join(known)))
        wanted.append((kind, remote_id))
    listed = list(dict.fromkeys(kinds)) if kinds else [k for k in known if _listable(k)]
    return listed, wanted


def _why_not_listed(kind: str) -> str:
    instance = KINDS[kind]
    if not instance.read_methods:
        return _("{kind} is no object on TOP (the reconciler's own rule): there is nothing to export").format(kind=kind)
    if instance.not_exportable:
        return _(instance.not_exportable)
    return _("TOP cannot list {kind} objects; name each with --id {kind}:ID").format(kind=kind)


def _unlisted(listed: Iterable[str], by_id: set[str]) -> list[tuple[str, str]]:
    """Kinds with TOP objects that were not read: why, and how to name their ids."""
    hints = []
    for kind in sorted(KINDS):
        if kind in listed or kind == ListingWindow.kind or _listable(kind) or not KINDS[kind].write_methods:
            continue
        exportable = type(KINDS[kind]).export_one is not Kind.export_one
        why = _(KINDS[kind].not_exportable) if KINDS[kind].not_exportable else _("export cannot write it yet")
        how = (_("TOP has no list call; name ids with --id {kind}:ID").format(kind=kind) if exportable
               else _("{why}; declare it by hand and `reconciler import {kind} NAME ID`").format(why=why, kind=kind))
        if kind in by_id:
            how = _("{how} (the ids given with --id were tried)").format(how=how)
        hints.append((kind, how))
    return hints


def _profiles(manifests: str, shops: Sequence[str], shard: str | None) -> dict[str, ShopProfile]:
    """The Shop profiles to export, by name: those named with --shop, those of the shard, or both."""
    declared = load_manifests([manifests]).shops
    for shop in shops:
        if shop not in declared:
            raise ExportError(_("--shop {shop}: no Shop profile of that name in {manifests} (declared: {declared}); "
                                "give the manifests with --manifests").format(
                shop=shop, manifests=manifests, declared=", ".join(sorted(declared)) or _("none")))
    scope = Scope.parse(shops=shops, shard=shard)
    return {shop: declared[shop] for shop in sorted(declared) if scope.covers_shop(shop)}


def _read(caller: Caller, listed: Sequence[str], wanted: Sequence[tuple[str, str]], listing: str | None,
          outcome: Outcome) -> None:
    seen: set[tuple[str, str]] = set()
    for kind in listed:
        for obj in KINDS[kind].export_listed(caller) or []:
            outcome.of(kind).objects.append(obj)
            seen.add((kind, obj.remote_id))
    for kind, remote_id in wanted:
        if (kind, remote_id) in seen:
            continue
        seen.add((kind, remote_id))
        try:
            outcome.of(kind).objects.append(KINDS[kind].export_one(caller, remote_id))
        except ExportError as exc:
            outcome.of(kind).failed.append(f"{remote_id}: {exc}")
    window = KINDS[ListingWindow.kind]
    if listing == "snapshot" and isinstance(window, ListingWindow):
        outcome.of(window.kind).objects.append(window.export_snapshot(caller, SNAPSHOT_NAME))


def _skip_managed(store: StateStore, shop: str, outcome: Outcome) -> None:
    """Objects the store already links to a name are left out (a second manifest would own them twice)."""
    managed = {(link.key.kind, link.remote_id): link.key for link in store.links(shop)}
    for part in outcome.by_kind.values():
        kept = []
        for obj in part.objects:
            key = managed.get((obj.kind, obj.remote_id))
            if key is not None and obj.kind != ListingWindow.kind:
                outcome.skipped.append(_("{kind} {id} is already managed as {key}").format(
                    kind=obj.kind, id=obj.remote_id, key=key))
            else:
                kept.append(obj)
        part.objects = kept


def _skip_ended(outcome: Outcome, now: datetime) -> None:
    """Objects whose window ended before the run (a shop's lists keep ended promotions) are left out:
    adopting them is clutter, and a plan would only say they ended."""
    for part in outcome.by_kind.values():
        kept = []
        for obj in part.objects:
            end = obj.ended_by(now)
            if end is None:
                kept.append(obj)
            else:
                outcome.ended.append(_("{kind} {id} ended at {end}").format(kind=obj.kind, id=obj.remote_id, end=end))
        part.objects = kept


def _link(reconciler: Reconciler, caller: Caller, paths: Sequence[str], outcome: Outcome) -> None:
    """Each exported object through `reconciler import`'s code path (Reconciler.adopt: its checks,
    the shop's lock, the journal), then the record its kind keeps for an exported manifest
    (Kind.import_exported: an item pool's manifest recorded as applied, as plan's adoption would)."""
    resources = {r.key: r for r in desired_resources(load_manifests(list(paths)), reconciler.settings.clock.now)}
    assert reconciler.locks is not None
    with reconciler.locks:
        for obj in outcome.exported():
            if obj.lossy:
                continue
            try:
                key = reconciler.adopt(obj.kind, obj.name, obj.remote_id, paths)
            except (ImportRefused, PlanError) as exc:  # that object only; TOP errors stop the run
                outcome.not_imported.append(f"{obj.kind} {obj.remote_id}: {exc}")
                continue
            kind = KINDS[obj.kind]
            if type(kind).import_exported is not Kind.import_exported:
                record = kind.import_exported(caller, obj.remote_id, resources[key])
                reconciler.store.put(Link(key, obj.remote_id, record))
            outcome.imported.append(str(key))


def _check_each(outcome: Outcome, shop: str, profile: ShopProfile, now: datetime) -> None:
    """Each document through the loader and its kind's normalise, alone: one the manifests would
    refuse (a rule of the schema or of the kind the kind's export did not foresee) is lost, with the
    loader's words, rather than failing the whole export or being dropped."""
    shop_text = yaml_text(_shop_document(profile))
    for part in outcome.by_kind.values():
        for index, obj in enumerate(part.objects):
            if obj.lossy:
                continue
            try:
                loaded = load_manifest_texts([(SHOP_FILE, shop_text), (f"{obj.kind} {obj.remote_id}",
                                                                       yaml_text(obj.document(shop)))])
                desired_resources(loaded, now)
            except ManifestError as exc:
                problems = tuple(f"{problem.path}: {problem.message}" for problem in exc.problems)
                part.objects[index] = replace(obj, lost=problems)


def _shop_document(profile: ShopProfile) -> dict[str, object]:
    return {"apiVersion": "campaigns/v1", "kind": "Shop", "metadata": dict(profile.source.metadata),
            "spec": dict(profile.source.spec)}


# ---- writing -----------------------------------------------------------------------------------


def _write(target: Path, shop: str, profile: ShopProfile, manifests: str, outcome: Outcome, now: str) -> list[str]:
    """One file per kind; the Shop profile too unless DIR is inside the manifests (it would be declared
    twice). Returns the paths a plan of the export reads (DIR, and the profile's file if not copied)."""
    written: list[str] = []
    for kind, part in sorted(outcome.by_kind.items()):
        if not part.objects:  # failures are in the summary; a file without documents helps no one
            continue
        header = [f"{kind} objects of shop {shop}, exported from TOP by `reconciler export` at {now}.",
                  "Review them, then commit; `reconciler plan` compares them with TOP."]
        header += [f"not exported: {kind} {line}" for line in part.failed]
        blocks = [document_block(obj, shop, [f"{kind} {obj.remote_id} on TOP"]) for obj in part.objects]
        path = target / file_name(kind)
        path.write_text(file_text(header, blocks), encoding="utf-8")
        written.append(str(path))
    paths = [str(target)]
    if _inside(target, Path(manifests)):
        paths.append(profile.source.file)
    else:
        path = target / SHOP_FILE
        path.write_text(file_text([f"How to reach shop {shop}: a copy of its profile in {manifests} (env var names "
                                   "only; credentials come from the environment)."], [yaml_text(_shop_document(profile))]),
                        encoding="utf-8")
        written.append(str(path))
    for path_text in written:
        click.echo(path_text)
    return paths


def _inside(path: Path, parent: Path) -> bool:
    try:
        path.resolve().relative_to(parent.resolve())
    except ValueError:
        return False
    return True


def _check_written(paths: Sequence[str]) -> None:
    """The files are read back by the loader (schema and semantic checks) before anything else."""
    try:
        load_manifests(list(paths))
    except ManifestError as exc:
        raise ExportError("the exported files do not load (a bug in export; please report it): "
                          + "; ".join(str(problem) for problem in exc.problems[:5])) from None


__all__ = ["export", "file_name"]
