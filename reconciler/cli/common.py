"""What every command shares: errors printed without a traceback, the project and the settings
root built from flags and the environment, the where-header, printing in pieces, shop locks."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NoReturn

import click

from reconciler.colour import colour_wanted
from reconciler.connect import Clients
from reconciler.errors import ManifestError, ReconcilerError, TopError
from reconciler.i18n import _
from reconciler.output_paths import output_problems
from reconciler.project import Project, find_project
from reconciler.engine.duplicates import ALLOW_FLAG
from reconciler.settings import Clock, SafetySettings, Scope, Settings, parse_moment
from reconciler.state import ShopLocks, StateStore, open_store
from reconciler.top.credentials import redact_values
from reconciler.top.hints import advice
from reconciler.where import Where

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2


@contextmanager
def errors_reported(clients: Sequence[Clients] = ()) -> Iterator[None]:
    """Print our own errors as one clear message (no traceback), with every secret masked."""
    try:
        yield
    except ManifestError as exc:
        click.echo(_("error: {count} problem(s) in the manifests; nothing was sent to TOP").format(count=len(exc.problems)),
                   err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(EXIT_ERROR)
    except ReconcilerError as exc:
        click.echo(_("error: {message}").format(message=redacted(str(exc), clients)), err=True)
        hint = advice(exc) if isinstance(exc, TopError) else None
        if hint:
            click.echo(_("hint: {hint}").format(hint=hint), err=True)
        sys.exit(EXIT_ERROR)


def redacted(text: str, clients: Sequence[Clients]) -> str:
    for group in clients:
        text = redact_values(text, group.secret_values())
    return text


def fail(message: str) -> NoReturn:
    click.echo(_("error: {message}").format(message=message), err=True)
    sys.exit(EXIT_ERROR)


def check_outputs(files: dict[str, str | None], directories: dict[str, str | None] | None = None) -> None:
    """Every output path a command will write, checked before it does any work (issue 17.5)."""
    for problem in output_problems(files, directories or {}):
        fail(problem)


# ---- the project and the settings root ---------------------------------------------------


def project_of(paths: Sequence[str]) -> Project:
    """The project of the manifests at `paths` (reconciler/project.py), its warning said on stderr."""
    with errors_reported():
        project = find_project(paths, os.environ)
    if project.warning:
        click.echo(_("warning: {message}").format(message=project.warning), err=True)
    return project


def saved_plan_project(path: str) -> Project:
    """A saved plan's project: around the plan file, else around the current directory (a plan
    saved outside the repository, e.g. in /tmp, is applied from the repository)."""
    with errors_reported():
        project = find_project([path], os.environ)
    return project_of(()) if project.warning else project


def build_settings(project: Project, *, at: str | None = None, **groups: Any) -> Settings:
    """The settings root of this run, once: the clock read now, --at parsed, TOP_* read."""
    with errors_reported():
        return Settings.build(project, os.environ, Clock.read(parse_moment(at)), **groups)


def store_of_project() -> StateStore:
    """The state store of the project around the current directory (commands given no manifests)."""
    return open_store(project_of(()).env(os.environ))


class WhereHeader:
    """The header of plan, apply, drift and price (project root, state store, each shop's gateway),
    said when the driver has connected, before its first TOP call; kept for --json's "where". On
    stderr when stdout carries a machine format, so stdout stays pure JSON."""

    def __init__(self, project: Project, clients: Clients, *, machine: bool) -> None:
        self._project, self._clients, self._machine = project, clients, machine
        self.where: Where | None = None

    def __call__(self) -> None:
        clients = self._clients
        self.where = Where(self._project, {shop: clients.gateway(shop) for shop in clients.settings})
        for line in self.where.lines():
            click.echo(line, err=self._machine)

    def data(self) -> dict[str, Any]:
        return self.where.data() if self.where is not None else {}


# ---- printing ----------------------------------------------------------------------------


def echo_pieces(pieces: Iterable[str], batch: int = 1 << 16) -> None:
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


def echo_lines(lines: Iterable[str]) -> None:
    """click.echo("\n".join(lines)), without the whole text in memory."""
    echo_pieces(line + "\n" for line in lines)


def styler() -> Callable[..., str]:
    context = click.get_current_context(silent=True)
    root = context.find_root() if context else None
    no_color = bool(root and (root.params.get("no_color") or root.meta.get("no_color")))
    return click.style if colour_wanted(sys.stdout, os.environ, no_color) else (lambda text, **_: text)


def no_color_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """`plan --no-color` and `apply --no-color` too (Terraform's habit), besides `reconciler --no-color`."""
    def remember_choice(context: click.Context, _: click.Parameter, value: bool) -> None:
        if value:
            context.find_root().meta["no_color"] = True

    return click.option("--no-color", is_flag=True, expose_value=False, callback=remember_choice,
                        help="No colour escape codes (also: NO_COLOR set).")(f)


# ---- shop locks ---------------------------------------------------------------------------

# import, journal resolve and state rm edit one shop's state: an apply of that shop reads and
# writes the same rows, so they wait for it like a second apply would, then hold the lock until
# the command is done.
STATE_EDIT_LOCK_TIMEOUT = 60.0


def shop_locks(store: StateStore, timeout: float = STATE_EDIT_LOCK_TIMEOUT) -> ShopLocks:
    """Shop locks that tell the user, once, when another run holds one."""
    def notice(shop: str, holder: str) -> None:
        click.echo(_("waiting up to {timeout:g} s for shop {shop}: another apply holds its lock ({holder})").format(
            timeout=timeout, shop=shop, holder=holder), err=True)

    return ShopLocks(store, timeout, on_wait=notice)


# ---- flags plan and apply share ---------------------------------------------------------------


@dataclass(frozen=True)
class ShopScope:
    """--shop and --shard as given (plan, apply, drift, price, export)."""

    shops: tuple[str, ...] = ()
    shard: str | None = None

    def scope(self, targets: tuple[str, ...] = (), *, prune: bool = False) -> Scope:
        # SettingsError for a malformed --target or --shard
        return Scope.parse(targets, prune=prune, shops=self.shops, shard=self.shard)


def shop_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--shop NAME (repeatable) and --shard I/N, handed to the command as one `shop_scope`."""
    @functools.wraps(f)
    def command(*args: Any, shops: tuple[str, ...], shard: str | None, **kwargs: Any) -> Any:
        return f(*args, shop_scope=ShopScope(shops, shard), **kwargs)

    wrapped: Callable[..., Any] = command
    wrapped = click.option("--shard", default=None, metavar="I/N",
                           help="Only the shops of shard I of N (0 ≤ I < N; a shop's shard is a hash of its name, "
                                "stable across runs and machines; `reconciler shops --shard I/N` lists them).")(wrapped)
    wrapped = click.option("--shop", "shops", multiple=True, metavar="NAME",
                           help="Only this shop (a Shop profile's name; repeatable). Other shops' manifests, "
                                "state, journal and locks are left alone.")(wrapped)
    return wrapped


@dataclass(frozen=True)
class Guard:
    """The flags of scope and safety as given, for the settings root (`settings` parses them)."""

    targets: tuple[str, ...]
    prune: bool
    safety: SafetySettings
    shop_scope: ShopScope = ShopScope()

    def scope(self) -> Scope:
        return self.shop_scope.scope(self.targets, prune=self.prune)


def safety_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--target, --prune, --shop, --shard, the thresholds, --force and --allow-duplicates, handed to
    the command as one `guard` (Guard) instead of nine parameters."""
    @functools.wraps(f)
    def command(*args: Any, targets: tuple[str, ...], prune: bool, force: bool, update_threshold: float,
                delete_threshold: float, threshold_min_objects: int, allow_duplicates: bool, shop_scope: ShopScope,
                **kwargs: Any) -> Any:
        safety = SafetySettings(update_threshold, delete_threshold, threshold_min_objects, force, allow_duplicates)
        return f(*args, guard=Guard(targets, prune, safety, shop_scope), **kwargs)

    wrapped: Callable[..., Any] = shop_options(command)
    wrapped = click.option("--force", is_flag=True, help="Allow a plan above the update/delete thresholds.")(wrapped)
    wrapped = click.option("--update-threshold", type=float, default=0.3, show_default=True,
                           help="Largest share of a shop's managed objects one run may update or replace.")(wrapped)
    wrapped = click.option("--delete-threshold", type=float, default=0.3, show_default=True,
                           help="Largest share of a shop's managed objects one run may delete.")(wrapped)
    wrapped = click.option("--threshold-min-objects", type=int, default=10, show_default=True,
                           help="Thresholds apply only to shops with at least this many managed objects.")(wrapped)
    wrapped = click.option("--target", "targets", multiple=True, metavar="KIND/NAME",
                           help="Limit the run to this resource (repeatable; SHOP/KIND/NAME also works).")(wrapped)
    wrapped = click.option("--prune", is_flag=True, help="Delete managed objects whose manifest was removed.")(wrapped)
    wrapped = click.option(ALLOW_FLAG, "allow_duplicates", is_flag=True,
                           help="Create resources the state store does not know even when TOP already holds an "
                                "unmanaged object with the same content (otherwise the plan is blocked).")(wrapped)
    return wrapped
