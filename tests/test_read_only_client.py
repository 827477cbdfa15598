"""The plan job can never write: a read-only TopClient refuses every write method before anything
reaches the network, and the commands a pull request runs (plan, validate, render, and price /
drift where they exist) leave no write in the sandbox's call log, however much the manifests want
to change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import cli
from reconciler.errors import ReadOnlyViolation
from reconciler.sandbox.server import DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, SandboxServer
from reconciler.top import READ_METHODS, Credentials, TopClient, is_write
from tests.conftest import Sandbox, Workspace

CATALOGUE = Path(__file__).resolve().parents[2] / "shared" / "top-api" / "methods"
# Token calls change no shop (a read-only run may refresh its own token), so they are neither here.
AUTH_METHODS = {"taobao.top.auth.token.create", "taobao.top.auth.token.refresh"}


def catalogue_methods() -> list[str]:
    if not CATALOGUE.is_dir():
        return []
    return sorted(path.stem for path in CATALOGUE.glob("*.json"))


def shop_writes() -> list[str]:
    """Methods that change a shop, decided by the sandbox's own method table (code the client does
    not share), and for methods the sandbox does not emulate by name: anything not a get/query/report."""
    server = SandboxServer(port=0)
    try:
        emulated = {name: spec.writes for name, spec in server.dispatcher.methods.items()}
    finally:
        server.stop()
    reads_by_name = (".get", ".report", ".optional")
    writes = []
    for name in catalogue_methods():
        if name in AUTH_METHODS:
            continue
        if emulated.get(name, not (name.endswith(reads_by_name) or ".query" in name)):
            writes.append(name)
    return writes


WRITES = shop_writes()


def read_only_client(sandbox: Sandbox) -> TopClient:
    credentials = Credentials(DEMO_APP_KEY, DEMO_APP_SECRET, DEMO_SESSION, sandbox.gateway)
    return TopClient(credentials, read_only=True)


def test_the_catalogue_has_writes_to_refuse() -> None:
    if not WRITES:
        pytest.skip("shared method catalogue not present")
    assert len(WRITES) >= 20
    assert "alibaba.wdk.marketing.itempool.activity.create" in WRITES
    assert not set(WRITES) & READ_METHODS


@pytest.mark.parametrize("method", WRITES)
def test_every_write_method_is_refused_before_the_network(sandbox: Sandbox, method: str) -> None:
    assert is_write(method)
    with read_only_client(sandbox) as client:
        with pytest.raises(ReadOnlyViolation) as refused:
            client.call(method, {"param": {"activity_id": 1}, "num_iid": 1})
        assert client.stats.writes == 0 and client.stats.reads == 0
    assert method in str(refused.value) and "read-only" in str(refused.value)
    assert sandbox.calls() == []  # not even a refused request reached TOP


def test_a_read_through_the_read_only_client_does_reach_the_sandbox(sandbox: Sandbox) -> None:
    """The call log sees what is sent, so an empty log above means nothing was sent."""
    with read_only_client(sandbox) as client:
        client.call("taobao.time.get")
    assert [call["method"] for call in sandbox.calls()] == ["taobao.time.get"]


# ---- the commands a pull request runs ------------------------------------------------------------

VARS = """\
first: {first}
count: {count}
decrease: "{decrease}"
"""

POOLS = """\
{% for n in range(first, first + count) %}
---
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata:
  name: pool-{{ n }}
  shop: demo-shop
spec:
  title: pool {{ n }}
  description: read-only test
  window: {start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}
  shop_ids: ["1001"]
  terminals: [app]
  stairs:
    - when: {amount_at_least: "30.00"}
      discount: {decrease: "{{ decrease }}"}
  items:
{% for sku in range(n, n + 2) %}
    - {sku: "{{ 1000 + sku }}"}
{% endfor %}
{% endfor %}
"""


def test_plan_never_writes_even_when_the_manifests_want_many_changes(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml.j2", POOLS)
    workspace.write("vars.yaml", VARS.format(first=0, count=8, decrease="12.00"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0

    # now: three pools gone, three new, and every remaining one with a different stair
    workspace.write("vars.yaml", VARS.format(first=2, count=8, decrease="15.00"))
    sandbox.clear_calls()
    args = (str(workspace.campaigns), "--prune", "--force")
    planned = workspace.run("plan", *args, "--json")
    assert planned.exit_code == 0, planned.output
    summary = json.loads(planned.stdout[: planned.stdout.rindex("}") + 1])["summary"]
    assert (summary["create"], summary["replace"], summary["delete"]) == (2, 6, 2)
    assert summary["write_calls"] > 25

    assert workspace.run("plan", *args, "--detailed-exitcode").exit_code == 2
    calls = sandbox.calls()
    assert calls and sandbox.writes() == []
    assert {call["method"] for call in calls} <= READ_METHODS


@pytest.mark.parametrize("command", ["validate", "render"])
def test_validate_and_render_call_nothing(workspace: Workspace, sandbox: Sandbox, command: str) -> None:
    workspace.write("pools.yaml.j2", POOLS)
    workspace.write("vars.yaml", VARS.format(first=0, count=5, decrease="12.00"))
    result = workspace.run(command, str(workspace.campaigns))
    assert result.exit_code == 0, result.output
    assert sandbox.calls() == []


@pytest.mark.parametrize("command", ["price", "drift"])
def test_other_review_commands_never_write(workspace: Workspace, sandbox: Sandbox, command: str) -> None:
    if command not in cli.commands:
        pytest.skip(f"`reconciler {command}` does not exist yet")
    workspace.write("pools.yaml.j2", POOLS)
    workspace.write("vars.yaml", VARS.format(first=0, count=5, decrease="12.00"))
    workspace.run(command, str(workspace.campaigns))
    assert sandbox.writes() == []


# ---- credentials go only to TOP ------------------------------------------------------------------

ATTACKER_SHOP = """\
apiVersion: campaigns/v1
kind: Shop
metadata: {name: demo-shop}
spec:
  gateway: https://collector.invalid/router/rest
  env: {gateway: TOP_NOT_SET_IN_CI}
"""


def test_a_pull_request_cannot_point_the_plan_job_at_another_gateway(workspace: Workspace, sandbox: Sandbox) -> None:
    """The session travels with every call: a Shop profile from a pull request must not choose
    where it goes. Only TOP's gateways, loopback (the sandbox), or a gateway from the environment."""
    workspace.write("shops.yaml", ATTACKER_SHOP)
    workspace.write("pools.yaml.j2", POOLS)
    workspace.write("vars.yaml", VARS.format(first=0, count=1, decrease="12.00"))
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "refusing to send credentials to https://collector.invalid/router/rest" in result.output
    assert "TOP_NOT_SET_IN_CI" in result.output and "Traceback" not in result.output
    assert DEMO_SESSION not in result.output

    workspace.env["TOP_NOT_SET_IN_CI"] = sandbox.gateway  # a gateway from the environment is trusted
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 2


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("https://gw.api.taobao.com/router/rest", True),
        ("https://eco.taobao.com/router/rest", True),
        ("https://api.taobao.com/router/rest", True),
        ("http://127.0.0.1:8999/router/rest", True),
        ("http://localhost:8999/router/rest", True),
        ("http://gw.api.taobao.com/router/rest", False),  # the session would cross the network in clear
        ("https://gw.api.taobao.com.collector.example/router/rest", False),
        ("https://user:pw@gw.api.taobao.com/router/rest", False),
        ("https://collector.example/router/rest", False),
    ],
)
def test_gateways_a_manifest_may_name(url: str, allowed: bool) -> None:
    from reconciler.top.gateways import manifest_gateway_allowed

    assert manifest_gateway_allowed(url) is allowed
