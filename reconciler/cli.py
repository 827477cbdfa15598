"""The `reconciler` command. The only place that reads the environment, opens clients and stores,
and prints; everything below it is called with plain values."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler.engine.apply import STATE_ONLY, ApplyListener, ApplyReport, apply_plan, settle_interrupted_writes
from reconciler.engine.plan import PlanOptions, desired_resources, make_plan
from reconciler.engine.render import render_json, render_markdown, render_record, render_text
from reconciler.engine.safety import SafetyOptions, prevent_destroy_violations, threshold_violations
from reconciler.engine.saved import SavedPlan, plan_checksum, plan_difference, read_saved_plan, stale_objects, write_saved_plan
from reconciler.errors import ManifestError, ReconcilerError
from reconciler.kinds.base import Caller
from reconciler.manifest import ManifestSet, ShopProfile, load_manifests
from reconciler.kinds import KINDS
from reconciler.model import Call, Change, Link, Plan, Resource, ResourceKey
from reconciler.state import StateStore, open_store
from reconciler.top import Credentials, TopClient, redact

log = logging.getLogger("reconciler")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def profile_settings(shops: Mapping[str, ShopProfile]) -> dict[str, dict[str, Any]]:
    """The non-secret part of each Shop profile: how to reach TOP and which variables hold secrets.
    This is also what a saved plan keeps, so `apply plan.json` needs no manifests."""
    return {
        name: {"gateway": p.gateway, "sign_method": p.sign_method, "env": dict(p.env)} for name, p in shops.items()
    }


class Clients:
    """One TOP client per shop, built lazily from the shop's settings and the environment."""

    def __init__(self, *, read_only: bool, env: Mapping[str, str]) -> None:
        self.settings: Mapping[str, Mapping[str, Any]] = {}
        self._read_only = read_only
        self._env = env
        self._clients: dict[str, TopClient] = {}
        self.credentials: list[Credentials] = []

    def use_profiles(self, settings: Mapping[str, Mapping[str, Any]]) -> None:
        # Profiles come from the manifests (or a saved plan), so they are known only after
        # loading; until then no client can be opened, which keeps secrets out of manifest errors.
        self.settings = settings

    def __call__(self, shop: str) -> Caller:
        if shop not in self._clients:
            self._clients[shop] = self._open(shop)
        return self._clients[shop]

    def _open(self, shop: str) -> TopClient:
        settings = self.settings.get(shop)
        if settings is None:
            raise ReconcilerError(
                f"shop '{shop}' has managed objects in the state store but no Shop profile in the manifests"
            )
        names = settings["env"]
        credentials = Credentials.from_env(
            self._env,
            app_key_var=names["app_key"],
            app_secret_var=names["app_secret"],
            session_var=names["session"],
            gateway_var=names["gateway"],
        )
        if not self._env.get(names["gateway"]) and settings.get("gateway"):
            credentials = Credentials(
                credentials.app_key, credentials.app_secret, credentials.session, settings["gateway"]
            )
        self.credentials.append(credentials)
        return TopClient(credentials, sign_method=settings["sign_method"], read_only=self._read_only)

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


def _load(paths: Sequence[str], now: datetime) -> tuple[ManifestSet, list[Resource]]:
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


def _plan(paths: Sequence[str], clients: Clients, store: StateStore, options: PlanOptions) -> tuple[Plan, list[Resource]]:
    manifests, resources = _load(paths, options.now)
    clients.use_profiles(profile_settings(manifests.shops))
    return make_plan(resources, store, clients, options), resources


def _safety_problems(plan: Plan, resources: Sequence[Resource], safety: SafetyOptions) -> list[str]:
    desired = {r.key: r for r in resources}
    return prevent_destroy_violations(plan, desired) + threshold_violations(plan, safety)


def _safety_options(f: Callable[..., Any]) -> Callable[..., Any]:
    f = click.option("--force", is_flag=True, help="Allow a plan above the update/delete thresholds.")(f)
    f = click.option("--update-threshold", type=float, default=0.3, show_default=True,
                     help="Largest share of a shop's managed objects one run may update or replace.")(f)
    f = click.option("--delete-threshold", type=float, default=0.3, show_default=True,
                     help="Largest share of a shop's managed objects one run may delete.")(f)
    f = click.option("--threshold-min-objects", type=int, default=10, show_default=True,
                     help="Thresholds apply only to shops with at least this many managed objects.")(f)
    f = click.option("--target", "targets", multiple=True, metavar="KIND/NAME",
                     help="Limit the run to this resource (repeatable; SHOP/KIND/NAME also works).")(f)
    f = click.option("--prune", is_flag=True, help="Delete managed objects whose manifest was removed.")(f)
    return f


def _safety(force: bool, update_threshold: float, delete_threshold: float, threshold_min_objects: int) -> SafetyOptions:
    return SafetyOptions(update_threshold, delete_threshold, threshold_min_objects, force)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schemas/plan.schema.json).")
@click.option("--markdown", "markdown_dir", default=None, metavar="DIR",
              help="Also write the plan as pull-request comments DIR/plan-1.md, plan-2.md … (split at GitHub's size limit).")
@click.option("--link-base", default=None, metavar="URL",
              help="In markdown, link each change to its manifest under this URL (e.g. a blob URL at the PR's commit).")
@click.option("--out", "out_file", default=None, metavar="FILE", help="Save the plan for `reconciler apply FILE`.")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing changes, 2 when changes are planned.")
@click.option("--at", "at", default=None, help="Plan for another moment (ISO 8601 with offset), e.g. to preview listing windows.")
@_safety_options
def plan(
    paths: tuple[str, ...], as_json: bool, markdown_dir: str | None, link_base: str | None, out_file: str | None,
    detailed_exitcode: bool, at: str | None, prune: bool, targets: tuple[str, ...], force: bool,
    update_threshold: float, delete_threshold: float, threshold_min_objects: int,
) -> None:
    """Show the TOP calls that would bring the shops to the manifests. Never writes to TOP."""
    options = PlanOptions(prune=prune, now=_now(at), targets=targets)
    safety = _safety(force, update_threshold, delete_threshold, threshold_min_objects)
    with Clients(read_only=True, env=os.environ) as clients, _errors_reported([clients]), open_store() as store:
        result, resources = _plan(paths, clients, store, options)
        problems = _safety_problems(result, resources, safety)
        notes = _interrupted_note(store)
        checksum = plan_checksum(result)
        if as_json:
            click.echo(render_json(result))
        else:
            click.echo(render_text(result, _styler()))
            if not result.empty:
                click.echo(f"Plan checksum: {checksum}")
        for note in notes:
            click.echo(f"warning: {note}", err=True)
        if markdown_dir:
            _write_markdown(markdown_dir, render_markdown(
                result, checksum=checksum, link_base=link_base, extra_warnings=tuple(problems + notes)))
        if out_file:
            write_saved_plan(out_file, SavedPlan(result, tuple(resources), options.now, prune, targets, clients.settings))
            click.echo(f"Saved the plan to {out_file}; `reconciler apply {out_file}` sends exactly these calls.")
    if problems:
        _fail("the plan is blocked by safety checks; nothing will be applied:\n  " + "\n  ".join(problems))
    if detailed_exitcode and not result.empty:
        sys.exit(EXIT_CHANGES)


def _interrupted_note(store: StateStore) -> list[str]:
    open_writes = [e for e in store.journal(status="sent") if e.method != STATE_ONLY]
    if not open_writes:
        return []
    return [f"{len(open_writes)} write(s) of an interrupted apply have no recorded answer; "
            "the next apply asks TOP whether they took effect before doing anything else"]


def _write_markdown(directory: str, comments: list[str]) -> None:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("plan-*.md"):
        old.unlink()
    for index, comment in enumerate(comments, start=1):
        (target / f"plan-{index}.md").write_text(comment, encoding="utf-8")


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--checksum", default=None, metavar="SHA",
              help="Re-plan and apply only if the new plan's checksum equals this reviewed one.")
@click.option("--reviewed-plan", default=None, metavar="FILE",
              help="With --checksum: the reviewed plan file, to show how the new plan differs.")
@_safety_options
def apply(
    paths: tuple[str, ...], auto_approve: bool, checksum: str | None, reviewed_plan: str | None, prune: bool,
    targets: tuple[str, ...], force: bool, update_threshold: float, delete_threshold: float, threshold_min_objects: int,
) -> None:
    """Make exactly the planned calls: from a saved plan file (`apply plan.json`), or plan now and apply."""
    safety = _safety(force, update_threshold, delete_threshold, threshold_min_objects)
    with Clients(read_only=False, env=os.environ) as clients, _errors_reported([clients]), open_store() as store:
        saved_file = paths[0] if len(paths) == 1 and _is_plan_file(paths[0]) else None
        if saved_file:
            result, resources = _saved_plan_if_fresh(saved_file, clients, store)
        else:
            result, resources = _fresh_plan_for_apply(paths, clients, store, PlanOptions(prune=prune, targets=targets))
            if checksum:
                _require_checksum(result, checksum, reviewed_plan)
        problems = _safety_problems(result, resources, safety)
        click.echo(render_text(result, _styler()))
        if problems:
            _fail("the plan is blocked by safety checks; nothing was sent:\n  " + "\n  ".join(problems))
        if result.empty:
            return
        _confirm(auto_approve)
        report = apply_plan(result, store, clients, listener=_listener(result))
        _print_report(report, clients)
    if not report.ok:
        sys.exit(EXIT_ERROR)


def _is_plan_file(path: str) -> bool:
    return path.endswith(".json") and Path(path).is_file()


def _settle(clients: Clients, store: StateStore) -> None:
    for message in settle_interrupted_writes(store, clients):
        click.echo(f"recovered: {message}")


def _fresh_plan_for_apply(
    paths: Sequence[str], clients: Clients, store: StateStore, options: PlanOptions
) -> tuple[Plan, list[Resource]]:
    manifests, resources = _load(paths, options.now)
    clients.use_profiles(profile_settings(manifests.shops))
    _settle(clients, store)
    return make_plan(resources, store, clients, options), resources


def _saved_plan_if_fresh(path: str, clients: Clients, store: StateStore) -> tuple[Plan, list[Resource]]:
    saved = read_saved_plan(path)
    clients.use_profiles(saved.shops)
    _settle(clients, store)
    options = PlanOptions(prune=saved.prune, now=saved.now, targets=saved.targets)
    current = make_plan(list(saved.desired), store, clients, options)
    moved = stale_objects(saved.plan, current)
    if moved:
        _fail(f"{path} is stale: what it was planned from changed, so its calls may no longer be right. "
              "Run plan again.\n  " + "\n  ".join(moved))
    return saved.plan, list(saved.desired)


def _require_checksum(current: Plan, expected: str, reviewed_plan: str | None) -> None:
    actual = plan_checksum(current)
    if actual == expected:
        return
    lines = [f"the plan now differs from the reviewed one (checksum {actual}, reviewed {expected}); nothing was sent."]
    if reviewed_plan:
        lines += plan_difference(read_saved_plan(reviewed_plan).plan, current)
    else:
        lines.append("The plan as it is now:")
        lines.append(render_text(current))
    _fail("\n  ".join(lines))


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


def _styler() -> Callable[..., str]:
    return click.style if sys.stdout.isatty() else (lambda text, **_: text)


class _LogLines(ApplyListener):
    """Not on a terminal (CI): one plain line per call, greppable in a job log."""

    def call_finished(self, change: Change, call: Call, error: str | None) -> None:
        outcome = f"FAILED: {error}" if error else "ok"
        click.echo(f"  {change.key.kind}/{change.key.name}: {call.method} {outcome}")


class _ProgressBar(ApplyListener):
    """On a terminal: one line that shows done / total, the call rate and errors so far."""

    def __init__(self, total: int) -> None:
        self.started = time.monotonic()
        self.errors = 0
        self.done = 0
        self.bar = click.progressbar(length=total, label="applying", show_pos=True, item_show_func=self._status)

    def _status(self, _: object) -> str:
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        return f"{rate:.1f} calls/s, {self.errors} error(s)"

    def call_finished(self, change: Change, call: Call, error: str | None) -> None:
        self.done += 1
        self.errors += 1 if error else 0
        self.bar.update(1, current_item=call.method)


def _listener(plan: Plan) -> ApplyListener:
    return _ProgressBar(plan.write_calls) if sys.stdout.isatty() else _LogLines()


def _print_report(report: ApplyReport, clients: Clients) -> None:
    click.echo(f"Applied {len(report.done)} change(s) with {report.calls_sent} write call(s) (run {report.run_id}).")
    for change, error in report.failed:
        click.echo(f"FAILED {change.key}: {_redacted(error, [clients])}", err=True)
        click.echo("  the state store holds every call that succeeded before it", err=True)
    for change in report.not_tried:
        click.echo(f"not tried: {change.key}", err=True)


@cli.command("import")
@click.argument("kind")
@click.argument("name")
@click.argument("remote_id")
@click.argument("paths", nargs=-1)
def import_(kind: str, name: str, remote_id: str, paths: tuple[str, ...]) -> None:
    """Adopt an existing TOP object as the managed resource KIND/NAME, declared in the manifests.

    Only the state store changes; the next plan shows what differs between TOP and the manifest."""
    with Clients(read_only=True, env=os.environ) as clients, _errors_reported([clients]), open_store() as store:
        manifests, resources = _load(paths, _now(None))
        clients.use_profiles(profile_settings(manifests.shops))
        matches = [r for r in resources if r.key.kind == kind and r.key.name == name]
        if not matches:
            _fail(f"no manifest declares {kind}/{name}; declare it first, then import the object it should manage")
        if len(matches) > 1:
            _fail(f"{kind}/{name} is declared for several shops; import is per shop — narrow PATHS to one shop's files")
        resource = matches[0]
        existing = store.get(resource.key)
        if existing is not None:
            _fail(f"{resource.key} already manages remote object {existing.remote_id}; `reconciler state rm` it first")
        for link in store.links(resource.key.shop):
            if link.key.kind == kind and link.remote_id == remote_id:
                _fail(f"remote object {remote_id} is already managed as {link.key}")
        record = KINDS[kind].import_record(clients(resource.key.shop), remote_id, resource)
        store.put(Link(resource.key, remote_id, record))
    click.echo(f"imported {kind} {remote_id} as {resource.key}; run plan to see how it differs from the manifest")


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

