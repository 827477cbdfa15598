"""What the CLI does around a plan, apply or drift run so a team hears about it: Prometheus
metrics (reconciler.metrics) and webhook alerts (reconciler.alerts).

`watched(command)` decorates a click command: it adds `--webhook-url`, `--metrics-file` and
`--pushgateway` (each also read from RECONCILER_WEBHOOK_URL, RECONCILER_METRICS_FILE,
RECONCILER_PUSHGATEWAY), and wraps the whole command, so it sees every way the command ends,
including `sys.exit` after the command's own `with` blocks. The command body tells the watch
what it learnt (`current_watch().attach(...)`, `.plan`, `.blocked`, `.report`, `.drift`).

The alert's reason is the command's own error output: while the command runs, what it writes to
stderr (already redacted, the same words the user sees) is also kept for the alert. Capturing it
keeps every error path of the command reporting the same text, without each one having to
remember to tell the alerting code.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, TextIO, cast

import click

from reconciler.alerts import Alert, ci_context, mask, send_alert
from reconciler.i18n import N_, _
from reconciler.metrics import RunMetrics, grouping_key
from reconciler.output_paths import file_problem
from reconciler.redaction import PassThroughStream, environment_secrets
from reconciler.webhooks import webhook_settings

# Translators: what an apply did to an object, in the alert's list of changes done
_ACTION_WORDS = {"create": N_("create"), "update": N_("update"), "replace": N_("replace"), "delete": N_("delete")}

_CURRENT: ContextVar["RunWatch | None"] = ContextVar("reconciler_run_watch", default=None)


@dataclass(frozen=True)
class Outputs:
    webhook_url: str | None = None
    metrics_file: str | None = None
    pushgateway: str | None = None


@dataclass
class RunWatch:
    command: str
    outputs: Outputs
    env: Mapping[str, str]
    metrics: RunMetrics = field(init=False)
    plan: Any = None  # the Plan, once made
    blocked: Sequence[str] = ()  # guardrail (safety) problems that stopped the run
    report: Any = None  # the ApplyReport, once applied
    drift: Any = None  # the DriftReport, once checked
    _shops: Callable[[], Iterable[str]] = field(default=lambda: ())
    grouping: Mapping[str, str] | None = None  # the Pushgateway group (metrics.grouping_key); None: the command's
    _secrets: Callable[[], Iterable[str]] = field(default=lambda: ())
    _errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metrics = RunMetrics(self.command, self.grouping)

    def attach(self, clients: Any) -> "RunWatch":
        """Count the calls of `clients` (the CLI's Clients) and mask its secrets in alerts."""
        clients.observe = self.metrics.metered
        self._secrets = clients.secret_values
        self._shops = lambda: clients.settings  # the shop profiles, once the manifests are read
        return self

    # ---- the end of the run ---------------------------------------------------------------

    def finish(self, exit_code: int) -> list[str]:
        """Export metrics and send the alert; returns warnings for the user (never raises)."""
        if self.plan is not None:
            self.metrics.observe_plan(self.plan)
        if self.report is not None:
            self.metrics.observe_apply(self.report.done, self.report.failed, self.report.not_tried)
        if self.drift is not None:
            self.metrics.observe_drift(self.drift.drift, sorted(self.drift.plan.managed_counts))
        self.metrics.finish(exit_code)
        warnings = self._export()
        alert = self.alert(exit_code)
        if alert is not None and self.outputs.webhook_url:
            try:  # RECONCILER_WEBHOOK_FORMAT / _SECRET / _ATTEMPTS / _BACKOFF (reconciler/webhooks.py)
                problem = send_alert(self.outputs.webhook_url, alert, self.secret_values(), webhook_settings(self.env))
            except ValueError as exc:
                problem = str(exc)
            if problem:  # a warning, not the exit code: the run's own result must stay visible
                warnings.append(_("alert NOT delivered: {problem}").format(problem=problem))
        return warnings

    def secret_values(self) -> list[str]:
        values = [value for value in self._secrets() if value] + sorted(environment_secrets(self.env))
        if self.env.get("RECONCILER_WEBHOOK_SECRET"):  # the robot's signing secret (its name says so too)
            values.append(self.env["RECONCILER_WEBHOOK_SECRET"])
        return (values + [self.outputs.webhook_url]) if self.outputs.webhook_url else values

    def _export(self) -> list[str]:
        warnings = []
        if self.outputs.metrics_file:
            try:
                self.metrics.write(self.outputs.metrics_file)
            except (OSError, ValueError) as exc:
                warnings.append(_("could not write the metrics file {file}: {error}").format(file=self.outputs.metrics_file, error=exc))
        if self.outputs.pushgateway:
            try:
                self.metrics.push(self.outputs.pushgateway)
            except (OSError, ValueError) as exc:  # urllib's URLError and HTTPError are OSErrors
                warnings.append(_("could not push metrics to the Pushgateway: {error}").format(
                    error=mask(str(exc), self.secret_values())))
        return warnings

    # ---- the alert ------------------------------------------------------------------------

    def alert(self, exit_code: int) -> Alert | None:
        """What happened, if it is worth waking someone: an apply that did not finish, a plan a
        guardrail blocked, drift, or a drift check that could not run."""
        event = self._event(exit_code)
        if event is None:
            return None
        link, context = ci_context(self.env)
        return Alert(event=event, summary=self._summary(event, exit_code), details=tuple(self._details(event)),
                     link=link, context=(f"reconciler {self.command}", *context))

    def _event(self, exit_code: int) -> str | None:
        if self.blocked and exit_code != 0:
            return "guardrail block"
        if self.command == "apply" and exit_code != 0:
            return "apply failed"
        if self.command == "drift":
            if self.drift is not None and self.drift.found:
                return "drift"
            if exit_code not in (0, 2):
                return "drift check failed"
        return None

    def _affected_shops(self) -> list[str]:
        shops = set(self._shops())
        if self.plan is not None:
            shops |= {change.key.shop for change in self.plan.changes}
        if self.drift is not None:
            shops |= set(self.drift.shops)
        return sorted(shops)

    def _summary(self, event: str, exit_code: int) -> str:
        where = ", ".join(self._affected_shops()) or _("no shop reached")
        if event == "drift":
            return _("{count} managed object(s) on TOP differ from what was last applied (shops: {shops}). Someone "
                     "changed them outside git; put the change in the manifests through a pull request, or let the "
                     "next apply put it back.").format(count=len(self.drift.drift), shops=where)
        if event == "guardrail block":
            return _("{command} was blocked by a safety check; nothing was sent to TOP (shops: {shops}).").format(
                command=self.command, shops=where)
        if event == "drift check failed":
            return _("the scheduled drift check could not run (exit {code}; shops: {shops}).").format(
                code=exit_code, shops=where)
        report = self.report
        if report is None:
            return _("apply stopped before sending anything (exit {code}; shops: {shops}).").format(
                code=exit_code, shops=where)
        return _("apply stopped part-way (shops: {shops}): {done} change(s) done, {failed} failed, {not_tried} not "
                 "tried. The state store holds every call TOP accepted; re-plan, then fix forward.").format(
            shops=where, done=len(report.done), failed=len(report.failed), not_tried=len(report.not_tried))

    def _details(self, event: str) -> list[str]:
        lines: list[str] = []
        if event == "drift":
            for change in self.drift.drift:
                reason = change.reason or _(_ACTION_WORDS[change.action.value])
                lines.append(f"{change.action.symbol} {change.key}: {reason}")
                lines.extend(f"    {detail}" for detail in change.details)
            return lines
        if event == "guardrail block":
            lines.extend(self.blocked)
        lines.extend(line for line in _lines(self._errors) if line not in lines)
        if self.report is not None:
            lines.extend(_("done: {key} ({action})").format(key=change.key, action=_(_ACTION_WORDS[change.action.value]))
                         for change in self.report.done)
        return lines

    # ---- stderr capture -------------------------------------------------------------------

    def capture(self, stream: TextIO) -> TextIO:
        return cast(TextIO, _Tee(stream, self._errors))  # stands in for sys.stderr: write, flush, isatty


class _Tee(PassThroughStream):
    """Writes through to the real stream and keeps a copy of the text."""

    def __init__(self, stream: TextIO, sink: list[str]) -> None:
        super().__init__(stream)
        self._sink = sink

    def write(self, text: Any) -> int:
        if isinstance(text, str):
            self._sink.append(text)
        return self._stream.write(text)


def _lines(chunks: Sequence[str]) -> list[str]:
    return [line.rstrip() for line in "".join(chunks).splitlines() if line.strip()]


def current_watch() -> RunWatch:
    watch = _CURRENT.get()
    if watch is None:
        raise RuntimeError("current_watch() outside a command decorated with watched()")
    return watch


def _exit_code(error: BaseException | None) -> int:
    if error is None:
        return 0
    if isinstance(error, SystemExit):
        code = error.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    if isinstance(error, click.exceptions.Exit):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return 130
    return 1


def _options(command: Callable[..., Any]) -> Callable[..., Any]:
    command = click.option(
        "--webhook-url", envvar="RECONCILER_WEBHOOK_URL", default=None, metavar="URL",
        help="Post an alert here when an apply fails, a guardrail blocks, or drift is found: Slack, DingTalk, "
             "Feishu, WeCom or any Slack-compatible webhook (env RECONCILER_WEBHOOK_URL; a secret, never "
             "printed; RECONCILER_WEBHOOK_FORMAT and RECONCILER_WEBHOOK_SECRET: see the README).")(command)
    command = click.option(
        "--metrics-file", envvar="RECONCILER_METRICS_FILE", default=None, metavar="FILE",
        help="Write this run's Prometheus metrics here, for node-exporter's textfile collector "
             "(env RECONCILER_METRICS_FILE).")(command)
    command = click.option(
        "--pushgateway", envvar="RECONCILER_PUSHGATEWAY", default=None, metavar="URL",
        help="Also push the metrics to this Prometheus Pushgateway (env RECONCILER_PUSHGATEWAY).")(command)
    return command


def watched(
    command_name: str, refused: Callable[[Mapping[str, Any], str], None] | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """`refused(command's parameters, message)`: told when the run is refused before it starts (an
    unusable --metrics-file), e.g. so `apply --json` still prints its one document."""
    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def run(*args: Any, webhook_url: str | None, metrics_file: str | None, pushgateway: str | None,
                **kwargs: Any) -> Any:
            problem = file_problem("--metrics-file", metrics_file) if metrics_file else None
            if problem:  # before the run does any work, not as a warning at its end (issue 17.5)
                click.echo(_("error: {message}").format(message=problem), err=True)
                if refused is not None:
                    refused(kwargs, problem)
                sys.exit(1)
            # --shop / --shard (cli/common.shop_options) as given: each shard and shop pushes its own group.
            grouping = grouping_key(command_name, kwargs.get("shops") or (), kwargs.get("shard"))
            watch = RunWatch(command_name, Outputs(webhook_url, metrics_file, pushgateway), os.environ,
                             grouping=grouping)
            token = _CURRENT.set(watch)
            real_stderr = sys.stderr
            sys.stderr = watch.capture(real_stderr)
            outcome: BaseException | None = None
            try:
                with watch.metrics.counting_retries():
                    return function(*args, **kwargs)
            except BaseException as exc:
                outcome = exc
                raise
            finally:
                sys.stderr = real_stderr
                _CURRENT.reset(token)
                for warning in watch.finish(_exit_code(outcome)):
                    click.echo(_("warning: {message}").format(message=warning), err=True)

        return _options(run)

    return decorate
