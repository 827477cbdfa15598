"""Commands on the state store: import (adopt a TOP object), journal (list, resolve), state
(revision, list, show, rm). Only `import` reads TOP; none writes to it."""

from __future__ import annotations

import json
from decimal import Decimal

import click

from reconciler.cli.common import build_settings, errors_reported, fail, project_of, shop_locks, store_of_project
from reconciler.cli.root import cli
from reconciler.connect import Clients
from reconciler.engine.apply import resolve_by_hand
from reconciler.engine.codec import dumps
from reconciler.engine.outputs import state_list_to_data
from reconciler.engine.reconcile import Reconciler
from reconciler.engine.render import render_record
from reconciler.i18n import _
from reconciler.model import ResourceKey
from reconciler.state import open_store


@cli.command("import")
@click.argument("kind")
@click.argument("name")
@click.argument("remote_id")
@click.argument("paths", nargs=-1)
def import_(kind: str, name: str, remote_id: str, paths: tuple[str, ...]) -> None:
    """Adopt an existing TOP object as the managed resource KIND/NAME, declared in the manifests.

    Only the state store changes; the next plan shows what differs between TOP and the manifest."""
    settings = build_settings(project_of(paths))
    with Clients(read_only=True, env=settings.env, settings=settings.client) as clients, errors_reported([clients]), \
            open_store(settings.env) as store, shop_locks(store) as locks:
        key = Reconciler(settings, clients, store, locks=locks).adopt(kind, name, remote_id, paths)
    click.echo(_("imported {kind} {remote_id} as {key}; run plan to see how it differs from the manifest").format(
        kind=kind, remote_id=remote_id, key=key))


@cli.group()
def journal() -> None:
    """The apply journal: every write, recorded before it was sent and after its answer."""


@journal.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only writes sent without a recorded answer.")
@click.option("--last", type=int, default=50, show_default=True, help="How many entries, newest last.")
def journal_list(only_open: bool, last: int) -> None:
    """One line per journaled write: id, status, resource, method, error."""
    with errors_reported(), store_of_project() as store:
        entries = store.journal(status="sent" if only_open else None)[-last:]
        for entry in entries:
            error = f"  {entry.error}" if entry.error else ""
            click.echo(f"{entry.id}\t{entry.status}\t{entry.key}\t{entry.method}{error}")


@journal.command("resolve")
@click.argument("entry_id", type=int)
@click.option("--applied/--not-applied", required=True, help="What you found on TOP for this write.")
@click.option("--answer", "answer_json", default=None, metavar="JSON",
              help="With --applied, for a create: the part of TOP's answer the plan binds, e.g. '{\"data\": 10001}'.")
def journal_resolve(entry_id: int, applied: bool, answer_json: str | None) -> None:
    """Record what a person checked on TOP for a write whose answer was lost and that TOP cannot
    tell about by itself; until then apply refuses to send anything for that shop."""
    try:
        answer = json.loads(answer_json, parse_float=Decimal) if answer_json else None
    except ValueError:
        fail(_("--answer is not JSON: {answer}").format(answer=answer_json))
    with errors_reported(), store_of_project() as store, shop_locks(store) as locks:
        entry = next((e for e in store.journal(status="sent") if e.id == entry_id), None)
        if entry is not None:
            # An apply of that shop may be settling this very entry: resolve_by_hand reads it
            # again under the lock, so an entry settled meanwhile is not resolved twice.
            locks.hold([entry.key.shop])
        click.echo(resolve_by_hand(store, entry_id, applied=applied, answer=answer))


@cli.group()
def state() -> None:
    """Inspect or edit the state store (which remote object each resource is)."""


@state.command("revision")
def state_revision() -> None:
    """The git revision `apply --revision` recorded last (what the schedule reconciles); exit 1 if none."""
    with errors_reported(), store_of_project() as store:
        revision = store.last_revision("apply")
    if revision is None:
        fail(_("no revision recorded: no `reconciler apply --revision` has run against this state store"))
    click.echo(revision)


@state.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON (schemas/output/state-list.schema.json).")
def state_list(as_json: bool) -> None:
    """One line per managed object: shop/kind/name and remote id."""
    with errors_reported(), store_of_project() as store:
        if as_json:
            click.echo(dumps(state_list_to_data(store.links()), indent=2))
            return
        for link in store.links():
            click.echo(f"{link.key}\t{link.remote_id}")


@state.command("show")
@click.argument("address")
def state_show(address: str) -> None:
    """Everything recorded for SHOP/KIND/NAME."""
    with errors_reported(), store_of_project() as store:
        link = store.get(_parse_address(address))
        if link is None:
            fail(_("{address} is not in the state store").format(address=address))
        click.echo(render_record(link))


@state.command("rm")
@click.argument("address")
def state_rm(address: str) -> None:
    """Forget SHOP/KIND/NAME without touching TOP (the object becomes unmanaged)."""
    with errors_reported(), store_of_project() as store, shop_locks(store) as locks:
        key = _parse_address(address)
        locks.hold([key.shop])
        if store.get(key) is None:
            fail(_("{address} is not in the state store").format(address=address))
        store.remove(key)
        click.echo(_("forgot {address}; the object on TOP is untouched and now unmanaged").format(address=address))


def _parse_address(address: str) -> ResourceKey:
    parts = address.split("/")
    if len(parts) != 3 or not all(parts):
        fail(_("'{address}' is not SHOP/KIND/NAME, e.g. demo-shop/ItemPoolActivity/fresh-618").format(address=address))
    return ResourceKey(*parts)
