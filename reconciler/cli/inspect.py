"""Commands that read and tell, never write to TOP: validate, render, shops, drift, price."""

from __future__ import annotations

import json
import sys

import click

from reconciler.cli.common import (
    EXIT_CHANGES,
    ShopScope,
    build_settings,
    errors_reported,
    project_of,
    shop_options,
    WhereHeader,
)
from reconciler.cli.root import cli
from reconciler.connect import Clients
from reconciler.engine.codec import dumps
from reconciler.engine.drift import drift_to_data, render_drift_text
from reconciler.engine.outputs import prices_to_data, validate_to_data, with_where
from reconciler.engine.plan import desired_resources
from reconciler.engine.price_report import moment_text, quote_lines
from reconciler.engine.reconcile import Hooks, Reconciler, prices
from reconciler.i18n import _
from reconciler.manifest import load_manifests, render_manifests
from reconciler.observe import current_watch, watched
from reconciler.settings import Clock, Scope
from reconciler.state import open_store


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print what is valid as JSON (schemas/output/validate.schema.json).")
def validate(paths: tuple[str, ...], as_json: bool) -> None:
    """Check manifests (syntax, schema, meaning) without calling TOP."""
    with errors_reported():
        manifests = load_manifests(list(paths))
        resources = desired_resources(manifests, Clock.read().now)
    if as_json:
        click.echo(dumps(validate_to_data(resources, list(manifests.shops)), indent=2))
        return
    click.echo(_("{resources} resource(s) in {shops} shop(s): valid").format(resources=len(resources), shops=len(manifests.shops)))


@cli.command("render")
@click.argument("paths", nargs=-1)
def render_command(paths: tuple[str, ...]) -> None:
    """Print the manifests as YAML with templates rendered, each document headed by its source line."""
    with errors_reported():
        sources = render_manifests(list(paths))
    click.echo("---\n".join(source.annotated() for source in sources), nl=False)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--shard", default=None, metavar="I/N", help="Only the shops of shard I of N (as plan --shard takes them).")
@click.option("--json", "as_json", is_flag=True,
              help="As one JSON document on stdout (schemas/output/shops.schema.json), e.g. for a CI job matrix.")
def shops(paths: tuple[str, ...], shard: str | None, as_json: bool) -> None:
    """List the shops of the manifests (their Shop profiles), one a line: what --shop takes, and
    with --shard I/N the shops that shard plans and applies. Never calls TOP or the state store."""
    with errors_reported():
        scope = Scope.parse(shard=shard)
        names = sorted(name for name in load_manifests(list(paths)).shops if scope.covers_shop(name))
    if as_json:
        click.echo(json.dumps({"format_version": 1, "shard": shard and str(scope.shard), "shops": names}, indent=2,
                              ensure_ascii=False))
        return
    for name in names:
        click.echo(name)


@cli.command()
@watched("drift")
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the drift as JSON.")
@shop_options
def drift(paths: tuple[str, ...], as_json: bool, shop_scope: ShopScope) -> None:
    """List what differs on TOP from what was last applied: changes nobody planned, e.g. made in
    the seller console. Exit 0 no drift, 2 drift found, 1 error. Never writes to TOP."""
    with errors_reported():
        scope = shop_scope.scope()
    settings = build_settings(project_of(paths), scope=scope)
    with Clients(read_only=True, env=settings.env, settings=settings.client) as clients, \
            errors_reported([clients]), open_store(settings.env) as store:
        watch = current_watch().attach(clients)
        header = WhereHeader(settings.store.project, clients, machine=as_json)
        hooks = Hooks(connected=header)
        report = Reconciler(settings, clients, store, hooks).drift(paths)
        watch.drift = report
        if as_json:
            click.echo(json.dumps({**drift_to_data(report), "where": header.data()}, indent=2, ensure_ascii=False))
        else:
            click.echo(render_drift_text(report))
    if report.found:
        sys.exit(EXIT_CHANGES)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--item", "item_ids", multiple=True, metavar="ID", help="Only this item (num_iid; repeatable).")
@click.option("--at", "at", default=None, help="The moment to price (ISO 8601 with offset); default now.")
@click.option("--json", "as_json", is_flag=True, help="As JSON (schemas/output/price.schema.json).")
@shop_options
def price(paths: tuple[str, ...], item_ids: tuple[str, ...], at: str | None, as_json: bool, shop_scope: ShopScope) -> None:
    """Show each item's worst-case price: the lowest unit price a buyer can reach when every
    declared promotion that can apply at that moment stacks, from TOP's list prices, with the
    promotions that produce it and the item's floor. Never writes to TOP."""
    with errors_reported():
        scope = shop_scope.scope()
    settings = build_settings(project_of(paths), at=at, scope=scope)
    moment = settings.clock.moment
    with Clients(read_only=True, env=settings.env, settings=settings.client) as clients, errors_reported([clients]):
        header = WhereHeader(settings.store.project, clients, machine=as_json)
        hooks = Hooks(connected=header)
        reports = prices(settings, clients, paths, item_ids, hooks)
        if as_json:
            click.echo(dumps(with_where(prices_to_data(moment, reports), header.data()), indent=2))
            return
        click.echo(_("Worst-case prices at {moment} (every declared promotion that can apply then, stacked; a unit, "
                     "rounded down to the fen):").format(moment=moment_text(moment)))
        for report in reports:
            if report.at_list_price:
                click.echo(_("shop {shop}: {count} item(s); {others} other item(s) read are at their list price").format(
                    shop=report.shop, count=len(report.quotes), others=report.at_list_price))
            else:
                click.echo(_("shop {shop}: {count} item(s)").format(shop=report.shop, count=len(report.quotes)))
            for quote, floor in report.quotes:
                for line in quote_lines(quote, floor):
                    click.echo(line)
            for note in report.notes:
                click.echo("  " + _("note: {note}").format(note=note))
