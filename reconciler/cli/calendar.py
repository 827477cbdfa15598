"""`reconciler calendar` (issue 21.2): the declared promotions and listing windows of each shop on
one self-contained HTML page (engine/calendar.py). From the manifests alone — no TOP call, no
state store — unless --prices is given: then list prices are read from TOP read-only, exactly as
`reconciler price` reads them, for each touched item's worst-case price over time."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

import click

from reconciler.cli.common import ShopScope, build_settings, errors_reported, project_of, shop_options
from reconciler.cli.root import cli
from reconciler.connect import Clients
from reconciler.engine.calendar import Page, page_range, read_prices, render_page
from reconciler.engine.plan import desired_resources
from reconciler.engine.reconcile import scoped_manifests
from reconciler.engine.timeline import GMT8, bars_of
from reconciler.errors import SettingsError
from reconciler.i18n import _
from reconciler.manifest import load_manifests
from reconciler.settings import connections_of


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--html", "html_file", required=True, metavar="FILE", help="Write the page here.")
@click.option("--from", "start", default=None, metavar="DATE",
              help="The page's first day (YYYY-MM-DD, GMT+8) or moment (ISO 8601); default: the earliest bar.")
@click.option("--to", "end", default=None, metavar="DATE",
              help="The page's last day, included (YYYY-MM-DD, GMT+8) or end moment; default: the latest bar.")
@click.option("--at", "at", default=None, help="The moment marked as now (ISO 8601 with offset); default now.")
@click.option("--prices", is_flag=True,
              help="Also chart each touched item's worst-case price over time against its floor: reads list "
                   "prices from TOP, read-only (as `reconciler price`).")
@shop_options
def calendar(paths: tuple[str, ...], html_file: str, start: str | None, end: str | None, at: str | None,
             prices: bool, shop_scope: ShopScope) -> None:
    """Write a campaign calendar: one HTML page (no network needed to view it) with a time line per
    shop, a bar per promotion and listing window (GMT+8), overlaps in lanes, a marker for now, the
    terms in 元 and 折 — and with --prices each touched item's worst-case price against its floor."""
    with errors_reported():
        scope = shop_scope.scope()
        first, last = _day(start, "--from", end=False), _day(end, "--to", end=True)
    settings = build_settings(project_of(paths), at=at, scope=scope)
    clock = settings.clock
    with errors_reported():
        manifests = scoped_manifests(load_manifests(list(paths)), settings.scope)
        # Past windows belong on a calendar: resources are read as at the earlier of now and --at.
        resources = desired_resources(manifests, min(clock.moment, clock.now))
    page = Page(resources, clock.moment, first, last, prices_note="List prices were not read (no --prices).")
    if prices:
        low, high = page_range(bars_of(resources), clock.moment, first, last)
        with Clients(read_only=True, env=settings.env, settings=settings.client) as clients, errors_reported([clients]):
            clients.use_profiles(connections_of(manifests.shops))
            found = read_prices(resources, clients, low, high)
        page = Page(resources, clock.moment, first, last, found, "List prices read from TOP (read-only).")
    Path(html_file).write_text(render_page(page), encoding="utf-8")
    shops = len({resource.key.shop for resource in resources})
    click.echo(f"Wrote the calendar of {shops} shop(s) to {html_file}", err=True)


def _day(text: str | None, option: str, *, end: bool) -> datetime | None:
    """A day (GMT+8; --to includes it, so its end is the next midnight) or an ISO 8601 moment."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = datetime.combine(datetime.strptime(text, "%Y-%m-%d").date(), time(0), tzinfo=GMT8)
            return day + timedelta(days=1) if end else day
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise SettingsError(_("{option} {text!r} is not a day like 2027-11-01 or a time like 2027-11-11T00:00+08:00").format(
            option=option, text=text)) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=GMT8)

