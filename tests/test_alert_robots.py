"""Alerts reach DingTalk, Feishu, WeCom and Slack robots: loopback receivers play each robot as its
page describes it (reconciler/webhooks.py cites them) - they check the signature (加签) with their
own copy of the secret, and answer success, refusal, rate limit and signature mismatch in the
robot's own body shape. `reconciler alert` must deliver, retry what is transient, and fail loudly
(exit 1, a clear stderr line) on a refusal; a run's alert failure never changes the run's exit."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner, Result

from reconciler.cli import cli
from reconciler.webhooks import detect_format, webhook_settings

SECRET = "SECcanary-webhook-secret-0451"  # a canary: must never be printed nor sent
HOOK_TOKEN = "access-token-canary-7702"  # the URL's credential: never printed either

# Each robot's answers, in the shapes its page shows.
ANSWERS: dict[str, dict[str, tuple[int, Any]]] = {
    "dingtalk": {
        "ok": (200, {"errcode": 0, "errmsg": "ok"}),
        "refuse": (200, {"errcode": 310000, "errmsg": "keywords not in content"}),
        "busy": (200, {"errcode": 130101, "errmsg": "send too fast, exceed 20 times per minute"}),
        "bad_sign": (200, {"errcode": 310000, "errmsg": "sign not match"}),
    },
    "feishu": {
        "ok": (200, {"code": 0, "msg": "success", "data": {}, "Extra": None, "StatusCode": 0,
                     "StatusMessage": "success"}),
        "refuse": (200, {"code": 19024, "msg": "Key Words Not Found"}),
        "busy": (200, {"code": 11232, "msg": "frequency limited"}),
        "bad_sign": (200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour from current time"}),
    },
    "wecom": {
        "ok": (200, {"errcode": 0, "errmsg": "ok"}),
        "refuse": (200, {"errcode": 93000, "errmsg": "invalid webhook url"}),
        "busy": (200, {"errcode": 45009, "errmsg": "api freq out of limit"}),
    },
    "slack": {
        "ok": (200, "ok"),
        "refuse": (404, "no_service"),
        "busy": (429, "rate_limited"),
    },
}


@dataclass
class Robot:
    """One loopback robot: records requests, verifies signatures, answers from a script."""

    kind: str
    secret: str | None = None  # the robot's copy of the signing secret (None: signing off)
    script: list[str] = field(default_factory=list)  # answers to give in order; then "ok"
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)  # (path+query, body)
    url: str = ""

    def answer(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        self.requests.append((path, body))
        if self.secret is not None and not self.signature_ok(path, body):
            return ANSWERS[self.kind]["bad_sign"]
        return ANSWERS[self.kind][self.script.pop(0) if self.script else "ok"]

    def signature_ok(self, path: str, body: dict[str, Any]) -> bool:
        assert self.secret is not None
        if self.kind == "dingtalk":  # query timestamp (ms) and sign; HMAC keyed with the secret
            query = parse_qs(urlsplit(path).query)
            if "timestamp" not in query or "sign" not in query:
                return False
            timestamp = query["timestamp"][0]
            if abs(int(timestamp) - time.time() * 1000) > 3600_000:
                return False
            mac = hmac.new(self.secret.encode(), f"{timestamp}\n{self.secret}".encode(), hashlib.sha256)
            return query["sign"][0] == base64.b64encode(mac.digest()).decode()
        if self.kind == "feishu":  # body timestamp (s, a string) and sign; HMAC keyed with ts+"\n"+secret
            timestamp, sign = body.get("timestamp"), body.get("sign")
            if not isinstance(timestamp, str) or abs(int(timestamp) - time.time()) > 3600:
                return False
            mac = hmac.new(f"{timestamp}\n{self.secret}".encode(), b"", hashlib.sha256)
            return sign == base64.b64encode(mac.digest()).decode()
        return True

    def bodies(self) -> list[dict[str, Any]]:
        return [body for _, body in self.requests]


@pytest.fixture
def robots() -> Iterator[dict[str, Robot]]:
    boxes = {kind: Robot(kind) for kind in ANSWERS}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            kind = self.path.strip("/").split("/")[0].split("?")[0]
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, answer = boxes[kind].answer(self.path, json.loads(raw))
            data = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "text/plain" if isinstance(answer, str) else "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    for kind, box in boxes.items():
        box.url = f"http://127.0.0.1:{server.server_address[1]}/{kind}/send?access_token={HOOK_TOKEN}"
    try:
        yield boxes
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _alert(robot: Robot, *args: str, secret: str | None = SECRET, **env: str) -> Result:
    environment = {"RECONCILER_WEBHOOK_URL": robot.url, "RECONCILER_WEBHOOK_FORMAT": robot.kind,
                   "RECONCILER_WEBHOOK_BACKOFF": "0.01", "RECONCILER_WEBHOOK_SECRET": secret or "", **env}
    result = CliRunner().invoke(cli, ["alert", "--title", "apply refused", *args], env=environment,
                                catch_exceptions=False)
    for secret_value in (SECRET, HOOK_TOKEN):  # the canary: never in anything printed
        assert secret_value not in result.output
    for _, body in robot.requests:
        assert SECRET not in json.dumps(body, ensure_ascii=False)
    return result


# ---- format detection -------------------------------------------------------------------------


@pytest.mark.parametrize(("url", "expected"), [
    ("https://oapi.dingtalk.com/robot/send?access_token=x", "dingtalk"),
    ("https://open.feishu.cn/open-apis/bot/v2/hook/x", "feishu"),
    ("https://open.larksuite.com/open-apis/bot/v2/hook/x", "feishu"),
    ("https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=x", "wecom"),
    ("https://hooks.slack.com/services/T/B/x", "slack"),
    ("https://chat.example.com/hooks/x", "generic"),
])
def test_format_from_the_host(url: str, expected: str) -> None:
    assert detect_format(url) == expected
    assert detect_format(url, "wecom") == "wecom"  # RECONCILER_WEBHOOK_FORMAT wins


def test_unknown_format_is_refused(robots: dict[str, Robot]) -> None:
    with pytest.raises(ValueError, match="use one of slack, dingtalk, feishu, wecom, generic"):
        webhook_settings({"RECONCILER_WEBHOOK_FORMAT": "teams"})
    failed = _alert(robots["slack"], RECONCILER_WEBHOOK_FORMAT="teams")
    assert failed.exit_code == 1 and "RECONCILER_WEBHOOK_FORMAT='teams'" in failed.stderr
    assert robots["slack"].requests == []


# ---- each robot: delivered, refused, retried, signature -----------------------------------------


def test_dingtalk_markdown_signed_in_the_query(robots: dict[str, Robot]) -> None:
    robot = robots["dingtalk"]
    robot.secret = SECRET
    sent = _alert(robot, "--text", "main has no reviewed plan; nothing was applied")
    assert sent.exit_code == 0, sent.output
    [(path, body)] = robot.requests
    assert set(parse_qs(urlsplit(path).query)) == {"access_token", "timestamp", "sign"}
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["title"] == "campaign-reconciler: apply refused"
    assert "nothing was applied" in body["markdown"]["text"]


def test_feishu_card_signed_in_the_body(robots: dict[str, Robot]) -> None:
    robot = robots["feishu"]
    robot.secret = SECRET
    sent = _alert(robot, "--text", "main has no reviewed plan")
    assert sent.exit_code == 0, sent.output
    [body] = robot.bodies()
    assert body["msg_type"] == "interactive"
    assert body["card"]["header"]["title"]["content"] == "campaign-reconciler: apply refused"
    assert "main has no reviewed plan" in body["card"]["elements"][0]["text"]["content"]
    assert set(body) == {"msg_type", "card", "timestamp", "sign"}


def test_wecom_and_slack_shapes(robots: dict[str, Robot]) -> None:
    assert _alert(robots["wecom"], "--text", "see the run").exit_code == 0
    [body] = robots["wecom"].bodies()
    assert body["msgtype"] == "markdown" and "see the run" in body["markdown"]["content"]
    assert _alert(robots["slack"], "--text", "see the run", secret=None).exit_code == 0
    [body] = robots["slack"].bodies()
    assert set(body) == {"text", "blocks"} and "apply refused" in body["text"]


@pytest.mark.parametrize("kind", ["dingtalk", "feishu", "wecom", "slack"])
def test_refusal_fails_loudly(robots: dict[str, Robot], kind: str) -> None:
    robot = robots[kind]
    robot.script = ["refuse"]
    failed = _alert(robot, "--text", "x")
    assert failed.exit_code == 1
    assert f"error: alert NOT delivered: the {kind} webhook refused the apply refused alert" in failed.stderr
    assert len(robot.requests) == 1  # a refusal is not retried
    expected = {"dingtalk": "error code 310000", "feishu": "error code 19024", "wecom": "error code 93000",
                "slack": "HTTP 404: no_service"}[kind]
    assert expected in failed.stderr


@pytest.mark.parametrize("kind", ["dingtalk", "feishu", "wecom", "slack"])
def test_rate_limit_then_success_is_retried(robots: dict[str, Robot], kind: str) -> None:
    robot = robots[kind]
    robot.script = ["busy", "busy"]
    sent = _alert(robot, "--text", "x")
    assert sent.exit_code == 0, sent.output
    assert len(robot.requests) == 3


def test_server_errors_exhaust_the_attempts(robots: dict[str, Robot]) -> None:
    robot = robots["wecom"]
    robot.script = ["busy"] * 10
    failed = _alert(robot, "--text", "x", RECONCILER_WEBHOOK_ATTEMPTS="3")
    assert failed.exit_code == 1
    assert "could not deliver the apply refused alert to the wecom webhook after 3 attempt(s)" in failed.stderr
    assert "error code 45009" in failed.stderr and len(robot.requests) == 3


@pytest.mark.parametrize("kind", ["dingtalk", "feishu"])
def test_signature_mismatch_is_refused(robots: dict[str, Robot], kind: str) -> None:
    robot = robots[kind]
    robot.secret = "SECthe-robots-other-secret"
    failed = _alert(robot, "--text", "x")
    assert failed.exit_code == 1
    code = {"dingtalk": "error code 310000: sign not match", "feishu": "error code 19021"}[kind]
    assert code in failed.stderr
    unsigned = _alert(robot, "--text", "x", secret=None)  # no secret configured: no signature sent
    assert unsigned.exit_code == 1 and len(robot.requests) == 2


def test_long_text_is_cut_to_the_robots_limit_by_whole_lines(robots: dict[str, Robot], tmp_path: Path) -> None:
    log = tmp_path / "apply.log"
    log.write_text("".join(f"FAILED 促销 line {n} token={SECRET}\n" for n in range(2000)), encoding="utf-8")
    assert _alert(robots["wecom"], "--text", "apply failed", "--text-file", str(log)).exit_code == 0
    [body] = robots["wecom"].bodies()
    content = body["markdown"]["content"]
    assert len(content.encode("utf-8")) <= 4096  # WeCom: 4096 bytes of markdown
    assert "more line(s) in the run's log" in content
    assert "token=***" in content and SECRET[:8] not in content  # masked before cutting


def test_answer_echoing_the_url_is_masked(robots: dict[str, Robot]) -> None:
    robot = robots["dingtalk"]
    ANSWERS["dingtalk"]["echo"] = (200, {"errcode": 300001, "errmsg": f"token {HOOK_TOKEN} is not exist"})
    try:
        robot.script = ["echo"]
        failed = _alert(robot, "--text", "x")  # _alert asserts the canaries stay out of the output
        assert failed.exit_code == 1 and "error code 300001" in failed.stderr
    finally:
        del ANSWERS["dingtalk"]["echo"]


def test_no_webhook_is_an_error() -> None:
    failed = CliRunner().invoke(cli, ["alert", "--title", "t"], env={"RECONCILER_WEBHOOK_URL": ""})
    assert failed.exit_code == 1 and "no webhook" in failed.stderr


def test_no_secret_in_a_verbose_session(robots: dict[str, Robot], caplog: pytest.LogCaptureFixture) -> None:
    """The canary session (tests/test_no_secrets_in_output.py's way): signed sends, a retry and a
    refusal at -vv, then every byte printed or logged is searched for the secret and the URL's token."""
    caplog.set_level(logging.DEBUG)
    outputs = []
    for kind, script in (("dingtalk", ["busy"]), ("feishu", ["refuse"]), ("wecom", [])):
        robots[kind].secret = SECRET if kind != "wecom" else None
        robots[kind].script = list(script)
        environment = {"RECONCILER_WEBHOOK_URL": robots[kind].url, "RECONCILER_WEBHOOK_SECRET": SECRET,
                       "RECONCILER_WEBHOOK_FORMAT": kind, "RECONCILER_WEBHOOK_BACKOFF": "0.01"}
        outputs.append(CliRunner().invoke(cli, ["-vv", "alert", "--title", "t", "--text", f"key {SECRET}"],
                                          env=environment, catch_exceptions=False))
    assert [result.exit_code for result in outputs] == [0, 1, 0]
    printed = "".join(result.output for result in outputs) + caplog.text
    assert SECRET not in printed and HOOK_TOKEN not in printed
    sent = json.dumps([robot.requests for robot in robots.values()], ensure_ascii=False)
    assert SECRET not in sent and "key ***" in sent


def test_mention_tags_in_lines_are_escaped_for_feishu_and_wecom(robots: dict[str, Robot]) -> None:
    for kind in ("feishu", "wecom"):
        assert _alert(robots[kind], "--text", "ping <at id=all></at> and <@everyone>").exit_code == 0
    feishu = robots["feishu"].bodies()[0]["card"]["elements"][0]["text"]["content"]
    wecom = robots["wecom"].bodies()[0]["markdown"]["content"]
    for content in (feishu, wecom):
        assert "&lt;at id=all&gt;&lt;/at&gt;" in content and "<at" not in content and "<@" not in content


def test_a_huge_summary_is_cut_too(robots: dict[str, Robot]) -> None:
    assert _alert(robots["wecom"], "--text", "促销" * 5000).exit_code == 0
    [body] = robots["wecom"].bodies()
    assert len(body["markdown"]["content"].encode("utf-8")) <= 4096
