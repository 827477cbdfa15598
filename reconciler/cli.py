"""The `reconciler` command. The only place that reads the environment, opens clients and stores,
and prints; everything below it is called with plain values."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any, NoReturn

import click

from reconciler.engine.apply import ApplyReport, apply_plan
from reconciler.engine.plan import PlanOptions, desired_resources, make_plan
from reconciler.engine.render import render_json, render_record, render_text
from reconciler.errors import ManifestError, ReconcilerError
from reconciler.kinds.base import Caller
from reconciler.manifest import ManifestSet, ShopProfile, load_manifests
from reconciler.model import Call, Change, Plan, ResourceKey
from reconciler.state import StateStore, open_store
from reconciler.top import Credentials, TopClient, redact

log = logging.getLogger("reconciler")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


class Clients:
    """One TOP client per shop, built lazily from the shop's profile and the environment."""

    def __init__(self, *, read_only: bool, env: Mapping[str, str]) -> None:
        self._shops: Mapping[str, ShopProfile] = {}
        self._read_only = read_only
        self._env = env
        self._clients: dict[str, TopClient] = {}
        self.credentials: list[Credentials] = []

    def use_profiles(self, shops: Mapping[str, ShopProfile]) -> None:
        # Profiles come from the manifests, so they are known only after loading; until then no
        # client can be opened, which also keeps secrets out of any manifest error.
        self._shops = shops

    def __call__(self, shop: str) -> Caller:
        if shop not in self._clients:
            self._clients[shop] = self._open(shop)
        return self._clients[shop]

    def _open(self, shop: str) -> TopClient:
        profile = self._shops.get(shop)
        if profile is None:
            raise ReconcilerError(
                f"shop '{shop}' has managed objects in the state store but no Shop profile in the manifests"
            )
        names = profile.env
        credentials = Credentials.from_env(
            self._env,
            app_key_var=names["app_key"],
            app_secret_var=names["app_secret"],
            session_var=names["session"],
            gateway_var=names["gateway"],
        )
        if not self._env.get(names["gateway"]) and profile.gateway:
            credentials = Credentials(
                credentials.app_key, credentials.app_secret, credentials.session, profile.gateway
            )
        self.credentials.append(credentials)
        return TopClient(credentials, sign_method=profile.sign_method, read_only=self._read_only)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def __enter__(self) -> "Clients":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def _errors_reported(clients: list[Clients]) -> Iterator[None]:
    """Print our own errors as one clear message (no traceback), with every secret masked."""
    try:
        yield
    except ManifestError as exc:
        click.echo(f"error: {len(exc.problems)} problem(s) in the manifests; nothing was sent to TOP", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_ERROR)
    except ReconcilerError as exc:
        click.echo(f"error: {_redacted(str(exc), clients)}", err=True)
        sys.exit(EXIT_ERROR)


def _redacted(text: str, clients: list[Clients]) -> str:
    for group in clients:
        for credentials in group.credentials:
            text = redact(text, credentials)
    return text


def _now(at: str | None) -> datetime:
    if not at:
        return datetime.now(timezone.utc)
    try:
        moment = datetime.fromisoformat(at)
    except ValueError:
        _fail(f"--at {at!r} is not an ISO 8601 time like 2026-11-11T00:00+08:00")
    if moment.tzinfo is None:
        _fail(f"--at {at!r} needs a UTC offset, e.g. 2026-11-11T00:00+08:00")
    return moment


def _load(paths: Sequence[str], now: datetime) -> tuple[ManifestSet, list[Any]]:
    manifests = load_manifests(list(paths))
    return manifests, desired_resources(manifests, now)


@click.group()
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
def cli(verbose: int) -> None:
    """Campaign-as-code for Taobao Open Platform marketing."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@cli.command()
@click.argument("paths", nargs=-1)
def validate(paths: tuple[str, ...]) -> None:
    """Check manifests (syntax, schema, meaning) without calling TOP."""
    with _errors_reported([]):
        manifests, resources = _load(paths, _now(None))
    click.echo(f"{len(resources)} resource(s) in {len(manifests.shops)} shop(s): valid")


def _plan(paths: Sequence[str], clients: Clients, store: StateStore, prune: bool, at: str | None = None) -> Plan:
    now = _now(at)
    manifests, resources = _load(paths, now)
    clients.use_profiles(manifests.shops)
    return make_plan(resources, store, clients, PlanOptions(prune=prune, now=now))


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schemas/plan.schema.json).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing changes, 2 when changes are planned.")
@click.option("--prune", is_flag=True, help="Plan deletes of managed objects whose manifest was removed.")
@click.option("--at", "at", default=None, help="Plan for another moment (ISO 8601 with offset), e.g. to preview listing windows.")
def plan(paths: tuple[str, ...], as_json: bool, detailed_exitcode: bool, prune: bool, at: str | None) -> None:
    """Show the TOP calls that would bring the shops to the manifests. Never writes."""
    with Clients(read_only=True, env=os.environ) as clients, _errors_reported([clients]), open_store() as store:
        result = _plan(paths, clients, store, prune, at)
        click.echo(render_json(result) if as_json else render_text(result))
    if detailed_exitcode and not result.empty:
        sys.exit(EXIT_CHANGES)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--prune", is_flag=True, help="Delete managed objects whose manifest was removed.")
def apply(paths: tuple[str, ...], auto_approve: bool, prune: bool) -> None:
    """Plan, then make exactly the planned calls."""
    with Clients(read_only=False, env=os.environ) as clients, _errors_reported([clients]), open_store() as store:
        result = _plan(paths, clients, store, prune)
        click.echo(render_text(result))
        if result.empty:
            return
        _confirm(auto_approve)
        report = apply_plan(result, store, clients, on_call=_log_call)
        _print_report(report, clients)
    if not report.ok:
        sys.exit(EXIT_ERROR)


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        _fail("refusing to apply without --auto-approve: standard input is not a terminal to confirm on")
    if not click.confirm("Apply these changes to TOP?", default=False):
        _fail("apply cancelled; nothing was sent")


def _fail(message: str) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(EXIT_ERROR)


def _log_call(change: Change, call: Call) -> None:
    click.echo(f"  -> {change.key.kind}/{change.key.name}: {call.method}")


def _print_report(report: ApplyReport, clients: Clients) -> None:
    click.echo(f"Applied {len(report.done)} change(s) with {report.calls_sent} write call(s) (run {report.run_id}).")
    for change, error in report.failed:
        click.echo(f"FAILED {change.key}: {_redacted(error, [clients])}", err=True)
        click.echo("  the state store holds every call that succeeded before it", err=True)
    for change in report.not_tried:
        click.echo(f"not tried: {change.key}", err=True)


@cli.group()
def state() -> None:
    """Inspect or edit the state store (which remote object each resource is)."""


@state.command("list")
def state_list() -> None:
    """One line per managed object: shop/kind/name and remote id."""
    with _errors_reported([]), open_store() as store:
        for link in store.links():
            click.echo(f"{link.key}\t{link.remote_id}")


@state.command("show")
@click.argument("address")
def state_show(address: str) -> None:
    """Everything recorded for SHOP/KIND/NAME."""
    with _errors_reported([]), open_store() as store:
        link = store.get(_parse_address(address))
        if link is None:
            _fail(f"{address} is not in the state store")
        click.echo(render_record(link))


@state.command("rm")
@click.argument("address")
def state_rm(address: str) -> None:
    """Forget SHOP/KIND/NAME without touching TOP (the object becomes unmanaged)."""
    with _errors_reported([]), open_store() as store:
        key = _parse_address(address)
        if store.get(key) is None:
            _fail(f"{address} is not in the state store")
        store.remove(key)
        click.echo(f"forgot {address}; the object on TOP is untouched and now unmanaged")


def _parse_address(address: str) -> ResourceKey:
    parts = address.split("/")
    if len(parts) != 3 or not all(parts):
        _fail(f"'{address}' is not SHOP/KIND/NAME, e.g. demo-shop/ItemPoolActivity/fresh-618")
    return ResourceKey(*parts)


@cli.group()
def sandbox() -> None:
    """The local TOP emulator."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8999, show_default=True, type=int)
@click.option("--data", "data_file", default=None, help="Keep the sandbox's shops in this JSON file.")
def sandbox_serve(host: str, port: int, data_file: str | None) -> None:
    """Serve /router/rest like TOP, with fixed demo credentials (see README)."""
    from reconciler.sandbox.server import serve

    serve(host, port, data_file)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="reconciler")

