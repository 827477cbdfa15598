"""ItemPoolActivity: every field of the create page from YAML to wire, and an all-fields pool
that converges against the sandbox (so our query_view agrees with what the sandbox answers)."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from reconciler.kinds.base import NormaliseContext
from reconciler.kinds.item_pool import ItemPoolActivity
from reconciler.kinds.item_pool.views import query_view
from reconciler.manifest import load_manifests
from tests.conftest import Sandbox, Workspace

EVERYTHING = """\
apiVersion: campaigns/v1
kind: Shop
metadata: {name: demo-shop}
---
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata: {name: everything, shop: demo-shop}
spec:
  title: 全字段
  description: every field of activity.create
  window: {start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}
  shop_ids: ["1001", "1002"]
  terminals: [pos, app]
  members: non_members
  crowd: {merchant: OLD_USER, txd: "~OLD_USER"}
  period: {weekdays: [sun, mon], daily: ["03:00-05:00", "20:00:30-22:00:00"]}
  limits: {per_user_daily: 2, per_user: 5, total: 100, daily: 50}
  priority: 10
  exclude_special_price: true
  combined: false
  category: false
  channels: [taoxianda, eleme, jddj, meituan]
  rule: {ceiling: "200.00", multi_stair_stack: false, item_overlay: true, no_ceiling: false,
         check_all_conditions: true, depreciable: false}
  logic_groups:
    - {number: 1, type: normal, when: {count_at_least: 2}, ratio: 50, effective: true}
    - {number: 2, type: exchange, extra_items: 2, exchange_name: 换购区, exchange_order: 1,
       discount: {fix_price: "3.00"}}
    - {number: 3, type: gift}
  stairs:
    - when: {amount_at_least: "30.00"}
      discount: {cap_count: {each_fix_price: "9.90"}}
    - when: {count_at_least: 3}
      overlay_group_condition: true
      discount: {nth: {rate: 0.55}}
    - when: {amount_at_least: "99.99"}
      discount: {fix_price: "59.00"}
  items:
    - {sku: A1, group: 1, fix_price: "0.29"}
    - {sku: A2, group: 1, rate: 0.955}
    - {sku: B1, group: 2, decrease: "2"}
    - {sku: C1}
"""


def _normalised(tmp_path: Path):
    path = tmp_path / "all.yaml"
    path.write_text(EVERYTHING, encoding="utf-8")
    doc = next(d for d in load_manifests([str(path)]).documents if d.kind == "ItemPoolActivity")
    return ItemPoolActivity().normalise(doc, NormaliseContext(now=datetime(2026, 11, 23, tzinfo=timezone.utc)))


def test_every_field_reaches_the_wire_in_its_unit(tmp_path: Path) -> None:
    spec = _normalised(tmp_path).spec
    activity = spec["activity"]
    assert activity["terminals"] == ["2", "1"] and activity["member_limit"] == 2
    assert activity["merchant_crowd_code"] == "OLD_USER" and activity["txd_crowd_code"] == "~OLD_USER"
    assert activity["period_config"] == {"weekdays": ["1", "7"], "every_day_periods": ["03:00:00_05:00:00", "20:00:30_22:00:00"]}
    assert activity["limit_info"] == {"user_daily_limit_cnt": 2, "user_limit_cnt": 5, "total_limit_cnt": 100, "daily_limit_cnt": 50}
    assert activity["priority_value"] == 10 and activity["exclude_single"] is True
    assert activity["by_channel"] is True
    assert [c["channel"] for c in activity["channel_config_list"]] == ["31", "3", "26", "2"]
    assert activity["activity_rule"] == {
        "is_multi_mix": False, "item_overlay": True, "enable_multiple": False, "is_check_all_cond": True,
        "ceiling_amount": 20000, "discount_fee_mode": 0,
    }
    groups = activity["logic_group_rules"]
    assert groups[0] == {"number": 1, "logic_group_type": 1, "count": 2, "ratio": 50, "is_effective_group": True}
    assert groups[1]["logic_group_type"] == 2 and groups[1]["can_extra_item_num"] == 2
    assert groups[1]["cover_all_discount_rule"]["cover_all_fix_price"] == 300
    assert groups[2] == {"number": 3, "logic_group_type": 3}
    cap, nth, whole = activity["rule_stairs"]
    assert cap["number"] == 1 and cap["amount"] == 3000
    assert cap["cap_count_discount_rule"]["cap_count_each_fix_price"] == 990
    assert cap["cap_count_discount_rule"]["is_cap_count_each_fix_price"] is True
    assert nth["is_count"] is True and nth["count"] == 3 and nth["is_overlay_logic_group_condition"] is True
    assert nth["count_at_discount_rule"]["count_at_discount_rate"] == 550
    assert whole["amount"] == 9999 and whole["cover_all_discount_rule"]["cover_all_fix_price"] == 5900
    items = spec["items"]
    assert items["A1"] == {"sku_code": "A1", "logic_group_number": 1, "is_fix_price": True, "fix_price": 29}
    assert items["A2"]["discount_rate"] == 955
    # additem's decrease_money: whole yuan, as its page says (元), never fen (README "Units").
    assert items["B1"]["decrease_money"] == 2 and type(items["B1"]["decrease_money"]) is int
    assert items["C1"] == {"sku_code": "C1"}


def test_query_view_reports_only_what_queryactivity_returns(tmp_path: Path) -> None:
    view = query_view(_normalised(tmp_path).spec["activity"])
    assert "activity_rule" not in view and "period_config" not in view
    assert view["limit_info"] == {"user_daily_limit_cnt": 2, "user_limit_cnt": 5, "daily_limit_cnt": 50}
    assert view["rule_stairs"][1]["count_begin"] is True
    assert view["rule_stairs"][2]["fix_price"] is True and view["rule_stairs"][2]["fix_price_amount"] == 5900
    assert all(stair["is_exchange"] and stair["can_extra_item_num"] == 2 for stair in view["rule_stairs"])


def test_every_field_pool_converges_on_the_sandbox(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("all.yaml", EVERYTHING.split("---\n", 1)[1])
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert Counter(c["method"] for c in sandbox.writes()) == {
        "alibaba.wdk.marketing.itempool.activity.create": 1, "alibaba.wdk.marketing.itempool.additem": 4,
    }
    sent = next(c for c in sandbox.calls() if c["params"].get("param0", "").startswith('{"sku_code":"B1"'))
    assert '"decrease_money":2}' in sent["params"]["param0"]  # whole yuan, a JSON integer
    sandbox.clear_calls()
    again = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_changing_one_item_price_is_one_remove_and_one_add(workspace: Workspace, sandbox: Sandbox) -> None:
    body = EVERYTHING.split("---\n", 1)[1]
    workspace.write("all.yaml", body)
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    workspace.write("all.yaml", body.replace('fix_price: "0.29"', 'fix_price: "0.39"'))
    sandbox.clear_calls()
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "~ item A1: 一口价0.29元" in planned.output and "→ 一口价0.39元" in planned.output  # yuan, not fen
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert [c["method"].rsplit(".", 1)[1] for c in sandbox.writes()] == ["removeitem", "additem"]


def test_an_item_decrease_with_fen_is_refused_naming_the_field(workspace: Workspace, sandbox: Sandbox) -> None:
    """additem's decrease_money rests on a page that says 元 but types an integer: only whole yuan
    are sent, so a wrong guess about the unit gives buyers less discount, never 100x more."""
    body = EVERYTHING.split("---\n", 1)[1].replace('decrease: "2"}', 'decrease: "1.50"}')
    path = workspace.write("all.yaml", body)
    result = workspace.run("validate", str(workspace.campaigns))
    assert result.exit_code == 1
    line = body.splitlines().index('    - {sku: B1, group: 2, decrease: "1.50"}') + 1
    assert f"{path}:{line}" in result.output
    assert "spec.items[2].decrease" in result.output and "whole yuan" in result.output
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 1 and sandbox.calls() == []
