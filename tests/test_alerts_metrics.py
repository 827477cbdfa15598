"""Alerts reach a webhook (a loopback HTTP server here) on apply failure, guardrail block and
drift, as Slack-compatible JSON without secrets; each run's Prometheus metrics parse with
prometheus-client's own parser, in a file and pushed to a (loopback) Pushgateway."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.alerts import Alert, payload
from reconciler.sandbox.server import DEMO_APP_SECRET, DEMO_SESSION
from tests.conftest import Sandbox, Workspace
from tests.test_e2e_item_pool import ADD, CREATE, _sandbox_call, pool
from tests.test_e2e_plan_apply import _many

QUERY_ITEMS = "alibaba.wdk.marketing.itempool.queryitems"

COUPON = """\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata:
  name: welcome-5-off-49
  shop: demo-shop
spec:
  denomination: "5.00"
  order_at_least: "49.00"
  window: {start: "2027-01-01T00:00:00+08:00", end: "2027-03-31T23:59:59+08:00"}
"""


@dataclass
class Receiver:
    """Records every request: a chat webhook or a Pushgateway."""

    url: str
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)
    status: int = 200
    answer: bytes = b"ok"

    def alerts(self) -> list[dict[str, Any]]:
        return [json.loads(body) for verb, _, body in self.requests if verb == "POST"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box = Receiver(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            box.requests.append((self.command, self.path, body))
            self.send_response(box.status)
            self.send_header("Content-Length", str(len(box.answer)))
            self.end_headers()
            self.wfile.write(box.answer)

        do_POST = do_PUT = _record

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    box.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/T000/B000/secret-hook-token"
    try:
        yield box
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _faults(sandbox: Sandbox, faults: dict[str, Any]) -> None:
    httpx.post(f"{sandbox.server.url}/_sandbox/faults", json=faults).raise_for_status()


def _metrics(path: Path) -> dict[str, list[Any]]:
    families = text_string_to_metric_families(path.read_text(encoding="utf-8"))
    return {family.name: family.samples for family in families}


def _value(samples: list[Any], name: str, **labels: str) -> float:
    matching = [s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())]
    assert matching, f"no {name} sample with {labels}: {samples}"
    return float(sum(matching))


def _assert_no_secrets(receiver: Receiver) -> None:
    for _, _, body in receiver.requests:
        text = body.decode("utf-8")
        for secret in (DEMO_APP_SECRET, DEMO_SESSION, "secret-hook-token"):
            assert secret not in text


# ---- alerts -----------------------------------------------------------------------------------


def test_failed_apply_alerts_with_what_failed_and_no_secrets(
    workspace: Workspace, sandbox: Sandbox, receiver: Receiver
) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    _faults(sandbox, {"error_rate": {ADD: 1.0}})
    workspace.env["RECONCILER_WEBHOOK_URL"] = receiver.url
    workspace.env.update({"GITHUB_SERVER_URL": "https://github.com", "GITHUB_REPOSITORY": "shop/campaigns",
                          "GITHUB_RUN_ID": "42", "GITHUB_SHA": "0123456789abcdef0123"})
    failed = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert failed.exit_code == 1

    [alert] = receiver.alerts()
    assert set(alert) == {"text", "blocks"}
    assert "campaign-reconciler: apply failed" in alert["text"]
    assert "https://github.com/shop/campaigns/actions/runs/42" in alert["text"]
    body = json.dumps(alert, ensure_ascii=False)
    assert "1 change(s) done, 1 failed" in body or "0 change(s) done, 1 failed" in body
    assert "FAILED demo-shop/ItemPoolActivity/fresh" in body
    assert [block["type"] for block in alert["blocks"]][:2] == ["header", "section"]
    _assert_no_secrets(receiver)
    assert "secret-hook-token" not in failed.output


def test_guardrail_block_alerts_from_plan(workspace: Workspace, sandbox: Sandbox, receiver: Receiver) -> None:
    workspace.write("pools.yaml", _many(10))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", _many(10, decrease="15.00"))  # 4 of 10 replaced: above 30 %
    blocked = workspace.run("plan", str(workspace.campaigns), "--webhook-url", receiver.url)
    assert blocked.exit_code == 1

    [alert] = receiver.alerts()
    assert "guardrail block" in alert["text"]
    assert "above the 30% threshold" in json.dumps(alert, ensure_ascii=False)


def test_drift_alerts_and_a_clean_run_does_not(workspace: Workspace, sandbox: Sandbox, receiver: Receiver) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    workspace.env["RECONCILER_WEBHOOK_URL"] = receiver.url
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert workspace.run("drift", str(workspace.campaigns)).exit_code == 0
    assert receiver.alerts() == []  # success and no drift: silence

    activity_id = json.loads(workspace.run("state", "show", "demo-shop/ItemPoolActivity/fresh").output)["remote_id"]
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "7777"}, "param1": {"activity_id": int(activity_id)}})
    assert workspace.run("drift", str(workspace.campaigns)).exit_code == 2
    [alert] = receiver.alerts()
    assert "campaign-reconciler: drift" in alert["text"]
    assert "demo-shop/ItemPoolActivity/fresh" in json.dumps(alert, ensure_ascii=False)
    _assert_no_secrets(receiver)


def test_broken_webhook_warns_without_the_url_and_keeps_the_exit_code(
    workspace: Workspace, sandbox: Sandbox, receiver: Receiver
) -> None:
    receiver.status = 500
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    _faults(sandbox, {"error_rate": {CREATE: 1.0}})
    workspace.env.update(RECONCILER_WEBHOOK_BACKOFF="0.01", RECONCILER_WEBHOOK_ATTEMPTS="2")
    failed = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--webhook-url", receiver.url)
    assert failed.exit_code == 1  # the apply's own result, not the alert's
    assert ("warning: alert NOT delivered: could not deliver the apply failed alert to the generic webhook "
            "after 2 attempt(s): HTTP 500") in failed.output
    assert len(receiver.alerts()) == 2  # a 500 is retried
    assert receiver.url not in failed.output and "secret-hook-token" not in failed.output


def test_a_refused_robot_alert_after_apply_keeps_the_apply_result(
    workspace: Workspace, sandbox: Sandbox, receiver: Receiver
) -> None:
    """A successful run stays successful and a failed one failed when the robot says no (here a
    DingTalk-shaped refusal in an HTTP 200 answer, which a status check alone would call delivered)."""
    receiver.answer = b'{"errcode":310000,"errmsg":"sign not match"}'
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    _faults(sandbox, {"error_rate": {CREATE: 1.0}})
    workspace.env.update(RECONCILER_WEBHOOK_FORMAT="dingtalk", RECONCILER_WEBHOOK_SECRET="SECsigning-secret-canary-99")
    failed = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--webhook-url", receiver.url)
    assert failed.exit_code == 1
    assert "FAILED demo-shop/ItemPoolActivity/fresh" in failed.output
    assert ("warning: alert NOT delivered: the dingtalk webhook refused the apply failed alert: "
            "error code 310000: sign not match") in failed.output
    [alert] = receiver.alerts()
    assert alert["msgtype"] == "markdown" and "apply failed" in alert["markdown"]["title"]
    assert "SECsigning-secret-canary-99" not in failed.output
    assert all(b"SECsigning-secret-canary-99" not in body for _, _, body in receiver.requests)


def test_payload_escapes_markup_and_masks_secrets() -> None:
    alert = Alert(event="apply failed", summary="<!channel> & s3cret", details=("x" * 10,) * 100)
    body = payload(alert, secrets=["s3cret"])
    assert "&lt;!channel&gt; &amp; ***" in body["blocks"][1]["text"]["text"]
    assert "more line(s)" in body["blocks"][2]["text"]["text"]
    assert "s3cret" not in json.dumps(body)


# ---- metrics ----------------------------------------------------------------------------------


def test_apply_metrics_file_parses(workspace: Workspace, sandbox: Sandbox, tmp_path: Path) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002"]))
    workspace.write("coupons.yaml", COUPON)
    metrics_file = tmp_path / "textfile" / "reconciler-apply.prom"
    metrics_file.parent.mkdir()
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--metrics-file", str(metrics_file))
    assert applied.exit_code == 0, applied.output

    samples = _metrics(metrics_file)
    calls = samples["reconciler_top_calls"]
    assert _value(calls, "reconciler_top_calls_total", shop="demo-shop", method=CREATE, outcome="ok") == 1
    assert _value(calls, "reconciler_top_calls_total", method=ADD, outcome="ok") == 2
    assert _value(samples["reconciler_run_exit_code"], "reconciler_run_exit_code", command="apply") == 0
    assert _value(samples["reconciler_run_duration_seconds"], "reconciler_run_duration_seconds", command="apply") > 0
    assert _value(samples["reconciler_planned_changes"], "reconciler_planned_changes", shop="demo-shop", action="create") == 2
    assert _value(samples["reconciler_applied_changes"], "reconciler_applied_changes", shop="demo-shop", outcome="done") == 2
    assert _value(samples["reconciler_valid_coupons"], "reconciler_valid_coupons", shop="demo-shop") == 1
    assert _value(samples["reconciler_valid_coupons_left"], "reconciler_valid_coupons_left", shop="demo-shop") == 49


def test_retries_and_failures_are_counted(workspace: Workspace, sandbox: Sandbox, tmp_path: Path) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    _faults(sandbox, {"error_rate": {QUERY_ITEMS: 1.0}})
    workspace.env.update({"TOP_RETRY_ATTEMPTS": "3", "TOP_RETRY_BACKOFF": "0.01", "TOP_RETRY_MAX_BACKOFF": "0.01"})
    metrics_file = tmp_path / "plan.prom"
    failed = workspace.run("plan", str(workspace.campaigns), "--metrics-file", str(metrics_file))
    assert failed.exit_code == 1

    samples = _metrics(metrics_file)
    assert _value(samples["reconciler_top_retries"], "reconciler_top_retries_total", method=QUERY_ITEMS) == 2
    assert _value(samples["reconciler_top_calls"], "reconciler_top_calls_total", method=QUERY_ITEMS, outcome="failed") == 1
    assert _value(samples["reconciler_run_exit_code"], "reconciler_run_exit_code", command="plan") == 1
    assert "retrying" not in failed.output  # counted, not printed: the log level was not changed


def test_drift_metrics_pushed_to_a_pushgateway(workspace: Workspace, sandbox: Sandbox, receiver: Receiver) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    gateway = receiver.url.split("/hooks/")[0]
    checked = workspace.run("drift", str(workspace.campaigns), "--pushgateway", gateway)
    assert checked.exit_code == 0, checked.output

    [(verb, path, body)] = receiver.requests
    assert (verb, path) == ("PUT", "/metrics/job/campaign_reconciler/command/drift")
    families = {f.name: f.samples for f in text_string_to_metric_families(body.decode("utf-8"))}
    assert _value(families["reconciler_drifted_objects"], "reconciler_drifted_objects", shop="demo-shop") == 0


def test_each_shard_and_shop_pushes_its_own_pushgateway_group(
    workspace: Workspace, sandbox: Sandbox, receiver: Receiver
) -> None:
    """A push replaces its whole group: the shards of one plan (a CI matrix, an Indexed Job) must
    each have their own, or the last one to finish erases the others (issue 20.5)."""
    gateway = receiver.url.split("/hooks/")[0]
    for args in (["--shard", "0/1"], ["--shop", "demo-shop"]):
        planned = workspace.run("plan", str(workspace.campaigns), "--pushgateway", gateway, *args)
        assert planned.exit_code == 0, planned.output
    paths = [path for _, path, _ in receiver.requests]
    # prometheus-client writes a value holding a slash as base64 ("0/1" -> MC8x) with an @base64 name
    assert paths == ["/metrics/job/campaign_reconciler/command/plan/shard@base64/MC8x",
                     "/metrics/job/campaign_reconciler/command/plan/shops/demo-shop"]
