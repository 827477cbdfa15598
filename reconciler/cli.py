"""The `reconciler` command. The only place that reads the environment, opens clients and stores,
and prints; everything below it is called with plain values."""

from __future__ import annotations

import json
from decimal import Decimal
import logging
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, redirect_stdout
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import click

from reconciler.engine.guardrails import PriceCheck, check_prices, price_shops
from reconciler.engine.price_report import impact_markdown, impact_text, moment_text, quote_lines
from reconciler.engine.apply import (
    STATE_ONLY,
    ApplyListener,
    ApplyReport,
    apply_plan,
    resolve_by_hand,
    settle_interrupted_writes,
)
from reconciler.engine.codec import dumps
from reconciler.engine.duplicates import ALLOW_FLAG, duplicate_problems
from reconciler.engine.outputs import apply_to_data, prices_to_data, state_list_to_data, validate_to_data, with_where
from reconciler.engine.drift import drift_to_data, find_drift, record_applied, render_drift_text
from reconciler.engine.plan import PlanOptions, desired_resources, make_plan
from reconciler.engine.signing import KEY_VARIABLE, read_checksum_file, write_checksum_file
from reconciler.engine.render import json_pieces, render_markdown, render_record, render_text, text_lines
from reconciler.engine.safety import SafetyOptions, prevent_destroy_violations, threshold_violations
from reconciler.engine.saved import SavedPlan, plan_checksum, plan_difference, read_saved_plan, stale_objects, write_saved_plan
from reconciler.colour import colour_wanted
from reconciler.errors import ManifestError, ReconcilerError, TopError
from reconciler.kinds.base import Caller
from reconciler.manifest import ManifestSet, ShopProfile, load_manifests, render_manifests
from reconciler.kinds import KINDS
from reconciler.model import Call, Change, Link, Plan, Resource, ResourceKey
from reconciler.state import ShopLocks, StateStore, open_store
from reconciler.observe import current_watch, watched
from reconciler.output_paths import output_problems
from reconciler.project import Project, find_project
from reconciler.redaction import redacted_output, remember
from reconciler.where import Where
from reconciler.top import Credentials, TopClient
from reconciler.top.apps import ShopCaller
from reconciler.top.credentials import DEFAULT_GATEWAY, CredentialsError, redact_values
from reconciler.top.env_names import read_only_gateway_problem, variable_problems
from reconciler.top.hints import advice
from reconciler.top.gateways import manifest_gateway_allowed
from reconciler.top.settings import ClientSettings
from reconciler.top.run import TopRun
from reconciler.top.tokens import TokenFile

log = logging.getLogger("reconciler")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


def profile_settings(shops: Mapping[str, ShopProfile]) -> dict[str, dict[str, Any]]:
    """The non-secret part of each Shop profile: how to reach TOP and which variables hold secrets.
    This is also what a saved plan keeps, so `apply plan.json` needs no manifests."""
    return {
        name: {"gateway": p.gateway, "sign_method": p.sign_method, "env": dict(p.env), "taoke": _taoke_settings(p)}
        for name, p in shops.items()
    }


def _taoke_settings(profile: ShopProfile) -> dict[str, Any] | None:
    """spec.taoke: which variables hold the shop's Alimama (Taoke) app, and where that is written."""
    app = profile.taoke
    return None if app is None else {"env": dict(app.env), "adzone_id": app.adzone_id, "where": app.where}


class Clients:
    """One TOP caller per shop, built lazily from the shop's settings and the environment: the
    seller's app with the seller's session, and for Taoke cash gifts the shop's Taoke (Alimama)
    app without a session (reconciler.top.apps)."""

    def __init__(self, *, read_only: bool, env: Mapping[str, str]) -> None:
        self.settings: Mapping[str, Mapping[str, Any]] = {}
        self._read_only = read_only
        self._env = env
        self._callers: dict[str, ShopCaller] = {}
        self.credentials: list[Credentials] = []
        self._run: TopRun | None = None  # built on first use, so a bad TOP_* setting is reported cleanly
        # Set by a watched command (reconciler.observe) to count each shop's calls for metrics.
        self.observe: Callable[[str, Caller], Caller] | None = None
        remember(self.secret_values)  # masked in everything printed (reconciler/redaction.py)

    def use_profiles(self, settings: Mapping[str, Mapping[str, Any]]) -> None:
        # Profiles come from the manifests (or a saved plan), so they are known only after
        # loading; until then no client can be opened, which keeps secrets out of manifest errors.
        # The variables they name must be the operator's credential variables (top/env_names.py).
        problems = [problem for shop, shop_settings in settings.items()
                    for problem in variable_problems(shop, shop_settings, self._env)]
        if problems:
            raise ReconcilerError("\n".join(problems))
        self.settings = settings

    def __call__(self, shop: str) -> Caller:
        caller = self._caller(shop)
        return self.observe(shop, caller) if self.observe else caller

    def seller(self, shop: str) -> TopClient:
        """The client of the shop's own (seller's) app, e.g. to exchange an authorisation code."""
        return self._caller(shop).client("seller")

    def _caller(self, shop: str) -> ShopCaller:
        if shop not in self._callers:
            self._callers[shop] = ShopCaller(lambda: self._open(shop), lambda: self._open_taoke(shop))
        return self._callers[shop]

    def gateway(self, shop: str) -> str:
        """The gateway `shop`'s calls go to: its environment variable, else its profile, else TOP's."""
        settings = self._settings_of(shop)
        return self._env.get(settings["env"]["gateway"]) or settings.get("gateway") or DEFAULT_GATEWAY

    def _settings_of(self, shop: str) -> Mapping[str, Any]:
        settings = self.settings.get(shop)
        if settings is None:
            raise ReconcilerError(
                f"shop '{shop}' has managed objects in the state store but no Shop profile in the manifests"
            )
        return settings

    def _open(self, shop: str) -> TopClient:
        settings = self._settings_of(shop)
        names = settings["env"]
        credentials = Credentials.from_env(
            self._env,
            app_key_var=names["app_key"],
            app_secret_var=names["app_secret"],
            session_var=names["session"],
            gateway_var=names["gateway"],
        )
        gateway = self._manifest_gateway(shop, settings)
        if gateway is not None:
            credentials = Credentials(credentials.app_key, credentials.app_secret, credentials.session, gateway)
        self._check_read_only_gateway(shop, credentials.gateway)
        self.credentials.append(credentials)
        if self._run is None:
            self._run = TopRun(self._env)
        return self._run.open(
            credentials, shop=shop, session_var=names["session"], sign_method=settings["sign_method"],
            read_only=self._read_only,
        )

    def _manifest_gateway(self, shop: str, settings: Mapping[str, Any]) -> str | None:
        """The profile's spec.gateway when the environment names none, once it is known to be TOP's."""
        names = settings["env"]
        if self._env.get(names["gateway"]) or not settings.get("gateway"):
            return None
        if not manifest_gateway_allowed(settings["gateway"]):  # manifests come from pull requests
            raise ReconcilerError(
                f"shop '{shop}': refusing to send credentials to {settings['gateway']}, a gateway named in a "
                f"manifest that is not TOP's; set it through the environment variable {names['gateway']} instead"
            )
        return str(settings["gateway"])

    def _open_taoke(self, shop: str) -> TopClient:
        """The shop's Taoke (Alimama) app (spec.taoke): its own key and secret, the shop's gateway and
        sign method, and no session, so no token is read or refreshed for it."""
        settings = self._settings_of(shop)
        taoke = settings.get("taoke")
        if not taoke:
            raise ReconcilerError(
                f"shop '{shop}': Taoke cash gifts (taobao.tbk.dg.vegas.tlj.*) are sent with the shop's Alimama "
                "(Taoke) app, and its Shop profile has no spec.taoke; add spec.taoke: {env: {app_key: "
                "ALIMAMA_APP_KEY, app_secret: ALIMAMA_APP_SECRET}} to it (environment variable names)"
            )
        names = taoke["env"]
        missing = [var for var in (names["app_key"], names["app_secret"]) if not self._env.get(var)]
        if missing:
            raise CredentialsError(
                f"shop '{shop}': its Taoke cash gifts are sent with the Alimama (Taoke) app named at {taoke['where']} "
                f"(spec.taoke.env); set the environment variable(s) {', '.join(missing)}"
            )
        gateway = self._env.get(settings["env"]["gateway"]) or self._manifest_gateway(shop, settings) or DEFAULT_GATEWAY
        credentials = Credentials(self._env[names["app_key"]], self._env[names["app_secret"]], None, gateway)
        self._check_read_only_gateway(shop, gateway)
        self.credentials.append(credentials)
        if self._run is None:
            self._run = TopRun(self._env)
        return self._run.open_app(credentials, sign_method=settings["sign_method"], read_only=self._read_only)

    def _check_read_only_gateway(self, shop: str, gateway: str) -> None:
        """Read-only runs are the ones a pull request triggers: TOP's gateways or loopback only."""
        problem = read_only_gateway_problem(shop, gateway) if self._read_only else None
        if problem:
            raise ReconcilerError(problem)

    def secret_values(self) -> list[str]:
        """App secrets, sessions and refresh tokens, including tokens refreshed during the run, and
        the values of the variables the Shop profiles name for secrets, before any client opens."""
        named = [self._env.get(var, "") for settings in self.settings.values() for var in _secret_variables(settings)]
        values = named + [value for credentials in self.credentials for value in credentials.secret_values()]
        clients = [client for caller in self._callers.values() for client in caller.opened()]
        return values + [value for client in clients for value in client.secret_values()]

    def close(self) -> None:
        for client in (client for caller in self._callers.values() for client in caller.opened()):
            client.close()
        if self._run is not None:
            self._run.close()

    def __enter__(self) -> "Clients":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _secret_variables(settings: Mapping[str, Any]) -> list[str]:
    """The environment variables a Shop profile names for its app secrets and session."""
    taoke = settings.get("taoke") or {}
    return [settings["env"]["app_secret"], settings["env"]["session"], *([taoke["env"]["app_secret"]] if taoke else [])]


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
        hint = advice(exc) if isinstance(exc, TopError) else None
        if hint:
            click.echo(f"hint: {hint}", err=True)
        sys.exit(EXIT_ERROR)


def _redacted(text: str, clients: list[Clients]) -> str:
    for group in clients:
        text = redact_values(text, group.secret_values())
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


def _project(paths: Sequence[str]) -> Project:
    """The project of the manifests at `paths` (reconciler/project.py), its warning said on stderr."""
    with _errors_reported([]):
        project = find_project(paths, os.environ)
    if project.warning:
        click.echo(f"warning: {project.warning}", err=True)
    return project


def _project_env(paths: Sequence[str]) -> tuple[Project, dict[str, str]]:
    """The project and the environment with its state store and token file resolved in it."""
    project = _project(paths)
    return project, project.env(os.environ)


def _store_of_project() -> StateStore:
    """The state store of the project around the current directory (commands given no manifests)."""
    return open_store(_project(()).env(os.environ))


def _say_where(project: Project, clients: Clients, *, machine: bool) -> Where:
    """The header of plan, apply, drift and price: project root, state store, each shop's gateway.
    On stderr when stdout carries a machine format, so stdout stays pure JSON."""
    where = Where(project, {shop: clients.gateway(shop) for shop in clients.settings})
    for line in where.lines():
        click.echo(line, err=machine)
    return where


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="campaign-reconciler", prog_name="reconciler")
@click.option("-v", "--verbose", count=True, help="More log output (-v info, -vv debug).")
@click.option("--no-color", "no_color", is_flag=True, help="No colour escape codes (also: NO_COLOR set).")
def cli(verbose: int, no_color: bool) -> None:
    """Campaign-as-code for Taobao Open Platform marketing."""
    # Everything printed from here on is masked (reconciler/redaction.py), errors included.
    click.get_current_context().with_resource(redacted_output(os.environ))
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print what is valid as JSON (schemas/output/validate.schema.json).")
def validate(paths: tuple[str, ...], as_json: bool) -> None:
    """Check manifests (syntax, schema, meaning) without calling TOP."""
    with _errors_reported([]):
        manifests, resources = _load(paths, _now(None))
    if as_json:
        click.echo(dumps(validate_to_data(resources, list(manifests.shops)), indent=2))
        return
    click.echo(f"{len(resources)} resource(s) in {len(manifests.shops)} shop(s): valid")


@cli.command()
@click.argument("directory", default=".", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Start a project in DIRECTORY (default: here): reconciler.toml, which marks the project root
    (the state store and token file live under it, whatever directory later commands run from),
    and a starter campaigns/ with a Shop profile and one example per kind. Never overwrites a file."""
    from reconciler.starter import write_starter

    with _errors_reported([]):
        written = write_starter(directory, _now(None))
    for path in written:
        click.echo(f"wrote {path}")
    campaigns = directory / "campaigns"
    click.echo(f"next: reconciler validate {campaigns}; the Shop profile points at the local sandbox "
               f"(reconciler sandbox serve) until you change its gateway")


@cli.command("render")
@click.argument("paths", nargs=-1)
def render_command(paths: tuple[str, ...]) -> None:
    """Print the manifests as YAML with templates rendered, each document headed by its source line."""
    with _errors_reported([]):
        sources = render_manifests(list(paths))
    click.echo("---\n".join(source.annotated() for source in sources), nl=False)


def _plan(
    paths: Sequence[str], clients: Clients, store: StateStore, options: PlanOptions, say_where: Callable[[], Where]
) -> tuple[Plan, list[Resource], Where]:
    manifests, resources = _load(paths, options.now)
    clients.use_profiles(profile_settings(manifests.shops))
    where = say_where()  # before the first TOP call: a run that fails still said where it pointed
    del manifests  # normalised into resources: the documents need not stay in memory while reading TOP
    return make_plan(resources, store, clients, options), resources, where


def _echo_pieces(pieces: Iterable[str], batch: int = 1 << 16) -> None:
    """click.echo("".join(pieces), nl=False), about `batch` characters at a time: a plan from empty
    of a big shop is hundreds of MB of text, which need never be in memory at once."""
    chunk: list[str] = []
    size = 0
    for piece in pieces:
        chunk.append(piece)
        size += len(piece)
        if size >= batch:
            click.echo("".join(chunk), nl=False)
            chunk, size = [], 0
    if chunk:
        click.echo("".join(chunk), nl=False)


def _echo_lines(lines: Iterable[str]) -> None:
    """click.echo("\n".join(lines)), without the whole text in memory."""
    _echo_pieces(line + "\n" for line in lines)


def _safety_problems(
    plan: Plan, resources: Sequence[Resource], safety: SafetyOptions, paths: Sequence[str], allow_duplicates: bool
) -> list[str]:
    desired = {r.key: r for r in resources}
    duplicates = [] if allow_duplicates else duplicate_problems(plan, paths)
    return prevent_destroy_violations(plan, desired) + threshold_violations(plan, safety) + duplicates


def _no_color_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`plan --no-color` and `apply --no-color` too (Terraform's habit), besides `reconciler --no-color`."""
    def remember_choice(context: click.Context, _: click.Parameter, value: bool) -> None:
        if value:
            context.find_root().meta["no_color"] = True

    return click.option("--no-color", is_flag=True, expose_value=False, callback=remember_choice,
                        help="No colour escape codes (also: NO_COLOR set).")(f)


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
    f = click.option(ALLOW_FLAG, "allow_duplicates", is_flag=True,
                     help="Create resources the state store does not know even when TOP already holds an "
                          "unmanaged object with the same content (otherwise the plan is blocked).")(f)
    return f


def _safety(force: bool, update_threshold: float, delete_threshold: float, threshold_min_objects: int) -> SafetyOptions:
    return SafetyOptions(update_threshold, delete_threshold, threshold_min_objects, force)


@cli.command()
@watched("plan")
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON (schemas/plan.schema.json).")
@click.option("--markdown", "markdown_dir", default=None, metavar="DIR",
              help="Also write the plan as pull-request comments DIR/plan-1.md, plan-2.md … (split at GitHub's size limit).")
@click.option("--link-base", default=None, metavar="URL",
              help="In markdown, link each change to its manifest under this URL (e.g. a blob URL at the PR's commit).")
@click.option("--out", "out_file", default=None, metavar="FILE", help="Save the plan for `reconciler apply FILE`.")
@click.option("--checksum-file", default=None, metavar="FILE",
              help=f"Write the plan's checksum here, signed when {KEY_VARIABLE} is set (for `apply --checksum-file`).")
@click.option("--detailed-exitcode", is_flag=True, help="Exit 0 when nothing changes, 2 when changes are planned.")
@click.option("--at", "at", default=None, help="Plan for another moment (ISO 8601 with offset), e.g. to preview listing windows.")
@_no_color_option
@_safety_options
def plan(
    paths: tuple[str, ...], as_json: bool, markdown_dir: str | None, link_base: str | None, out_file: str | None,
    checksum_file: str | None, detailed_exitcode: bool, at: str | None, prune: bool, targets: tuple[str, ...], force: bool,
    update_threshold: float, delete_threshold: float, threshold_min_objects: int, allow_duplicates: bool,
) -> None:
    """Show the TOP calls that would bring the shops to the manifests. Never writes to TOP."""
    for problem in output_problems({"--out": out_file, "--checksum-file": checksum_file}, {"--markdown": markdown_dir}):
        _fail(problem)  # before any read call, not after the whole plan
    options = PlanOptions(prune=prune, now=_now(at), targets=targets)
    safety = _safety(force, update_threshold, delete_threshold, threshold_min_objects)
    project, env = _project_env(paths)
    with Clients(read_only=True, env=env) as clients, _errors_reported([clients]), open_store(env) as store:
        watch = current_watch().attach(clients)
        result, resources, where = _plan(paths, clients, store, options,
                                         lambda: _say_where(project, clients, machine=as_json))
        result, prices = _check_prices(result, resources, store, clients, options.now, targets)
        problems = _safety_problems(result, resources, safety, paths, allow_duplicates)
        watch.plan, watch.blocked = result, problems + list(prices.blocked)
        notes = _interrupted_note(store)
        checksum = plan_checksum(result)
        if as_json:
            _echo_pieces(json_pieces(result, {"where": where.data()}))
            click.echo()
        else:
            _echo_lines(text_lines(result, _styler()))
            for line in impact_text(prices.impacts):
                click.echo(line)
            if not result.empty:
                click.echo(f"Plan checksum: {checksum}")
        for note in notes:
            click.echo(f"warning: {note}", err=True)
        if markdown_dir:
            _write_markdown(markdown_dir, render_markdown(
                result, checksum=checksum, link_base=link_base, extra_warnings=tuple(problems + list(prices.blocked) + notes),
                price_impact=impact_markdown(prices.impacts)))
        if out_file:
            write_saved_plan(out_file, SavedPlan(result, tuple(resources), options.now, prune, targets, clients.settings))
            click.echo(f"Saved the plan to {out_file}; `reconciler apply {out_file}` sends exactly these calls.",
                       err=as_json)
        if checksum_file:  # written by the reconciler, not a script (reconciler/engine/signing.py)
            signed = write_checksum_file(checksum_file, checksum, env)
            click.echo(f"Wrote the plan checksum to {checksum_file}" + (" (signed)" if signed else ""), err=as_json)
    _stop_if_blocked(problems, prices, "nothing will be applied")
    if detailed_exitcode and not result.empty:
        sys.exit(EXIT_CHANGES)


def _check_prices(
    plan: Plan, resources: Sequence[Resource], store: StateStore, clients: Clients, now: datetime,
    targets: Sequence[str],
) -> tuple[Plan, PriceCheck]:
    """The price guardrails (engine/guardrails.py): their warnings and notes join the plan's."""
    check = check_prices(plan, resources, store, clients, now, targets)
    # A saved plan already carries the warnings and notes of the check made when it was planned.
    warnings = tuple(w for w in check.warnings if w not in plan.warnings)
    notes = tuple(n for n in check.notes if n not in plan.notes)
    plan = replace(plan, warnings=plan.warnings + warnings, notes=plan.notes + notes,
                   read_calls=plan.read_calls + check.read_calls)
    return plan, check


def _stop_if_blocked(problems: Sequence[str], prices: PriceCheck, outcome: str) -> None:
    sections = []
    if problems:
        sections.append(f"the plan is blocked by safety checks; {outcome}:\n  " + "\n  ".join(problems))
    if prices.blocked:
        sections.append(f"the plan would take items below their price floor; {outcome}:\n  "
                        + "\n  ".join(prices.blocked))
    if prices.unknown_items:
        sections.append(f"the plan names items the shop does not have; {outcome}:\n  "
                        + "\n  ".join(prices.unknown_items))
    if sections:
        _fail("\nerror: ".join(sections))


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
@watched("apply")
@click.argument("paths", nargs=-1)
@click.option("--auto-approve", is_flag=True, help="Apply without asking for confirmation.")
@click.option("--parallelism", type=click.IntRange(min=1), default=None,
              help="Independent changes sent at once, within the QPS budget (default: TOP_CONCURRENCY, 8).")
@click.option("--lock-timeout", type=float, default=60.0, show_default=True, metavar="SECONDS",
              help="How long to wait for another apply on the same shop to finish before giving up.")
@click.option("--checksum", default=None, metavar="SHA",
              help="Re-plan and apply only if the new plan's checksum equals this reviewed one.")
@click.option("--checksum-file", default=None, metavar="FILE",
              help=f"Like --checksum, read from a file `plan --checksum-file` wrote; its signature must verify with {KEY_VARIABLE}.")
@click.option("--reviewed-plan", default=None, metavar="FILE",
              help="With --checksum: the reviewed plan file, to show how the new plan differs.")
@click.option("--revision", default=None, metavar="GIT_SHA",
              help="Record in the state store that this git revision was applied (`state revision`; the schedule runs it).")
@click.option("--json", "as_json", is_flag=True,
              help="Print what was done as JSON on stdout (schemas/output/apply.schema.json); the rest goes to stderr.")
@_no_color_option
@_safety_options
def apply(
    paths: tuple[str, ...], auto_approve: bool, parallelism: int | None, lock_timeout: float, checksum: str | None,
    checksum_file: str | None, reviewed_plan: str | None, revision: str | None, as_json: bool,
    prune: bool, targets: tuple[str, ...], force: bool, update_threshold: float, delete_threshold: float,
    threshold_min_objects: int, allow_duplicates: bool,
) -> None:
    """Make exactly the planned calls: from a saved plan file (`apply plan.json`), or plan now and apply."""
    safety = _safety(force, update_threshold, delete_threshold, threshold_min_objects)
    saved_file = paths[0] if len(paths) == 1 and _is_plan_file(paths[0]) else None
    project, env = _project_env(paths) if not saved_file else _saved_plan_project(saved_file)
    if checksum_file:
        if checksum or saved_file:
            raise click.UsageError("--checksum-file replaces --checksum, and re-plans from manifests (not a plan file)")
        with _errors_reported([]):
            checksum = read_checksum_file(checksum_file, env)
    with _machine_stdout(as_json) as emit, Clients(read_only=False, env=env) as clients, \
            _errors_reported([clients]), open_store(env) as store, _shop_locks(store, lock_timeout) as locks:
        watch = current_watch().attach(clients)

        def announce() -> None:
            _say_where(project, clients, machine=False)

        # One clock per run: a saved plan's moment (`plan --at T --out F`), else now, read once.
        saved = read_saved_plan(saved_file) if saved_file else None
        now = saved.now if saved else datetime.now(timezone.utc)
        if saved_file:
            result, resources = _saved_plan_if_fresh(saved_file, clients, store, locks, announce)
        else:
            result, resources = _fresh_plan_for_apply(
                paths, clients, store, PlanOptions(prune=prune, now=now, targets=targets), locks, announce)
            if checksum:
                _require_checksum(result, checksum, reviewed_plan)
        scope = saved.targets if saved else targets
        result, prices = _check_prices(result, resources, store, clients, now, scope)
        manifest_paths = paths if not saved_file else ()
        problems = _safety_problems(result, resources, safety, manifest_paths, allow_duplicates)
        watch.plan, watch.blocked = result, problems + list(prices.blocked)
        _echo_lines(text_lines(result, _styler()))
        _stop_if_blocked(problems, prices, "nothing was sent")
        if result.empty:
            record_applied(store, resources, scope, unsettled=())
            if revision:
                store.record_revision(revision, "apply")
            emit(apply_to_data(ApplyReport(run_id=""), plan_checksum(result)))
            return
        _confirm(auto_approve or saved_file is not None)  # a saved plan is the approval (as Terraform)
        workers = parallelism or ClientSettings.from_env(env).concurrency
        report = apply_plan(result, store, clients, listener=_listener(result), parallelism=workers)
        watch.report = report
        record_applied(store, resources, scope, unsettled=_unsettled(report))
        if revision:  # also after a failure: what was sent came from this revision's reviewed plan
            store.record_revision(revision, "apply")
        _print_report(report, clients)
        emit(apply_to_data(report, plan_checksum(result)), [clients])
    if not report.ok:
        sys.exit(EXIT_ERROR)


@contextmanager
def _machine_stdout(as_json: bool) -> Iterator[Callable[..., None]]:
    """With --json: every line printed inside goes to stderr, and the `emit`ted document alone
    to stdout (masked like everything else). Without: emit does nothing."""
    real = sys.stdout

    def emit(data: Mapping[str, Any], clients: Sequence[Clients] = ()) -> None:
        if as_json:
            click.echo(_redacted(dumps(data, indent=2), list(clients)), file=real)

    if not as_json:
        yield emit
        return
    with redirect_stdout(sys.stderr):
        yield emit


def _is_plan_file(path: str) -> bool:
    return path.endswith(".json") and Path(path).is_file()


# import, journal resolve and state rm edit one shop's state: an apply of that shop reads and
# writes the same rows, so they wait for it like a second apply would, then hold the lock until
# the command is done.
STATE_EDIT_LOCK_TIMEOUT = 60.0


def _shop_locks(store: StateStore, timeout: float = STATE_EDIT_LOCK_TIMEOUT) -> ShopLocks:
    """Shop locks that tell the user, once, when another run holds one."""
    return ShopLocks(store, timeout, on_wait=_waiting_for_lock(timeout))


def _waiting_for_lock(timeout: float) -> Callable[[str, str], None]:
    def notice(shop: str, holder: str) -> None:
        click.echo(f"waiting up to {timeout:g} s for shop {shop}: another apply holds its lock ({holder})", err=True)

    return notice


def _unsettled(report: ApplyReport) -> set[ResourceKey]:
    return {change.key for change, _ in report.failed} | {change.key for change in report.not_tried}


def _settle(clients: Clients, store: StateStore, locks: ShopLocks) -> None:
    # Every shop this apply may read or write is locked before the journal is settled: another
    # apply's unanswered write is in flight, not lost, and must not be settled from here.
    open_writes = store.journal(status="sent")
    locks.hold(set(clients.settings) | {link.key.shop for link in store.links()} | {e.key.shop for e in open_writes})
    for message in settle_interrupted_writes(store, clients):
        click.echo(f"recovered: {message}")


def _fresh_plan_for_apply(
    paths: Sequence[str], clients: Clients, store: StateStore, options: PlanOptions, locks: ShopLocks,
    announce: Callable[[], None],
) -> tuple[Plan, list[Resource]]:
    manifests, resources = _load(paths, options.now)
    clients.use_profiles(profile_settings(manifests.shops))
    announce()
    _settle(clients, store, locks)
    return make_plan(resources, store, clients, options), resources


def _saved_plan_project(path: str) -> tuple[Project, dict[str, str]]:
    """A saved plan's project: around the plan file, else around the current directory (a plan
    saved outside the repository, e.g. in /tmp, is applied from the repository)."""
    with _errors_reported([]):
        project = find_project([path], os.environ)
    if project.warning:
        project = _project(())
    return project, project.env(os.environ)


def _saved_plan_if_fresh(
    path: str, clients: Clients, store: StateStore, locks: ShopLocks, announce: Callable[[], None]
) -> tuple[Plan, list[Resource]]:
    saved = read_saved_plan(path)
    clients.use_profiles(saved.shops)
    announce()
    _settle(clients, store, locks)
    options = PlanOptions(prune=saved.prune, now=saved.now, targets=saved.targets)
    current = make_plan(list(saved.desired), store, clients, options)
    moved = stale_objects(saved.plan, current)
    if moved:
        _fail(f"{path} is stale: what it was planned from changed, so its calls may no longer be right. "
              "Run plan again.\n  " + "\n  ".join(moved))
    # The duplicate guard looks at TOP as it is now: a saved plan does not carry what it found.
    return replace(saved.plan, duplicates=current.duplicates), list(saved.desired)


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
    context = click.get_current_context(silent=True)
    root = context.find_root() if context else None
    no_color = bool(root and (root.params.get("no_color") or root.meta.get("no_color")))
    return click.style if colour_wanted(sys.stdout, os.environ, no_color) else (lambda text, **_: text)


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
        click.echo(f"FAILED {change.key}: {_redacted(str(error), [clients])}", err=True)
        click.echo("  the state store holds every call that succeeded before it", err=True)
        hint = advice(error) if isinstance(error, TopError) else None
        if hint:
            click.echo(f"  hint: {hint}", err=True)
    for change in report.not_tried:
        click.echo(f"not tried: {change.key}", err=True)


@cli.command()
@watched("drift")
@click.argument("paths", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="Print the drift as JSON.")
def drift(paths: tuple[str, ...], as_json: bool) -> None:
    """List what differs on TOP from what was last applied: changes nobody planned, e.g. made in
    the seller console. Exit 0 no drift, 2 drift found, 1 error. Never writes to TOP."""
    project, env = _project_env(paths)
    with Clients(read_only=True, env=env) as clients, _errors_reported([clients]), open_store(env) as store:
        watch = current_watch().attach(clients)
        clients.use_profiles(profile_settings(load_manifests(list(paths)).shops))  # how to reach each shop
        where = _say_where(project, clients, machine=as_json)
        report = find_drift(store, clients, _now(None))
        watch.drift = report
        if as_json:
            click.echo(json.dumps({**drift_to_data(report), "where": where.data()}, indent=2, ensure_ascii=False))
        else:
            click.echo(render_drift_text(report))
    if report.found:
        sys.exit(EXIT_CHANGES)


@cli.command()
@click.argument("paths", nargs=-1)
@click.option("--item", "item_ids", multiple=True, metavar="ID", help="Only this item (num_iid; repeatable).")
@click.option("--at", "at", default=None, help="The moment to price (ISO 8601 with offset); default now.")
@click.option("--json", "as_json", is_flag=True, help="As JSON (schemas/output/price.schema.json).")
def price(paths: tuple[str, ...], item_ids: tuple[str, ...], at: str | None, as_json: bool) -> None:
    """Show each item's worst-case price: the lowest unit price a buyer can reach when every
    declared promotion that can apply at that moment stacks, from TOP's list prices, with the
    promotions that produce it and the item's floor. Never writes to TOP."""
    moment = _now(at)
    project, env = _project_env(paths)
    with Clients(read_only=True, env=env) as clients, _errors_reported([clients]):
        # A manifest whose window is over is an error in plan; here only if it was over at the moment priced.
        manifests, resources = _load(paths, min(moment, _now(None)))
        clients.use_profiles(profile_settings(manifests.shops))
        where = _say_where(project, clients, machine=as_json)
        reports = price_shops(resources, clients, moment, item_ids)
        if as_json:
            click.echo(dumps(with_where(prices_to_data(moment, reports), where.data()), indent=2))
            return
        click.echo(f"Worst-case prices at {moment_text(moment)} (every declared promotion that can apply then, "
                   "stacked; a unit, rounded down to the fen):")
        for report in reports:
            others = f"; {report.at_list_price} other item(s) read are at their list price" if report.at_list_price else ""
            click.echo(f"shop {report.shop}: {len(report.quotes)} item(s){others}")
            for quote, floor in report.quotes:
                for line in quote_lines(quote, floor):
                    click.echo(line)
            for note in report.notes:
                click.echo(f"  note: {note}")


@cli.command("import")
@click.argument("kind")
@click.argument("name")
@click.argument("remote_id")
@click.argument("paths", nargs=-1)
def import_(kind: str, name: str, remote_id: str, paths: tuple[str, ...]) -> None:
    """Adopt an existing TOP object as the managed resource KIND/NAME, declared in the manifests.

    Only the state store changes; the next plan shows what differs between TOP and the manifest."""
    _, env = _project_env(paths)
    with Clients(read_only=True, env=env) as clients, _errors_reported([clients]), open_store(env) as store, \
            _shop_locks(store) as locks:
        manifests, resources = _load(paths, _now(None))
        clients.use_profiles(profile_settings(manifests.shops))
        matches = [r for r in resources if r.key.kind == kind and r.key.name == name]
        if not matches:
            _fail(f"no manifest declares {kind}/{name}; declare it first, then import the object it should manage")
        if len(matches) > 1:
            _fail(f"{kind}/{name} is declared for several shops; import is per shop — narrow PATHS to one shop's files")
        resource = matches[0]
        locks.hold([resource.key.shop])
        existing = store.get(resource.key)
        if existing is not None:
            _fail(f"{resource.key} already manages remote object {existing.remote_id}; `reconciler state rm` it first")
        for link in store.links(resource.key.shop):
            if link.key.kind == kind and link.remote_id == remote_id:
                _fail(f"remote object {remote_id} is already managed as {link.key}")
        record = KINDS[kind].import_record(clients(resource.key.shop), remote_id, resource)
        store.put(Link(resource.key, remote_id, record))
        for entry in store.journal(status="sent"):
            if entry.key == resource.key:  # a create whose answer was lost: this import settles it
                store.journal_failed(entry.id, f"resolved by `reconciler import` of remote object {remote_id}")
    click.echo(f"imported {kind} {remote_id} as {resource.key}; run plan to see how it differs from the manifest")


@cli.group()
def journal() -> None:
    """The apply journal: every write, recorded before it was sent and after its answer."""


@journal.command("list")
@click.option("--open", "only_open", is_flag=True, help="Only writes sent without a recorded answer.")
@click.option("--last", type=int, default=50, show_default=True, help="How many entries, newest last.")
def journal_list(only_open: bool, last: int) -> None:
    """One line per journaled write: id, status, resource, method, error."""
    with _errors_reported([]), _store_of_project() as store:
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
        _fail(f"--answer is not JSON: {answer_json}")
    with _errors_reported([]), _store_of_project() as store, _shop_locks(store) as locks:
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
    with _errors_reported([]), _store_of_project() as store:
        revision = store.last_revision("apply")
    if revision is None:
        _fail("no revision recorded: no `reconciler apply --revision` has run against this state store")
    click.echo(revision)


@state.command("list")
@click.option("--json", "as_json", is_flag=True, help="As JSON (schemas/output/state-list.schema.json).")
def state_list(as_json: bool) -> None:
    """One line per managed object: shop/kind/name and remote id."""
    with _errors_reported([]), _store_of_project() as store:
        if as_json:
            click.echo(dumps(state_list_to_data(store.links()), indent=2))
            return
        for link in store.links():
            click.echo(f"{link.key}\t{link.remote_id}")


@state.command("show")
@click.argument("address")
def state_show(address: str) -> None:
    """Everything recorded for SHOP/KIND/NAME."""
    with _errors_reported([]), _store_of_project() as store:
        link = store.get(_parse_address(address))
        if link is None:
            _fail(f"{address} is not in the state store")
        click.echo(render_record(link))


@state.command("rm")
@click.argument("address")
def state_rm(address: str) -> None:
    """Forget SHOP/KIND/NAME without touching TOP (the object becomes unmanaged)."""
    with _errors_reported([]), _store_of_project() as store, _shop_locks(store) as locks:
        key = _parse_address(address)
        locks.hold([key.shop])
        if store.get(key) is None:
            _fail(f"{address} is not in the state store")
        store.remove(key)
        click.echo(f"forgot {address}; the object on TOP is untouched and now unmanaged")


def _parse_address(address: str) -> ResourceKey:
    parts = address.split("/")
    if len(parts) != 3 or not all(parts):
        _fail(f"'{address}' is not SHOP/KIND/NAME, e.g. demo-shop/ItemPoolActivity/fresh-618")
    return ResourceKey(*parts)


@cli.command()
@click.option("--shop", required=True, help="The Shop profile (metadata.name) the token is for.")
@click.option("--code", prompt=True, hide_input=True, help="The authorisation code from TOP's OAuth page (asked for when omitted).")
@click.option("--uuid", default=None, help="The uuid the code was issued with, if any.")
@click.argument("paths", nargs=-1)
def auth(shop: str, code: str, uuid: str | None, paths: tuple[str, ...]) -> None:
    """Exchange an authorisation code for a seller token (taobao.top.auth.token.create) and keep it
    in the token file (TOP_TOKEN_FILE, default .reconciler/token.json, mode 0600). Later runs send
    it, and refresh it before it expires, whenever the shop's session variable is unset."""
    _, env = _project_env(paths)
    with Clients(read_only=True, env=env) as clients, _errors_reported([clients]):
        manifests = load_manifests(list(paths))
        if shop not in manifests.shops:
            _fail(f"no Shop profile named '{shop}' in the manifests; known: {', '.join(sorted(manifests.shops)) or 'none'}")
        clients.use_profiles(profile_settings(manifests.shops))
        client = clients.seller(shop)
        token = client.exchange_code(code, uuid)
        token_file = TokenFile.from_env(env)
        token_file.save(shop, token)
    expires = datetime.fromtimestamp(token.expires_at, timezone.utc).isoformat() if token.expires_at else "unknown"
    click.echo(f"authorised shop '{shop}' (seller {token.user_nick or 'unknown'}); token saved to {token_file.path}, "
               f"valid until {expires}{', refreshable' if token.refresh_token else ''}")
    session_var = manifests.shops[shop].env["session"]
    if os.environ.get(session_var):
        click.echo(f"note: {session_var} is set and wins over the token file; unset it to use this token", err=True)


_FAULT_OPTIONS = (
    click.option("--latency", default=None, metavar="SECONDS|MIN-MAX", help="Delay every gateway call."),
    click.option("--error-rate", "error_rates", multiple=True, metavar="[METHOD=]P",
                 help="Answer a transient isp.* error instead of running a call, with probability P."),
    click.option("--qps-limit", type=float, default=None, help="Ban the app (code 7) above this many calls per second."),
    click.option("--ban-seconds", type=float, default=None, help="How long a call-limit ban lasts (default 1)."),
    click.option("--expire-sessions-after", type=int, default=None, metavar="N",
                 help="Expire every session after N more calls (code 27)."),
    click.option("--token-ttl", type=float, default=None, metavar="SECONDS", help="Lifetime of issued tokens."),
    click.option("--drop-answer", multiple=True, metavar="METHOD|writes", help="Run the call, then lose its answer."),
    click.option("--drop-mode", type=click.Choice(["close", "502", "timeout"]), default=None,
                 help="How an answer is lost (default close)."),
    click.option("--hang-rate", type=float, default=None, metavar="P",
                 help="Run nothing and answer nothing for --hang-seconds, with probability P."),
    click.option("--hang-seconds", type=float, default=None, help="How long a hung call says nothing (default 5)."),
    click.option("--clock-offset", type=float, default=None, metavar="SECONDS", help="Run the sandbox clock ahead (or behind)."),
    click.option("--fault-seed", "seed", type=int, default=None, help="Repeat the same random faults."),
    click.option("--faults", "faults_json", default=None, metavar="JSON", help="Faults as JSON (see POST /_sandbox/faults)."),
)


def _fault_options(command: Callable[..., None]) -> Callable[..., None]:
    for option in reversed(_FAULT_OPTIONS):
        command = option(command)
    return command


@cli.group()
def schema() -> None:
    """The JSON Schemas of manifests and of machine output."""


@schema.command("export")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def schema_export(directory: Path) -> None:
    """Write the schemas into DIRECTORY, for editors (e.g. VS Code's yaml.schemas; see README)."""
    from reconciler.schemas import export

    for path in export(directory):
        click.echo(str(path))


@cli.group()
def sandbox() -> None:
    """The local TOP emulator."""


@sandbox.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8999, show_default=True, type=int)
@click.option("--data", "data_file", default=None, help="Keep the sandbox's shops in this JSON file.")
@_fault_options
def sandbox_serve(host: str, port: int, data_file: str | None, **faults: Any) -> None:
    """Serve /router/rest like TOP, with fixed demo credentials (see README) and optional faults."""
    from reconciler.sandbox.faults import FaultError, settings_from_flags
    from reconciler.sandbox.server import serve

    try:
        settings = settings_from_flags(**faults)
    except FaultError as exc:
        raise click.UsageError(str(exc)) from exc
    serve(host, port, data_file, settings)


def main(argv: Sequence[str] | None = None) -> None:
    cli.main(args=list(argv) if argv is not None else None, prog_name="reconciler")

