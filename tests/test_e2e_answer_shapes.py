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
