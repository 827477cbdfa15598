"""`reconciler drift`: what changed on TOP that nobody planned is reported (exit 2); what changed
in git or is merely pending is not drift; drift never writes."""

from __future__ import annotations

import json

import httpx

from tests.conftest import Sandbox, Workspace
from tests.test_e2e_item_pool import ADD, DELETE, _sandbox_call, pool


def _activity_id(workspace: Workspace, name: str) -> int:
    return int(json.loads(workspace.run("state", "show", f"demo-shop/ItemPoolActivity/{name}").output)["remote_id"])


def _applied(workspace: Workspace, text: str) -> None:
    workspace.write("pools.yaml", text)
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output


def test_no_drift_right_after_apply(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied(workspace, pool("fresh", skus=["1001", "1002"]) + "---\n" + pool("dairy", skus=["2001"]))
    sandbox.clear_calls()
    checked = workspace.run("drift", str(workspace.campaigns))
    assert checked.exit_code == 0, checked.output
    assert "No drift: TOP matches what was last applied for 2 object(s)" in checked.output
    assert sandbox.writes() == []


def test_console_change_is_reported_with_exit_2_and_nothing_written(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied(workspace, pool("fresh", skus=["1001", "1002"]) + "---\n" + pool("dairy", skus=["2001"]))
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "7777"}, "param1": {"activity_id": _activity_id(workspace, "fresh")}})
    sandbox.clear_calls()

    checked = workspace.run("drift", str(workspace.campaigns))
    assert checked.exit_code == 2, checked.output
    assert "Drift: 1 managed object(s) on TOP differ from what was last applied" in checked.output
    assert "demo-shop/ItemPoolActivity/fresh" in checked.output
    assert "+ item 7777 (added on TOP)" in checked.output  # what happened on TOP, in that direction
    assert "dairy" not in checked.output.split("Drift in")[0].split("differ")[1]  # only the drifted one is listed
    assert sandbox.writes() == []


def test_activity_deleted_on_top_is_drift(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied(workspace, pool("fresh", skus=["1001"]))
    _sandbox_call(workspace, DELETE, {"param": {"activity_id": _activity_id(workspace, "fresh")}})
    checked = workspace.run("drift", str(workspace.campaigns), "--json")
    assert checked.exit_code == 2, checked.output
    report = json.loads(checked.stdout)
    assert [(d["address"], d["action"]) for d in report["drift"]] == [("demo-shop/ItemPoolActivity/fresh", "create")]
    assert "gone on TOP" in report["drift"][0]["reason"]
    assert report["checked"] == 1 and report["not_checked"] == []


def test_a_change_made_in_git_is_pending_not_drift(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied(workspace, pool("fresh", skus=["1001", "1002"]))
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002", "1003"]))  # merged, not yet applied
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 2
    checked = workspace.run("drift", str(workspace.campaigns))
    assert checked.exit_code == 0, checked.output


def test_apply_puts_drift_back_and_drift_clears(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied(workspace, pool("fresh", skus=["1001", "1002"]))
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "7777"}, "param1": {"activity_id": _activity_id(workspace, "fresh")}})
    assert workspace.run("drift", str(workspace.campaigns)).exit_code == 2
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert workspace.run("drift", str(workspace.campaigns)).exit_code == 0


def test_objects_without_a_recorded_baseline_are_listed_not_checked(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied(workspace, pool("fresh", skus=["1001"]))
    activity_id = _activity_id(workspace, "fresh")
    assert workspace.run("state", "rm", "demo-shop/ItemPoolActivity/fresh").exit_code == 0
    imported = workspace.run("import", "ItemPoolActivity", "fresh", str(activity_id), str(workspace.campaigns))
    assert imported.exit_code == 0, imported.output

    checked = workspace.run("drift", str(workspace.campaigns))
    assert checked.exit_code == 0, checked.output
    assert "not checked: demo-shop/ItemPoolActivity/fresh has no applied spec recorded yet" in checked.output


def test_failed_change_keeps_its_old_baseline(workspace: Workspace, sandbox: Sandbox) -> None:
    _applied(workspace, pool("fresh", skus=["1001"]))
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002"]))
    _set_faults(sandbox, {"error_rate": {ADD: 1.0}})
    failed = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert failed.exit_code == 1, failed.output
    _set_faults(sandbox, {})
    # The baseline is still the one-item pool TOP really has, so nothing drifted.
    assert workspace.run("drift", str(workspace.campaigns)).exit_code == 0


def _set_faults(sandbox: Sandbox, faults: dict[str, object]) -> None:
    httpx.post(f"{sandbox.server.url}/_sandbox/faults", json=faults).raise_for_status()
