"""The operator, not the manifest, chooses the variables that hold credentials and the gateway
(reconciler/top/env_names.py; issue 16, point 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.sandbox.server import DEMO_SESSION
from tests.conftest import REPO, Sandbox, Workspace
from tests.test_e2e_item_pool import pool

SHOPS = (REPO / "campaigns" / "shops.yaml").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("field", "replace", "by"),
    [
        ("spec.env.gateway", "gateway: TOP_GATEWAY", "gateway: RECONCILER_WEBHOOK_URL"),
        ("spec.env.app_key", "app_key: TOP_APP_KEY", "app_key: RECONCILER_STATE"),
        ("spec.env.session", "session: TOP_SESSION", "session: GITHUB_TOKEN"),
        ("spec.taoke.env.app_secret", "app_secret: ALIMAMA_APP_SECRET", "app_secret: ACTIONS_RUNTIME_TOKEN"),
    ],
)
def test_a_profile_may_name_only_the_operators_variables(
    workspace: Workspace, sandbox: Sandbox, field: str, replace: str, by: str
) -> None:
    assert replace in SHOPS
    workspace.write("shops.yaml", SHOPS.replace(replace, by))
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    workspace.env["RECONCILER_WEBHOOK_URL"] = sandbox.gateway  # a variable CI holds for another purpose
    for command in ("plan", "drift", "apply"):
        args = [command, str(workspace.campaigns)] + (["--auto-approve"] if command == "apply" else [])
        result = workspace.run(*args)
        assert result.exit_code == 1, result.output
        assert f"{field} names the environment variable {by.split(': ')[1]}, which does not start with TOP_ or ALIMAMA_" \
            in result.output
        assert DEMO_SESSION not in result.output
    assert sandbox.calls() == []


def test_the_operator_sets_the_prefixes(workspace: Workspace, sandbox: Sandbox) -> None:
    renamed = SHOPS.replace(": TOP_", ": SHOP1_").replace(": ALIMAMA_", ": SHOP1_TAOKE_")
    workspace.write("shops.yaml", renamed)
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    for name in ("GATEWAY", "APP_KEY", "APP_SECRET", "SESSION"):
        workspace.env[f"SHOP1_{name}"] = workspace.env[f"TOP_{name}"]
    for name in ("APP_KEY", "APP_SECRET"):
        workspace.env[f"SHOP1_TAOKE_{name}"] = workspace.env[f"ALIMAMA_{name}"]
    refused = workspace.run("plan", str(workspace.campaigns))
    assert refused.exit_code == 1 and "does not start with TOP_ or ALIMAMA_" in refused.output
    workspace.env["RECONCILER_ENV_PREFIX"] = "SHOP1_"
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 2


@pytest.mark.parametrize("command", ["plan", "drift", "price"])
def test_read_only_runs_use_only_tops_gateways_whatever_the_source(
    workspace: Workspace, sandbox: Sandbox, command: str, tmp_path: Path
) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    if command == "drift":  # drift reads only what was applied: apply something first
        assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.env["TOP_GATEWAY"] = "https://collector.invalid/router/rest"
    result = workspace.run(command, str(workspace.campaigns))
    assert result.exit_code == 1, result.output
    assert "a read-only run (plan, drift, price, import) sends credentials only to TOP's gateways" in result.output
    assert DEMO_SESSION not in result.output and "Traceback" not in result.output
