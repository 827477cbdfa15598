"""End to end: worst-case prices (`reconciler price`) and price floors in plan and apply, against
the sandbox over real HTTP. Expected prices are worked out by hand in the comments."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import Sandbox, Workspace

ONSALE = "taobao.items.onsale.get"
SELLER_GET = "taobao.item.seller.get"
ITEM_ADD = "taobao.promotionmisc.item.activity.add"

SHOP_ITEMS = [
    {"num_iid": 101, "title": "龙井", "price": "100.00", "outer_id": "6901"},
    {"num_iid": 102, "title": "普洱", "price": "49.00"},
    {"num_iid": 103, "title": "红茶", "price": "48.99"},
    {"num_iid": 104, "title": "白茶", "price": "20.00", "approve_status": "instock"},
]
DOUBLE11 = '{start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}'

FLOORS = """\
apiVersion: campaigns/v1
kind: PriceFloor
metadata: {name: floors, shop: demo-shop}
spec:
  min_share_of_list: 0.5
  items: {"101": "70.00"}
"""


def stock_shop(sandbox: Sandbox) -> None:
    body = {"shop": "demo-shop", "replace": True, "items": SHOP_ITEMS}
    httpx.post(f"{sandbox.server.url}/_sandbox/items", json=body).raise_for_status()


def item_discount(
    name: str, discount: str, items: list[str], *, window: str = DOUBLE11, allow: str | None = None
) -> str:
    ids = ", ".join(f'"{item}"' for item in items)
    allowed = f', allow_below_floor: "{allow}"' if allow else ""
    return f"""\
apiVersion: campaigns/v1
kind: ItemDiscount
metadata: {{name: {name}, shop: demo-shop{allowed}}}
spec:
  title: 双11茶叶
  window: {window}
  discount: {{{discount}}}
  items: [{ids}]
"""


FULL_DISCOUNT = f"""\
apiVersion: campaigns/v1
kind: FullDiscount
metadata: {{name: double11, shop: demo-shop}}
spec:
  title: 双11满199减20
  level: shop
  window: {DOUBLE11}
  when: {{amount_at_least: "199.00"}}
  reward: {{decrease: "20.00"}}
  items: all
"""

COUPON = """\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata: {name: welcome-5, shop: demo-shop}
spec:
  denomination: "5.00"
  order_at_least: "49.00"
  window: {end: "2027-11-30T23:59:59+08:00"}
"""

POOL = """\
apiVersion: campaigns/v1
kind: ItemPoolActivity
metadata: {name: fresh, shop: demo-shop}
spec:
  title: 满30减12
  description: e2e pool
  window: {start: "2027-06-18T00:00:00+08:00", end: "2027-06-21T00:00:00+08:00"}
  shop_ids: ["1001"]
  terminals: [app, pos]
  period: {weekdays: [mon, fri], daily: ["03:00-05:00"]}
  stairs:
    - when: {amount_at_least: "30.00"}
      discount: {decrease: "12.00"}
    - when: {count_at_least: 3}
      discount: {rate: 0.6}
  items:
    - {sku: "6901"}
"""


def methods(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(call["method"] for call in calls)


# ---- reconciler price ------------------------------------------------------------------------------


def test_price_shows_each_items_worst_case_and_its_stack(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", "---\n".join(
        [FLOORS, item_discount("tea-85", "rate: 0.85", ["101", "103"]), FULL_DISCOUNT, COUPON]))
    sandbox.clear_calls()

    result = workspace.run("price", str(workspace.campaigns), "--at", "2027-11-05T10:00:00+08:00")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    # 101 龙井, 100.00 at 8.5折 = 85.00 (thresholds count the list price). One unit: coupon → 80.00.
    # Two units (200.00 listed ≥ 199.00): 170.00 − 20.00 − 5.00 = 145.00 → 72.50.
    tea = lines.index("  item 101 龙井: list 100.00 → worst case 72.50 a unit (a basket of 2)")
    assert lines[tea + 1].split() == ["−", "15.00", "ItemDiscount/tea-85:", "8.5折"]
    assert lines[tea + 2].split() == ["−", "10.00", "FullDiscount/double11:", "满199.00元减20.00元"]
    assert lines[tea + 3].split() == ["−", "2.50", "ShopCoupon/welcome-5:", "5.00元券，满49.00元可用"]
    assert lines[tea + 4] == "      floor 70.00 (PriceFloor/floors): margin 2.50"  # 70.00 beats 50 % (50.00)
    # 102 普洱 at 49.00: exactly the coupon's threshold, so one unit gets it: 44.00
    assert "  item 102 普洱: list 49.00 → worst case 44.00 a unit" in lines
    # 103 红茶 48.99 × 0.85 = 41.6415; five units (244.95 listed ≥ 199.00): 208.2075 − 20.00 − 5.00 =
    # 183.2075 → 36.6415 → 36.64; floor 50 % of 48.99 = 24.495 → 24.50 (rounded up)
    assert "  item 103 红茶: list 48.99 → worst case 36.64 a unit (a basket of 5)" in lines
    assert "      floor 24.50 (PriceFloor/floors: 50% of list): margin 12.14" in lines
    # deepest cut first: 101 (72.5 % of list), 103 (74.8 %), 102 (89.8 %)
    order = [line.split()[1] for line in lines if line.startswith("  item ")]
    assert order == ["101", "103", "102"]
    # read-only: one page of items on sale, no item read one by one (all named items are on sale)
    assert sandbox.writes() == [] and methods(sandbox.calls()) == {ONSALE: 1}


def test_price_for_one_item_reads_only_that_item(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", "---\n".join([FULL_DISCOUNT, COUPON]))
    sandbox.clear_calls()
    result = workspace.run("price", str(workspace.campaigns), "--item", "104", "--at", "2027-11-05T10:00:00+08:00")
    assert result.exit_code == 0, result.output
    # 104 白茶 at 20.00 (in the warehouse): ten units = 200.00 − 20.00 − 5.00 = 175.00 → 17.50
    # (three units, the coupon only: 55.00 → 18.33)
    assert "  item 104 白茶: list 20.00 → worst case 17.50 a unit (a basket of 10)" in result.output
    assert methods(sandbox.calls()) == {SELLER_GET: 1}


def test_price_outside_every_window_is_the_list_price(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", "---\n".join([FLOORS, item_discount("tea-85", "rate: 0.85", ["101"])]))
    result = workspace.run("price", str(workspace.campaigns), "--item", "101", "--at", "2027-10-31T23:59:59+08:00")
    assert result.exit_code == 0, result.output
    assert "  item 101 龙井: list 100.00 → worst case 100.00 a unit" in result.output


# ---- floors in plan and apply ---------------------------------------------------------------------


def test_a_plan_below_a_floor_fails_naming_item_stack_and_floor(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("typo", "rate: 0.3", ["101", "102"]))

    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 1, planned.output
    # 101: 100.00 × 0.3 = 30.00, floor 70.00; 102: 49.00 × 0.3 = 14.70, floor 24.50
    assert (
        "demo-shop item 101 龙井: the worst-case price would drop to 30.00, below its floor 70.00 (PriceFloor/floors) "
        "(100.00 before this plan): list 100.00 − ItemDiscount/typo (3折) 70.00 = 30.00 (one unit, "
        "at 2027-11-01 00:00:00 GMT+8)"
    ) in planned.output
    assert "item 102 普洱: the worst-case price would drop to 14.70, below its floor 24.50" in planned.output
    assert 'add metadata.allow_below_floor: "<reason>" to ItemDiscount/typo (' in planned.output
    assert "the plan would take items below their price floor; nothing will be applied" in planned.output

    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 1 and "nothing was sent" in applied.output
    assert sandbox.writes() == []


def test_allow_below_floor_lets_it_through_and_shows_the_reason(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    discount = item_discount("typo", "rate: 0.3", ["101", "102"], allow="clearance of last season, approved by ops")
    workspace.write("prices.yaml", FLOORS + "---\n" + discount)

    planned = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert planned.exit_code == 2, planned.output
    assert (
        "warning: demo-shop: 2 item(s) go below their price floor, allowed by metadata.allow_below_floor "
        "(ItemDiscount/typo: clearance of last season, approved by ops)"
    ) in planned.output

    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert methods(sandbox.writes())[ITEM_ADD] == 1
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0


def test_before_is_what_was_applied_and_unlowered_items_only_warn(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("tea", "rate: 0.9", ["101"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0

    # 9折 → 3折: measured from what was applied (90.00), not from the list price
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("tea", "rate: 0.3", ["101"]))
    sandbox.clear_calls()
    blocked = workspace.run("plan", str(workspace.campaigns))
    assert blocked.exit_code == 1
    assert "would drop to 30.00, below its floor 70.00 (PriceFloor/floors) (90.00 before this plan)" in blocked.output
    assert sandbox.writes() == []

    # allowed once, then the reason removed while the window grows a day: the price does not move,
    # so the plan only warns that the item stays below its floor
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("tea", "rate: 0.3", ["101"], allow="clearance"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    longer = DOUBLE11.replace("2027-11-12", "2027-11-13")
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("tea", "rate: 0.3", ["101"], window=longer))
    renamed = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert renamed.exit_code == 2, renamed.output
    assert "item 101 龙井 stays below its floor 70.00 (PriceFloor/floors) at 30.00 (this plan does not lower it)" in renamed.output


def test_a_saved_plan_below_a_floor_is_refused_at_apply(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("typo", "rate: 0.3", ["101"]))
    plan_file = str(workspace.root / "plan.json")
    assert workspace.run("plan", str(workspace.campaigns), "--out", plan_file).exit_code == 1
    applied = workspace.run("apply", plan_file, "--auto-approve")
    assert applied.exit_code == 1 and "below its floor 70.00" in applied.output
    assert sandbox.writes() == []


def test_an_item_pool_activity_names_items_by_merchant_code(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + POOL)
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 1, planned.output
    # sku 6901 is item 101's outer_id. Mondays and Fridays 03:00-05:00 from 2027-06-18 (a Friday):
    # three units reach 满3件6折 (the better stair; stairs do not stack): 300.00 × 0.6 → 60.00
    assert (
        "item 101 龙井: the worst-case price would drop to 60.00, below its floor 70.00 (PriceFloor/floors) "
        "(100.00 before this plan): list 100.00 − ItemPoolActivity/fresh (满30减12: 满3件6折) 40.00 = 60.00 "
        "(a basket of 3, at 2027-06-18 03:00:00 GMT+8)"
    ) in planned.output
    assert sandbox.writes() == []


def test_markdown_plan_has_a_price_impact_table_deepest_cuts_first(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", "---\n".join([
        item_discount("a", "rate: 0.9", ["101"]),  # 100.00 → 90.00, −10 %
        item_discount("b", 'decrease: "10.00"', ["102"]),  # 49.00 → 39.00, −20.4 %
        item_discount("c", "rate: 0.5", ["103"]),  # 48.99 → 24.495 → 24.49, −50.0 %
    ]))
    out = workspace.root / "md"
    planned = workspace.run("plan", str(workspace.campaigns), "--markdown", str(out))
    assert planned.exit_code == 0, planned.output
    comment = (out / "plan-1.md").read_text(encoding="utf-8")
    assert "#### Price impact" in comment
    rows = [line for line in comment.splitlines() if line.startswith("| item 1")]
    assert [row.split()[2] for row in rows] == ["103", "102", "101"]
    assert rows[0].startswith("| item 103 红茶 | 48.99 | 48.99 | **24.49** | −50.0% |")
    assert "| item 102 普洱 | 49.00 | 49.00 | **39.00** | −20.4% |" in rows[1]
    assert comment.index("#### Price impact") < comment.index("<details><summary><b>demo-shop</b>")
    # the terminal plan says the same, briefly
    # no PriceFloor is declared: the default floor (30 % of list) applies and says so
    assert "demo-shop item 103 红茶: 48.99 → 24.49 (−50.0%, floor 14.70 = default 30% of list)" in planned.output


def test_a_plan_that_changes_no_promotion_reads_no_prices(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("tea", "rate: 0.9", ["101"]))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0
    assert not {ONSALE, SELLER_GET} & set(methods(sandbox.calls()))


def test_apply_records_allow_below_floor_in_the_saved_plan(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", FLOORS + "---\n" + item_discount("typo", "rate: 0.3", ["101"], allow="clearance"))
    plan_file = workspace.root / "plan.json"
    assert workspace.run("plan", str(workspace.campaigns), "--out", str(plan_file)).exit_code == 0
    saved = json.loads(Path(plan_file).read_text(encoding="utf-8"))
    assert [r.get("allow_below_floor") for r in saved["desired"] if r["kind"] == "ItemDiscount"] == ["clearance"]
    applied = workspace.run("apply", str(plan_file), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert "allowed by metadata.allow_below_floor (ItemDiscount/typo: clearance)" in applied.output


def test_a_replaced_coupon_still_counts_buyers_keep_the_old_one(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("coupons.yaml", COUPON.replace("2027-11-30", "2027-03-31"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    # 5.00 off from 49.00 becomes 3.00 off any order. TOP cannot delete the old coupon, so both count:
    # 102 at 49.00 keeps its 44.00 (the old coupon); 103 at 48.99 went from (97.98 − 5.00) ÷ 2 = 46.49
    # to 48.99 − 3.00 = 45.99 (the new one)
    changed = COUPON.replace("2027-11-30", "2027-03-31").replace('"5.00"', '"3.00"').replace('"49.00"', '"0.00"')
    workspace.write("coupons.yaml", changed)
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0, planned.output
    assert "demo-shop item 103 红茶: 46.49 → 45.99 (−1.1%, floor 14.70 = default 30% of list)" in planned.output
    assert "item 102" not in planned.output  # 44.00 before and after


# ---- the default floor (issue 17.6): a shop without any PriceFloor is still guarded --------------


def test_without_a_price_floor_a_1zhe_typo_is_blocked_by_the_default_floor(workspace: Workspace, sandbox: Sandbox) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", item_discount("typo", "rate: 0.1", ["101", "102"]))  # 1折 instead of 9折
    sandbox.clear_calls()
    planned = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert planned.exit_code == 1, planned.output
    # 100.00 → 10.00, below 30 % of list (30.00): the message names the default floor
    assert ("demo-shop item 101 龙井: the worst-case price would drop to 10.00, below its floor 30.00 "
            "(the default floor: 30% of list, as no PriceFloor covers the item)") in planned.output
    assert "allow_below_floor" in planned.output
    assert "demo-shop: 2 item(s) checked against the default floor, 30% of list" in planned.output
    assert ITEM_ADD not in methods(sandbox.calls())  # nothing was sent
    # the default floor reads nothing of its own: the list prices read are those of the named items
    assert methods(sandbox.calls())[SELLER_GET] == 2


def test_the_default_floor_gives_way_to_allow_below_floor_and_to_a_declared_floor(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    stock_shop(sandbox)
    workspace.write("prices.yaml", item_discount("clearance", "rate: 0.2", ["102"], allow="end of season"))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0, planned.output
    assert "allowed by metadata.allow_below_floor (ItemDiscount/clearance: end of season)" in planned.output
    # a PriceFloor with min_share_of_list replaces the default for every item: 2折 is above 10 %
    low_floor = FLOORS.replace("min_share_of_list: 0.5", "min_share_of_list: 0.1").replace(
        '  items: {"101": "70.00"}\n', "")
    workspace.write("prices.yaml", low_floor + "---\n" + item_discount("clearance", "rate: 0.2", ["102"]))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0, planned.output
    assert "floor 4.90)" in planned.output and "default" not in planned.output.split("Price impact")[1]
    # a PriceFloor naming only item 101 keeps the default for 102: still blocked
    item_floor = FLOORS.replace("  min_share_of_list: 0.5\n", "")
    workspace.write("prices.yaml", item_floor + "---\n" + item_discount("clearance", "rate: 0.2", ["102"]))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 1, planned.output
    assert "below its floor 14.70 (the default floor: 30% of list" in planned.output
