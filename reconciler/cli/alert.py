"""`reconciler alert`: send one alert through the same code as plan/apply/drift's own alerts, for
what a workflow learns outside the reconciler (e.g. "no reviewed plan for this commit"). Shape,
signing and delivery check follow the robot (reconciler/webhooks.py); unlike a run's alert, a
refused alert here is the command's failure: exit 1 with the reason on stderr."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from reconciler.alerts import Alert, ci_context, send_alert
from reconciler.cli.root import cli
from reconciler.i18n import _
from reconciler.redaction import environment_secrets
from reconciler.webhooks import webhook_settings


@cli.command()
@click.option("--title", required=True, help='What happened, in a few words (e.g. "apply refused").')
@click.option("--text", default="", help="One or two sentences: what happened, where, what to do.")
@click.option("--text-file", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="More lines to show (e.g. the tail of a log); - reads stdin. Cut to the robot's limit.")
@click.option("--webhook-url", envvar="RECONCILER_WEBHOOK_URL", default=None, metavar="URL",
              help="The webhook (env RECONCILER_WEBHOOK_URL; a secret, never printed). RECONCILER_WEBHOOK_FORMAT "
                   "and RECONCILER_WEBHOOK_SECRET as for the other commands (README).")
def alert(title: str, text: str, text_file: str | None, webhook_url: str | None) -> None:
    """Send one alert to the team's chat (Slack, DingTalk, Feishu, WeCom, generic); exit 1 if refused."""
    if not webhook_url:
        click.echo(_("error: no webhook: give --webhook-url or set RECONCILER_WEBHOOK_URL"), err=True)
        sys.exit(1)
    details: list[str] = []
    if text_file:
        try:
            raw = sys.stdin.read() if text_file == "-" else Path(text_file).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            click.echo(_("error: cannot read --text-file {file}: {error}").format(file=text_file, error=exc.strerror), err=True)
            sys.exit(1)
        details = [line.rstrip() for line in raw.splitlines() if line.strip()]
    try:
        settings = webhook_settings(os.environ)
    except ValueError as exc:
        click.echo(_("error: {message}").format(message=exc), err=True)
        sys.exit(1)
    link, facts = ci_context(os.environ)
    message = Alert(event=title, summary=text or title, details=tuple(details), link=link,
                    context=("reconciler alert", *facts))
    secrets = sorted(environment_secrets(os.environ)) + [webhook_url]
    problem = send_alert(webhook_url, message, secrets, settings)
    if problem:
        click.echo(_("error: alert NOT delivered: {problem}").format(problem=problem), err=True)
        sys.exit(1)
    click.echo(_("alert delivered: {title}").format(title=title), err=True)
