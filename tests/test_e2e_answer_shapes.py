"""The demo shop converges whichever of TOP's two answer shapes the gateway sends.

TOP wraps every list, nested ones too, unless the request says simplify=true (the client's
default); a gateway or proxy that drops the flag must not break a plan. The sandbox answers both
shapes from TOP's shape specs (tests/test_sandbox_shapes_contract.py checks it against the spec
checker in ../shared), so this runs the real client against both: plan, apply, plan again.
"""

from __future__ import annotations

import shutil

import pytest

from tests.conftest import REPO, Sandbox, Workspace
from tests.test_drift import _activity_id
from tests.test_e2e_item_pool import DELETE, _sandbox_call, pool


@pytest.mark.parametrize("simplify", ["true", "false"], ids=["simplified", "wrapped"])
def test_the_demo_shop_converges_in_both_answer_shapes(workspace: Workspace, sandbox: Sandbox, simplify: str) -> None:
    shutil.copytree(REPO / "campaigns", workspace.campaigns, dirs_exist_ok=True)
    workspace.env["TOP_SIMPLIFY"] = simplify
    campaigns = str(workspace.campaigns)

    first = workspace.run("plan", campaigns, "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    applied = workspace.run("apply", campaigns, "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert sandbox.writes(), "the demo shop makes writes"

    sandbox.clear_calls()
    again = workspace.run("plan", campaigns, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "Traceback" not in again.output
    assert sandbox.writes() == []
    # Every item-pool activity was read back with its pool: the reads that crashed on TOP's shape.
    read = {call["method"] for call in sandbox.calls()}
    assert {"alibaba.wdk.marketing.itempool.queryactivity", "alibaba.wdk.marketing.itempool.queryitems"} <= read


@pytest.mark.parametrize("simplify", ["true", "false"], ids=["simplified", "wrapped"])
def test_an_activity_deleted_in_the_console_plans_as_gone(workspace: Workspace, sandbox: Sandbox, simplify: str) -> None:
    """queryactivity refuses an unknown activity (in the body, as the item-pool family does):
    the plan says it is gone and creates it again, in words, never a KeyError."""
    workspace.env["TOP_SIMPLIFY"] = simplify
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    _sandbox_call(workspace, DELETE, {"param": {"activity_id": _activity_id(workspace, "fresh")}})

    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert "Traceback" not in planned.output and "KeyError" not in planned.output
    assert "gone on TOP" in planned.output
