"""`reconciler apply`: make exactly the planned calls, from a saved plan file or planned now.

With --json, stdout carries exactly one JSON document (schemas/output/apply.schema.json) however
the apply ends: what was done, or why it stopped before sending anything."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stdout
from pathlib import Path
from typing import Any

import click

from reconciler.cli.common import (
    EXIT_ERROR,
    Guard,
    echo_lines,
    errors_reported,
    no_color_option,
    redacted,
    safety_options,
    WhereHeader,
    shop_locks,
    styler,
)
from reconciler.cli.root import cli
from reconciler.connect import Clients
from reconciler.engine.apply import ApplyListener, ApplyReport
from reconciler.engine.codec import dumps
from reconciler.engine.outputs import apply_stopped_to_data, apply_to_data
from reconciler.engine.reconcile import Hooks, Reconciler, Review
from reconciler.engine.render import text_lines
from reconciler.engine.signing import KEY_VARIABLE, read_checksum_file
from reconciler.errors import NotApproved, ReconcilerError, SettingsError, TopError
from reconciler.i18n import _, ngettext
from reconciler.model import Call, Change, Plan
from reconciler.observe import current_watch, watched
from reconciler.project import Project, find_project
from reconciler.settings import ApplySettings, Clock, Settings
from reconciler.state import open_store
from reconciler.top.hints import advice


def _refused(params: Mapping[str, Any], message: str) -> None:
    """Refused before it started (an unusable --metrics-file): with --json, still one document."""
    if params.get("as_json"):
        click.echo(dumps(apply_stopped_to_data(SettingsError(message), message, None), indent=2))


@cli.command()
@watched("apply", refused=_refused)
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
@no_color_option
@safety_options
def apply(
    paths: tuple[str, ...], auto_approve: bool, parallelism: int | None, lock_timeout: float, checksum: str | None,
    checksum_file: str | None, reviewed_plan: str | None, revision: str | None, as_json: bool, guard: Guard,
) -> None:
    """Make exactly the planned calls: from a saved plan file (`apply plan.json`), or plan now and apply."""
    saved_file = paths[0] if len(paths) == 1 and _is_plan_file(paths[0]) else None
    if checksum_file and (checksum or saved_file):
        raise click.UsageError(_("--checksum-file replaces --checksum, and re-plans from manifests (not a plan file)"))
    if saved_file and (guard.shop_scope.shops or guard.shop_scope.shard):
        raise click.UsageError(_("a saved plan is applied as planned, for the shops it was planned for; give --shop or "
                                 "--shard to `plan --out` instead"))
    run = _JsonRun(as_json)
    with run.stdout(), errors_reported(run.clients), run.stops():
        project = _project(paths, saved_file)
        env = project.env(os.environ)
        if checksum_file:
            checksum = read_checksum_file(checksum_file, env)
        settings = Settings.build(
            project, os.environ, Clock.read(), lock_timeout=lock_timeout,
            scope=guard.scope(), safety=guard.safety,
            apply=ApplySettings(auto_approve, parallelism, checksum, reviewed_plan, revision),
        )
        with Clients(read_only=False, env=settings.env, settings=settings.client) as clients, \
                open_store(settings.env) as store, shop_locks(store, settings.store.lock_timeout) as locks:
            run.clients.append(clients)
            watch = current_watch().attach(clients)
            hooks = Hooks(connected=WhereHeader(project, clients, machine=False),
                          recovered=lambda message: click.echo(_("recovered: {message}").format(message=message)))
            driver = Reconciler(settings, clients, store, hooks, locks)
            review = driver.review_saved(saved_file) if saved_file else driver.review_for_apply(paths)
            run.review = review
            watch.plan, watch.blocked = review.plan, list(review.blocked)
            echo_lines(text_lines(review.plan, styler()))
            review.raise_if_unsafe("nothing was sent")
            if not review.plan.empty:
                _confirm(settings.apply.auto_approve or review.saved)  # a saved plan is the approval (as Terraform)
            report = driver.apply(review, _listener(review.plan) if not review.plan.empty else None)
            watch.report = report
            if not review.plan.empty:
                _print_report(report, clients)
            run.emit(apply_to_data(report, review.checksum, empty=review.plan.empty))
    if not report.ok:
        sys.exit(EXIT_ERROR)


def _project(paths: tuple[str, ...], saved_file: str | None) -> Project:
    """The manifests' project; a saved plan's is around the plan file, else around the current
    directory (a plan saved outside the repository, e.g. in /tmp, is applied from the repository)."""
    project = find_project([saved_file] if saved_file else paths, os.environ)
    if saved_file and project.warning:
        project = find_project((), os.environ)
    if project.warning:
        click.echo(_("warning: {warning}").format(warning=project.warning), err=True)
    return project


class _JsonRun:
    """With --json: every line printed inside goes to stderr, and one document alone to stdout
    (masked like everything else): the report, or why the apply stopped before sending anything."""

    def __init__(self, as_json: bool) -> None:
        self.as_json = as_json
        self.clients: list[Clients] = []
        self.review: Review | None = None
        self._real = sys.stdout

    @contextmanager
    def stdout(self) -> Iterator[None]:
        self._real = sys.stdout
        if not self.as_json:
            yield
            return
        with redirect_stdout(sys.stderr):
            yield

    @contextmanager
    def stops(self) -> Iterator[None]:
        try:
            yield
        except ReconcilerError as exc:
            review = self.review
            plan: Plan | None = review.plan if review is not None else None
            message = redacted(str(exc), self.clients)
            self.emit(apply_stopped_to_data(exc, message, plan, review.checksum if review is not None else ""))
            raise

    def emit(self, data: Mapping[str, Any]) -> None:
        if self.as_json:
            click.echo(redacted(dumps(data, indent=2), self.clients), file=self._real)


def _is_plan_file(path: str) -> bool:
    return path.endswith(".json") and Path(path).is_file()


def _confirm(auto_approve: bool) -> None:
    if auto_approve:
        return
    if not sys.stdin.isatty():
        raise NotApproved(_("refusing to apply without --auto-approve: standard input is not a terminal to confirm on"))
    if not click.confirm(_("Apply these changes to TOP?"), default=False):
        raise NotApproved(_("apply cancelled; nothing was sent"))


class _LogLines(ApplyListener):
    """Not on a terminal (CI): one plain line per call, greppable in a job log."""

    def call_finished(self, change: Change, call: Call, error: str | None) -> None:
        outcome = _("FAILED: {error}").format(error=error) if error else _("ok")
        click.echo(f"  {change.key.kind}/{change.key.name}: {call.method} {outcome}")


class _ProgressBar(ApplyListener):
    """On a terminal: one line that shows done / total, the call rate and errors so far."""

    def __init__(self, total: int) -> None:
        self.started = time.monotonic()
        self.errors = 0
        self.done = 0
        self.bar = click.progressbar(length=total, label=_("applying"), show_pos=True, item_show_func=self._status)

    def _status(self, _item: object) -> str:
        rate = self.done / max(time.monotonic() - self.started, 1e-6)
        status = ngettext("{rate} calls/s, {errors} error(s)", "{rate} calls/s, {errors} error(s)", self.errors)
        return status.format(rate=f"{rate:.1f}", errors=self.errors)

    def call_finished(self, change: Change, call: Call, error: str | None) -> None:
        self.done += 1
        self.errors += 1 if error else 0
        self.bar.update(1, current_item=call.method)


def _listener(plan: Plan) -> ApplyListener:
    return _ProgressBar(plan.write_calls) if sys.stdout.isatty() else _LogLines()


def _print_report(report: ApplyReport, clients: Clients) -> None:
    applied = ngettext("Applied {changes} change(s) with {calls} write call(s) (run {run_id}).",
                       "Applied {changes} change(s) with {calls} write call(s) (run {run_id}).", len(report.done))
    click.echo(applied.format(changes=len(report.done), calls=report.calls_sent, run_id=report.run_id))
    for change, error in report.failed:
        click.echo(_("FAILED {address}: {error}").format(address=change.key, error=redacted(str(error), [clients])), err=True)
        click.echo("  " + _("the state store holds every call that succeeded before it"), err=True)
        hint = advice(error) if isinstance(error, TopError) else None
        if hint:
            click.echo("  " + _("hint: {hint}").format(hint=hint), err=True)
    for change in report.not_tried:
        click.echo(_("not tried: {address}").format(address=change.key), err=True)
