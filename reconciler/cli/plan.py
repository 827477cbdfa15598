"""`reconciler plan`: show the TOP calls that would bring the shops to the manifests."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from reconciler.cli.common import (
    EXIT_CHANGES,
    Guard,
    build_settings,
    check_outputs,
    echo_lines,
    echo_pieces,
    errors_reported,
    no_color_option,
    project_of,
    safety_options,
    WhereHeader,
    styler,
)
from reconciler.cli.root import cli
from reconciler.connect import Clients
from reconciler.engine.price_report import impact_markdown, impact_text
from reconciler.engine.reconcile import Hooks, Reconciler, Review
from reconciler.engine.render import json_pieces, render_markdown, text_lines
from reconciler.engine.saved import write_saved_plan
from reconciler.engine.signing import KEY_VARIABLE, write_checksum_file
from reconciler.engine.timeline import applied_resources, gantt_markdown
from reconciler.i18n import _
from reconciler.observe import current_watch, watched
from reconciler.settings import OutputSettings, Settings
from reconciler.state import StateStore, open_store


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
@no_color_option
@safety_options
def plan(
    paths: tuple[str, ...], as_json: bool, markdown_dir: str | None, link_base: str | None, out_file: str | None,
    checksum_file: str | None, detailed_exitcode: bool, at: str | None, guard: Guard,
) -> None:
    """Show the TOP calls that would bring the shops to the manifests. Never writes to TOP."""
    check_outputs({"--out": out_file, "--checksum-file": checksum_file}, {"--markdown": markdown_dir})
    outputs = OutputSettings(as_json, out_file, markdown_dir, link_base, checksum_file, detailed_exitcode)
    with errors_reported():
        scope = guard.scope()
    settings = build_settings(project_of(paths), at=at, outputs=outputs, scope=scope, safety=guard.safety)
    with Clients(read_only=True, env=settings.env, settings=settings.client) as clients, \
            errors_reported([clients]), open_store(settings.env) as store:
        watch = current_watch().attach(clients)
        header = WhereHeader(settings.store.project, clients, machine=as_json)
        hooks = Hooks(connected=header)
        review = Reconciler(settings, clients, store, hooks).review(paths)
        watch.plan, watch.blocked = review.plan, list(review.blocked)
        _print(review, settings, header)
        _write(review, settings, store)
    with errors_reported():
        review.raise_if_unsafe("nothing will be applied")
    if detailed_exitcode and not review.plan.empty:
        sys.exit(EXIT_CHANGES)


def _print(review: Review, settings: Settings, header: WhereHeader) -> None:
    if settings.outputs.as_json:
        echo_pieces(json_pieces(review.plan, {"where": header.data()}))
        click.echo()
    else:
        echo_lines(text_lines(review.plan, styler()))
        for line in impact_text(review.prices.impacts):
            click.echo(line)
        if not review.plan.empty:
            click.echo(_("Plan checksum: {checksum}").format(checksum=review.checksum))
    for note in review.notes:
        click.echo(_("warning: {warning}").format(warning=note), err=True)


def _write(review: Review, settings: Settings, store: StateStore) -> None:
    """The files asked for: pull-request comments, the saved plan, the checksum."""
    outputs, machine = settings.outputs, settings.outputs.as_json
    if outputs.markdown_dir:
        changed = [change.key for change in review.plan.changes]
        before = applied_resources(store.applied_specs(), changed)  # windows as last applied, for before → after
        _write_markdown(outputs.markdown_dir, render_markdown(
            review.plan, checksum=review.checksum, link_base=outputs.link_base,
            extra_warnings=review.blocked + review.notes, price_impact=impact_markdown(review.prices.impacts),
            timeline=gantt_markdown(review.plan.changes, review.desired, before, review.moment)))
    if outputs.out_file:
        write_saved_plan(outputs.out_file, review.to_saved())
        click.echo(_("Saved the plan to {file}; `reconciler apply {file}` sends exactly these calls.").format(
            file=outputs.out_file), err=machine)
    if outputs.checksum_file:  # written by the reconciler, not a script (reconciler/engine/signing.py)
        signed = write_checksum_file(outputs.checksum_file, review.checksum, settings.env)
        wrote = _("Wrote the plan checksum to {file} (signed)") if signed else _("Wrote the plan checksum to {file}")
        click.echo(wrote.format(file=outputs.checksum_file), err=machine)


def _write_markdown(directory: str, comments: list[str]) -> None:
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    for old in target.glob("plan-*.md"):
        old.unlink()
    for index, comment in enumerate(comments, start=1):
        (target / f"plan-{index}.md").write_text(comment, encoding="utf-8")
