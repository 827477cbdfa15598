"""End to end: manifests → plan → apply against the sandbox over real HTTP, counting TOP calls."""

from __future__ import annotations

import json
from collections import Counter

from tests.conftest import Sandbox, Workspace

CREATE = "alibaba.wdk.marketing.itempool.activity.create"
DELETE = "alibaba.wdk.marketing.itempool.deleteactivity"
ADD = "alibaba.wdk.marketing.itempool.additem"
REMOVE = "alibaba.wdk.marketing.itempool.removeitem"


def pool(name: str = "fresh", decrease: str = "12.00", skus: list[str] | None = None) -> str:
    skus = skus if skus is not None else ["1001", "1002", "1003", "1004"]
    items = "\n".join(f'    - {{sku: "{sku}"}}' for sku in skus)
    return f"""\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata:
  name: {name}
  shop: demo-shop
spec:
  title: 满30减{decrease}
  description: e2e pool
  window: {{start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}}
  shop_ids: ["1001"]
  terminals: [app, pos]
  limits: {{per_user: 20}}
  period: {{weekdays: [mon, fri], daily: ["03:00-05:00"]}}
  stairs:
    - when: {{amount_at_least: "30.00"}}
      discount: {{decrease: "{decrease}"}}
    - when: {{count_at_least: 3}}
      discount: {{rate: 0.6}}
  items:
{items}
"""


def methods(calls: list[dict]) -> Counter[str]:
    return Counter(call["method"] for call in calls)


def test_apply_from_empty_then_plan_shows_no_changes(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh") + "---\n" + pool("dairy", skus=["2001"]))

    first = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert "2 to create" in first.output
    assert sandbox.writes() == []  # plan never writes

    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert methods(sandbox.writes()) == {CREATE: 2, ADD: 5}

    sandbox.clear_calls()
    second = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output
    assert sandbox.writes() == []


def test_wire_units_are_fen_and_permille(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh", decrease="12.50"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    create = next(call for call in sandbox.calls() if call["method"] == CREATE)
    param = json.loads(create["params"]["param"])
    first, second = param["rule_stairs"]
    assert first["amount"] == 3000 and first["is_amount"] is True
    assert first["cover_all_discount_rule"]["cover_all_decrease_money"] == 1250
    assert second["cover_all_discount_rule"]["cover_all_discount_rate"] == 600
    assert param["start_time"] == 1813248000000  # 2027-06-18T00:00:00+08:00 in epoch ms
    assert param["period_config"] == {"weekdays": ["1", "5"], "every_day_periods": ["03:00:00_05:00:00"]}
    assert param["out_act_id"] == "fresh"


def test_changing_one_stair_is_exactly_one_replace(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh") + "---\n" + pool("dairy", skus=["2001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", pool("fresh", decrease="15.00") + "---\n" + pool("dairy", skus=["2001"]))
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns), "--json")
    data = json.loads(planned.stdout)
    assert [(c["name"], c["action"]) for c in data["changes"]] == [("fresh", "replace")]
    assert "cannot update an item-pool activity in place" in data["changes"][0]["reason"]
    # the stair in the seller's words, not wire units (issue 17.3)
    assert "stairs: 满30.00元减12.00元；满3件6折 → 满30.00元减15.00元；满3件6折" in data["changes"][0]["details"]

    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert methods(sandbox.writes()) == {DELETE: 1, CREATE: 1, ADD: 4}
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0


def test_adding_three_and_removing_two_items_is_exactly_five_item_calls(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002", "1003", "1004"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1003", "1005", "1006", "1007"]))
    sandbox.clear_calls()

    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    writes = sandbox.writes()
    assert methods(writes) == {ADD: 3, REMOVE: 2}
    removed = {json.loads(call["params"]["param0"])["sku_code"] for call in writes if call["method"] == REMOVE}
    added = {json.loads(call["params"]["param0"])["sku_code"] for call in writes if call["method"] == ADD}
    assert removed == {"1002", "1004"} and added == {"1005", "1006", "1007"}
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0


def test_item_added_in_the_seller_console_is_removed(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    activity_id = json.loads(workspace.run("state", "show", "demo-shop/ItemPoolActivity/fresh").output)["remote_id"]
    _sandbox_call(workspace, ADD, {"param0": {"sku_code": "9999"}, "param1": {"activity_id": int(activity_id)}})
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns))
    assert "- item 9999" in planned.output
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert methods(sandbox.writes()) == {REMOVE: 1}


def test_activity_deleted_outside_is_created_again(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh", skus=["1001", "1002"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    activity_id = json.loads(workspace.run("state", "show", "demo-shop/ItemPoolActivity/fresh").output)["remote_id"]
    _sandbox_call(workspace, DELETE, {"param": {"activity_id": int(activity_id)}})
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns))
    assert "gone on TOP" in planned.output
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert methods(sandbox.writes()) == {CREATE: 1, ADD: 2}


def test_removed_manifest_is_not_deleted_without_prune(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh") + "---\n" + pool("dairy", skus=["2001"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("pools.yaml", pool("fresh"))
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 0
    assert "would delete" in planned.output and "prune is off" in planned.output
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert sandbox.writes() == []

    pruned = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert methods(sandbox.writes()) == {DELETE: 1}


def test_apply_without_a_terminal_needs_auto_approve(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("pools.yaml", pool("fresh"))
    result = workspace.run("apply", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "--auto-approve" in result.output
    assert sandbox.writes() == []


def _sandbox_call(workspace: Workspace, method: str, params: dict) -> None:
    """A change made 'in the seller console': a direct call, not through the reconciler."""
    from reconciler.top import Credentials, TopClient

    credentials = Credentials(
        workspace.env["TOP_APP_KEY"], workspace.env["TOP_APP_SECRET"], workspace.env["TOP_SESSION"],
        workspace.env["TOP_GATEWAY"],
    )
    with TopClient(credentials) as client:
        client.call(method, params)
