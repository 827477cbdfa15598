"""Delivering an alert to the chat robot a team uses: Slack, DingTalk (钉钉), Feishu/Lark (飞书),
WeCom (企业微信), or any Slack-compatible webhook ("generic": Mattermost, Rocket.Chat, bridges).

Each robot has its own message shape, length limit, signing (加签) and way of saying "no": these
robots answer most refusals with HTTP 200 and an error code in the body, so a status below 300
proves nothing. Delivery therefore reads the body, retries what is transient (5xx, 429, timeouts,
the robots' rate-limit codes) with a doubling backoff, and reports anything else as a refusal.

Settings (environment; the CLI passes os.environ):
    RECONCILER_WEBHOOK_FORMAT    slack | dingtalk | feishu | wecom | generic (default: from the URL's host)
    RECONCILER_WEBHOOK_SECRET    the robot's signing secret (DingTalk "SEC…", Feishu); a secret, never printed
    RECONCILER_WEBHOOK_ATTEMPTS  tries per alert (default 4)
    RECONCILER_WEBHOOK_BACKOFF   seconds before the first retry, doubled each time (default 1)

Sources (public pages; cited where the code rests on them):
- DingTalk custom robot, 加签: https://open.dingtalk.com/document/robots/custom-robot-access (as
  reproduced at https://apifox.com/apidoc/docs-site/467052/doc-3550006 and
  https://www.mihaoyun.com/wordpress/?p=391): "timestamp+"\\n"+密钥 as the string to sign, HmacSHA256,
  Base64 encode, then urlEncode"; timestamp in milliseconds, within one hour; both go in the query.
  Limit: 20 messages a minute per robot, else throttled for 10 minutes (same page; quoted in
  github.com/violetpupil/gos api/ding/ding.go). Signature mismatch answers errcode 310000.
- Feishu custom bot, 签名校验: https://open.feishu.cn/document/client-docs/bot-v3/add-custom-bot (as
  reproduced at https://m.down10s.com/jiaocheng/5605312225.html): HmacSHA256 keyed with
  timestamp+"\\n"+secret over an empty message, Base64; timestamp in seconds; both in the body.
  Success is {"code":0,"msg":"success",…,"StatusCode":0} (StatusCode kept "for old logic"; same
  page via http://gantiao.com.cn/post/18861410.html). Rate-limit code 11232 (tenant message
  service, 100/min, 5/s): openclaw/openclaw commit 90c787096 "retry HTTP 429 and code 11232".
- WeCom group robot: https://developer.work.weixin.qq.com/document/path/91770 (as reproduced at
  https://aecore.glodon.com/docs/colibri/api_3_qywxApi.html): markdown content at most 4096 bytes
  UTF-8, 20 messages a minute. 45009 = "接口调用超过限额" (WeChat error codes, e.g.
  github.com/dhssingle/WeChat Enums/ErrorCode.cs). WeCom robots are not signed: the key is the URL.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from reconciler.i18n import _
from reconciler.redaction import redact

FORMATS = ("slack", "dingtalk", "feishu", "wecom", "generic")
SEND_TIMEOUT_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 30.0

# Bytes of message text each robot takes, with room for the JSON around it. WeCom: 4096 bytes of
# markdown (its page). DingTalk and Feishu limit the request (Feishu: 20 KB body, its page; DingTalk:
# 20,000 bytes is the figure widely quoted, not found in the stored pages) - 16 KB of text fits both.
TEXT_LIMITS = {"wecom": 4096, "dingtalk": 16000, "feishu": 16000}

# Body codes that mean "later", not "no" (see the sources above). DingTalk's 130101 ("send too fast")
# is from its error-code page as commonly quoted; not confirmed in the stored pages.
TRANSIENT_CODES = {"dingtalk": {130101}, "wecom": {45009}, "feishu": {11232}}


@dataclass(frozen=True)
class WebhookSettings:
    format: str | None = None  # None: detect from the URL
    secret: str | None = None
    attempts: int = 4
    backoff: float = 1.0


def webhook_settings(env: Mapping[str, str]) -> WebhookSettings:
    """The RECONCILER_WEBHOOK_* settings; an unknown format or a bad number is a ValueError."""
    fmt = (env.get("RECONCILER_WEBHOOK_FORMAT") or "").strip().lower() or None
    if fmt is not None and fmt not in FORMATS:
        raise ValueError(_("RECONCILER_WEBHOOK_FORMAT={value}: use one of {formats}").format(
            value=repr(fmt), formats=", ".join(FORMATS)))
    try:
        attempts = int(env.get("RECONCILER_WEBHOOK_ATTEMPTS") or 4)
        backoff = float(env.get("RECONCILER_WEBHOOK_BACKOFF") or 1.0)
    except ValueError as exc:
        raise ValueError(_("RECONCILER_WEBHOOK_ATTEMPTS / RECONCILER_WEBHOOK_BACKOFF: {error}").format(error=exc)) from None
    return WebhookSettings(fmt, env.get("RECONCILER_WEBHOOK_SECRET") or None, max(1, attempts), max(0.0, backoff))


def detect_format(url: str, configured: str | None = None) -> str:
    if configured:
        return configured
    host = (urlsplit(url).hostname or "").lower()
    if host == "oapi.dingtalk.com":
        return "dingtalk"
    if host in ("open.feishu.cn", "open.larksuite.com"):
        return "feishu"
    if host == "qyapi.weixin.qq.com":
        return "wecom"
    if host == "hooks.slack.com":
        return "slack"
    return "generic"


# ---- message shapes ---------------------------------------------------------------------------


def fit_lines(head: str, lines: Sequence[str], limit: int, note: Callable[[int], str]) -> str:
    """`head` and as many whole lines as fit in `limit` UTF-8 bytes, then a note of how many were
    left out. Lines are cut whole, after masking, so no part of a secret can be left behind."""
    text = head
    for index, line in enumerate(lines):
        rest = len(lines) - index
        candidate = f"{text}\n{line}"
        tail = "" if rest == 1 else "\n" + note(rest - 1)
        if len((candidate + tail).encode("utf-8")) > limit:
            return f"{text}\n{note(rest)}"
        text = candidate
    return text


def cut_bytes(text: str, limit: int) -> str:
    """`text` in at most `limit` UTF-8 bytes (it is already masked: a cut cannot reveal a secret)."""
    data = text.encode("utf-8")
    return text if len(data) <= limit else data[: limit - 3].decode("utf-8", "ignore") + "…"


def markdown_text(title: str, summary: str, details: Sequence[str], footer: str, limit: int) -> str:
    head = f"### {cut_bytes(title, 200)}\n\n{cut_bytes(summary, limit // 2)}\n"
    body = [("  - " if line.startswith("    ") else "- ") + line.strip() for line in details if line.strip()]
    body += ["", footer] if footer else []
    return fit_lines(head, body, limit, lambda n: _("… {count} more line(s) in the run's log").format(count=n))


def robot_body(fmt: str, title: str, text: str) -> dict[str, Any]:
    """The JSON a robot takes for a markdown message (before signing)."""
    if fmt == "dingtalk":  # DingTalk: msgtype markdown, title shows in the notification
        return {"msgtype": "markdown", "markdown": {"title": title, "text": text}}
    if fmt == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": text}}
    if fmt == "feishu":  # an interactive card: header + one lark_md block
        return {"msg_type": "interactive", "card": {
            "config": {"wide_screen_mode": True},
            "header": {"template": "red", "title": {"tag": "plain_text", "content": title}},
            "elements": [{"tag": "div", "text": {"tag": "lark_md", "content": text}}]}}
    raise ValueError(f"no markdown body for {fmt}")


# ---- signing (加签) ---------------------------------------------------------------------------


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """base64(HMAC-SHA256(key=secret, msg=timestamp+"\\n"+secret)); the caller URL-encodes it
    by putting it in the query."""
    digest = hmac.new(secret.encode("utf-8"), f"{timestamp_ms}\n{secret}".encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """base64(HMAC-SHA256(key=timestamp+"\\n"+secret, msg=b""))."""
    digest = hmac.new(f"{timestamp_s}\n{secret}".encode("utf-8"), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def signed(fmt: str, url: str, body: Mapping[str, Any], secret: str | None,
           now: Callable[[], float] = time.time) -> tuple[httpx.URL, dict[str, Any]]:
    """The URL and body of one attempt (signatures carry the time, so each attempt signs anew)."""
    target, payload = httpx.URL(url), dict(body)
    if secret and fmt == "dingtalk":
        timestamp = int(now() * 1000)
        target = target.copy_merge_params({"timestamp": str(timestamp), "sign": dingtalk_sign(secret, timestamp)})
    elif secret and fmt == "feishu":
        timestamp = int(now())
        payload.update(timestamp=str(timestamp), sign=feishu_sign(secret, timestamp))
    return target, payload


# ---- delivery ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    ok: bool
    transient: bool = False
    reason: str = ""


def judge(fmt: str, response: httpx.Response) -> Answer:
    """What the robot said. 5xx and 429 are transient everywhere; the body decides the rest."""
    status = response.status_code
    if status >= 500 or status == 429:
        return Answer(False, True, f"HTTP {status}")
    if fmt in ("dingtalk", "wecom", "feishu"):
        try:
            answer = response.json()
        except ValueError:
            answer = None
        if not isinstance(answer, dict):
            return Answer(False, False, _("HTTP {status}, not a {format} answer").format(status=status, format=fmt))
        # DingTalk/WeCom: errcode/errmsg; Feishu: code/msg, older answers StatusCode/StatusMessage.
        code = answer.get("errcode", answer.get("code", answer.get("StatusCode")))
        message = answer.get("errmsg", answer.get("msg", answer.get("StatusMessage", "")))
        if code == 0 and status < 300:
            return Answer(True)
        if code is None:
            return Answer(False, False, _("HTTP {status}, no error code in the answer").format(status=status))
        # The robot's own code and message stay as it sent them; only our frame is translated.
        return Answer(False, code in TRANSIENT_CODES[fmt],
                      _("error code {code}: {message}").format(code=code, message=str(message)[:200]))
    if status >= 300:
        return Answer(False, False, f"HTTP {status}: {response.text[:200]}".rstrip(": "))
    if fmt == "slack" and response.text.strip() != "ok":  # Slack answers the text "ok", else an error name
        return Answer(False, False, f"HTTP {status}: {response.text[:200]}")
    return Answer(True)


def url_credentials(url: str) -> list[str]:
    """The parts of a webhook URL that are its credential: query values and long path segments
    (DingTalk's access_token, WeCom's key, Slack's and Feishu's hook ids), for when a robot's
    error message quotes one of them alone."""
    parts = urlsplit(url)
    values = [value for _name, value in httpx.URL(url).params.multi_items()]
    values += [segment for segment in parts.path.split("/")]
    return [value for value in values if len(value) >= 16]


def deliver(url: str, fmt: str, body: Mapping[str, Any], settings: WebhookSettings, what: str,
            secrets: Sequence[str] = (), sleep: Callable[[float], None] = time.sleep) -> str | None:
    """POST `body`, retrying transient failures; None when delivered, else one line saying why not.
    The line never holds the URL or the secret (masked again, as robots sometimes echo a request)."""
    hidden = [*secrets, url, *url_credentials(url), *([settings.secret] if settings.secret else [])]
    delay, reason = settings.backoff, ""
    for attempt in range(1, settings.attempts + 1):
        target, payload = signed(fmt, url, body, settings.secret)
        try:
            response = httpx.post(target, content=json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                                  headers={"Content-Type": "application/json; charset=utf-8"},
                                  timeout=SEND_TIMEOUT_SECONDS)
        except httpx.HTTPError as exc:
            answer = Answer(False, True, type(exc).__name__)
        else:
            answer = judge(fmt, response)
        if answer.ok:
            return None
        reason = redact(answer.reason, hidden)
        if not answer.transient:
            return _("the {format} webhook refused the {event} alert: {reason}").format(format=fmt, event=what, reason=reason)
        if attempt < settings.attempts:
            sleep(min(delay, MAX_BACKOFF_SECONDS))
            delay *= 2
    return _("could not deliver the {event} alert to the {format} webhook after {attempts} attempt(s): {reason}").format(
        event=what, format=fmt, attempts=settings.attempts, reason=reason)
