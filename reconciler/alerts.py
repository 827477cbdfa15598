"""Alerts: one webhook message when an apply fails, a guardrail blocks a plan, or drift is found.
For Slack and any other ("generic") webhook the body is `{"text": …, "blocks": […]}` (Slack
incoming webhooks; Mattermost, Rocket.Chat and most chat bridges take the same), so `text` alone
also reads well; DingTalk, Feishu and WeCom robots get their own markdown shapes, signing and
delivery check (reconciler/webhooks.py).

An alert never carries a secret: its lines come from the CLI's already-redacted output, and every
string is masked once more against the run's secret values before it is sent. The webhook URL is
a secret too and is never printed. Sending never raises: a broken webhook must not turn a
successful apply into a failed one (nor hide a failed apply's own result), so the caller gets a
line to print instead; `reconciler alert` turns that line into a non-zero exit.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.i18n import N_, _
from reconciler.redaction import redact
from reconciler.webhooks import TEXT_LIMITS, WebhookSettings, deliver, detect_format, markdown_text, robot_body

# Slack's limits: a header holds 150 characters, a section 3,000.
_HEADER_LIMIT = 150
_SECTION_LIMIT = 3000
_MAX_DETAIL_LINES = 40
_ICONS = {"apply failed": ":rotating_light:", "guardrail block": ":no_entry:", "drift": ":warning:"}
# The events a run reports, in the reader's words; `Alert.event` stays the English key (icons,
# metrics, tests), and a title given to `reconciler alert` is shown as written.
_EVENT_WORDS = {
    "apply failed": N_("apply failed"),
    "guardrail block": N_("guardrail block"),
    "drift": N_("drift"),
    "drift check failed": N_("drift check failed"),
}


@dataclass(frozen=True)
class Alert:
    event: str  # "apply failed", "guardrail block", "drift", "drift check failed"
    summary: str  # one sentence: what happened, where
    details: tuple[str, ...] = ()  # the lines a person needs to act: errors, changes, what was done
    link: str | None = None  # the CI run, when there is one
    context: tuple[str, ...] = ()  # e.g. repository@commit, who triggered it


def ci_context(env: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """The GitHub Actions run URL and a few facts about it, from the runner's default variables."""
    server, repository, run_id = env.get("GITHUB_SERVER_URL"), env.get("GITHUB_REPOSITORY"), env.get("GITHUB_RUN_ID")
    link = f"{server}/{repository}/actions/runs/{run_id}" if server and repository and run_id else None
    facts = []
    if repository and env.get("GITHUB_SHA"):
        facts.append(f"{repository}@{env['GITHUB_SHA'][:12]}")
    if env.get("GITHUB_WORKFLOW"):
        facts.append(_("workflow {name}").format(name=env["GITHUB_WORKFLOW"]))
    if env.get("GITHUB_ACTOR"):
        facts.append(_("by {actor}").format(actor=env["GITHUB_ACTOR"]))
    return link, tuple(facts)


def event_words(event: str) -> str:
    """How an alert names its event to people: a run's own events translated, any other as given."""
    words = _EVENT_WORDS.get(event)
    return _(words) if words is not None else event


def _title(alert: Alert, secrets: Sequence[str]) -> str:
    return mask(_("campaign-reconciler: {event}").format(event=event_words(alert.event)), secrets)


def mask(text: str, secrets: Iterable[str]) -> str:
    return redact(text, secrets)  # one rule for all output (reconciler/redaction.py)


def _escape(text: str) -> str:
    # Slack mrkdwn gives &, < and > a meaning; escaped, a plan line cannot become a link or mention.
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def payload(alert: Alert, secrets: Sequence[str] = ()) -> dict[str, Any]:
    icon = _ICONS.get(alert.event, ":warning:")
    title = _title(alert, secrets)
    summary = mask(alert.summary, secrets)
    details = [mask(line, secrets) for line in alert.details]
    if len(details) > _MAX_DETAIL_LINES:
        more = _("… and {count} more line(s) in the run's log").format(count=len(details) - _MAX_DETAIL_LINES)
        details = details[:_MAX_DETAIL_LINES] + [more]
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(title, _HEADER_LIMIT)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_escape(summary), _SECTION_LIMIT)}},
    ]
    if details:
        body = _cut(_escape("\n".join(details)), _SECTION_LIMIT - 8)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": f"```\n{body}\n```"}})
    context = [_escape(mask(fact, secrets)) for fact in alert.context]
    if alert.link:
        run = _("CI run")
        context.insert(0, f"<{alert.link}|{run}>")
    if context:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": " · ".join(context)}]})
    text = f"{icon} {title}: {summary}" + (f" ({alert.link})" if alert.link else "")
    return {"text": text, "blocks": blocks}


def robot_payload(fmt: str, alert: Alert, secrets: Sequence[str] = ()) -> dict[str, Any]:
    """The alert as the `fmt` robot's markdown message (dingtalk, feishu, wecom), masked, then
    cut by whole lines to the robot's limit."""
    # Feishu's lark_md and WeCom's markdown take HTML-like tags (<at id=all></at>, <@userid>, <font>):
    # escaped, a plan or log line cannot mention the whole group or restyle the message.
    def clean(text: str) -> str:
        text = mask(text, secrets)
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;") if fmt in ("feishu", "wecom") else text

    title = _title(alert, secrets)
    run = _("CI run")
    run_link = f"[{run}]({alert.link})" if alert.link else None
    footer = " · ".join([*([run_link] if run_link else []), *(clean(f) for f in alert.context)])
    text = markdown_text(clean(title), clean(alert.summary), [clean(line) for line in alert.details],
                         footer, TEXT_LIMITS[fmt])
    return robot_body(fmt, title, text)


def send_alert(url: str, alert: Alert, secrets: Sequence[str] = (),
               settings: WebhookSettings | None = None) -> str | None:
    """POST the alert in the shape its robot takes; None when delivered, else a line that names
    neither URL nor secret."""
    settings = settings or WebhookSettings()
    fmt = detect_format(url, settings.format)
    hidden = [*secrets, *([settings.secret] if settings.secret else [])]
    body = payload(alert, hidden) if fmt in ("slack", "generic") else robot_payload(fmt, alert, hidden)
    return deliver(url, fmt, body, settings, event_words(alert.event), hidden)
