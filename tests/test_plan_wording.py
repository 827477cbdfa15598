"""A reviewer reads yuan, 折, GMT+8 times and names (issue 17.3), end to end against the sandbox
over real HTTP: create summaries name the discount and its items, diff lines use the manifest's
units, drift says what changed on TOP in that direction, and the wire values stay in the calls."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx

from reconciler.engine.drift import on_top
from tests.conftest import Sandbox, Workspace
from tests.test_e2e_discounts import RANGE_ADD, RANGE_REMOVE, apply, direct_call, full_discount, item_discount
from tests.test_e2e_item_pool import pool
from tests.test_e2e_coupons import coupon, grant
from tests.test_e2e_listing import DOUBLE11, shop, window
from tests.test_e2e_taoke import gift

FLOOR_10 = """\
apiVersion: campaigns/v1
kind: PriceFloor
metadata: {name: low, shop: demo-shop}
spec: {min_share_of_list: 0.05}
"""


def stock(sandbox: Sandbox) -> None:
    items = [{"num_iid": int(i), "title": f"茶{i}", "price": "100.00", "outer_id": i}
             for i in ("1001", "1002", "1003", "1004", "1009")]
    httpx.post(f"{sandbox.server.url}/_sandbox/items", json={"shop": "demo-shop", "replace": True, "items": items}
               ).raise_for_status()


def _valid_plan(data: object) -> None:
    import jsonschema

    schema = Path(__file__).resolve().parent.parent / "reconciler" / "schemas" / "output" / "plan.schema.json"
    jsonschema.validate(data, json.loads(schema.read_text(encoding="utf-8")))


def test_a_discount_create_names_its_rate_items_and_window(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", FLOOR_10 + "---\n" + item_discount("typo", rate="0.1", items=["1001", "1002", "1003"]))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0, planned.output
    assert ("1折 on 3 item(s): 1001, 1002, 1003, 2027-11-01 00:00:00 → 2027-11-12 00:00:00 (GMT+8)"
            in planned.output)
    # the wire values are still in the calls
    data = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    add = data["changes"][0]["calls"][0]
    assert add["params"]["discount_rate"] == 100


def test_a_rate_change_reads_in_zhe(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount(rate="0.85"))
    apply(workspace)
    workspace.write("discounts.yaml", item_discount(rate="0.8"))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "discount_rate: 8.5折 → 8折" in planned.output
    # the wire values behind the words, in --json only (schema: output/plan.schema.json)
    data = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    _valid_plan(data)
    assert data["changes"][0]["wire_changes"] == [{"field": "discount_rate", "before": 850, "after": 800}]
    # a saved plan keeps them and still verifies
    out = workspace.root / "plan.json"
    assert workspace.run("plan", str(workspace.campaigns), "--out", str(out)).exit_code == 0
    assert workspace.run("apply", str(out)).exit_code == 0


def test_a_pool_create_and_a_time_change_read_in_stairs_and_gmt8(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("pools.yaml", pool(skus=["1001", "1002"]))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert ("满30.00元减12.00元；满3件6折 on 2 item(s): 1001, 1002, 2027-06-18 00:00 → 2027-06-21 00:00 (GMT+8)"
            in planned.output)
    apply(workspace)
    later = pool(skus=["1001", "1002"]).replace('end: "2027-06-21T00:00:00+08:00"', 'end: "2027-06-21T20:00:00+08:00"')
    workspace.write("pools.yaml", later)
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "end_time: 2027-06-21 00:00 → 2027-06-21 20:00 (GMT+8)" in planned.output
    data = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    _valid_plan(data)
    assert {"field": "end_time", "before": 1813507200000, "after": 1813579200000} in data["changes"][0]["wire_changes"]
    assert "1813" not in planned.output.split("why:")[1].split("1)")[0]  # no epoch ms in the diff lines


def test_drift_says_what_changed_on_top_in_that_direction(workspace: Workspace, sandbox: Sandbox) -> None:
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount(items=["1001", "1002"]))
    apply(workspace)
    activity_id = int(json.loads(workspace.run("state", "list", "--json").stdout)["objects"][0]["remote_id"])
    # in the seller console: item 1009 added, item 1002 removed
    direct_call(workspace, RANGE_ADD, {"activity_id": activity_id, "ids": "1009"})
    direct_call(workspace, RANGE_REMOVE, {"activity_id": activity_id, "ids": "1002"})
    drift = workspace.run("drift", str(workspace.campaigns))
    assert "+ item 1009 (added on TOP)" in drift.output
    assert "- item 1002 (removed on TOP)" in drift.output
    data = json.loads(workspace.run("drift", str(workspace.campaigns), "--json").stdout)
    assert "+ item 1009 (added on TOP)" in data["drift"][0]["details"]
    assert "- item 1009" in data["drift"][0]["restore_details"]  # what the next apply does


def test_on_top_turns_lines_around() -> None:
    assert on_top(["discount_rate: 9折 → 8.5折", "end_time: 2027-11-10 20:00 → 2027-11-11 00:00 (GMT+8)",
                   "on TOP: name: 'a' → 'b'", "was: something"]) == [
        "discount_rate: 8.5折 → 9折", "end_time: 2027-11-11 00:00 → 2027-11-10 20:00 (GMT+8)",
        "on TOP: name: 'a' → 'b'", "was: something"]  # a kind's "on TOP" lines are TOP's direction already


def test_a_gift_change_reads_in_the_manifests_names_and_units(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("gifts.yaml", gift(per_face="5.00", use="{days: 3}"))
    apply(workspace)
    workspace.write("gifts.yaml", gift(per_face="6.00", total=800, end="2027-06-22T00:00:00+08:00",
                                       use='{from: "2027-06-18", until: "2027-06-30"}'))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0, planned.output
    lines = planned.output.split("why:")[1].split("1)")[0]
    assert "per_face: 5.00 yuan → 6.00 yuan" in lines
    assert "total: 1000 → 800" in lines
    assert "send_window.end: 2027-06-21 00:00:00 → 2027-06-22 00:00:00 (GMT+8)" in lines
    assert "use: for 3 day(s) after a claim → 2027-06-18 – 2027-06-30 (GMT+8)" in lines
    assert "total_num" not in lines and "use_end_time_mode" not in lines  # wire names stay in --json
    data = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    _valid_plan(data)
    wire = {w["field"]: (w["before"], w["after"]) for w in data["changes"][0]["wire_changes"]}
    assert wire == {
        "per_face": ("5.00", "6.00"),
        "total_num": (1000, 800),
        "send_end_time": ("2027-06-21 00:00:00", "2027-06-22 00:00:00"),
        "use_end_time_mode": (1, 2),
        "use_start_time": (None, "2027-06-18"),
        "use_end_time": ("3", "2027-06-30"),
    }


def test_a_grant_names_what_its_buyers_get(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", coupon("vip", denomination="20.00", threshold="199.00") + "---\n"
                    + grant("vip-spring", "vip", ["alice", "bob"]))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert planned.exit_code == 0, planned.output
    assert ("ShopCoupon vip (the coupon created in this plan: 20.00 yuan off orders from 199.00 yuan, ends "
            in planned.output)
    # the coupon's own summary: its end in GMT+8, as TOP's time text has no zone of its own
    assert re.search(r"new coupon: 20\.00 yuan off orders from 199\.00 yuan, ends \d{4}-\d\d-\d\d 23:59:59 "
                     r"\(GMT\+8\), starts when created", planned.output), planned.output
    apply(workspace)
    workspace.write("coupons.yaml", coupon("vip", denomination="20.00", threshold="199.00") + "---\n"
                    + grant("vip-spring", "vip", ["alice", "bob", "carol"]))
    later = workspace.run("plan", str(workspace.campaigns))
    assert "20.00 yuan off orders from 199.00 yuan" in later.output
    assert "3 buyer(s) listed: 2 already have it, 1 to send" in later.output


def test_a_listing_window_reads_in_gmt8_and_item_titles(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, [{"num_iid": 101, "title": "预售A", "num": 5, "seller_cids": ["900"]}])
    workspace.write("listing.yaml", window("presale", 'seller_categories: ["900"]', DOUBLE11))
    planned = workspace.run("plan", str(workspace.campaigns), "--at", "2027-11-10T20:00+08:00")
    assert planned.exit_code == 0, planned.output
    assert "at 2027-11-10 20:00 GMT+8 the window (dates 2027-11-11 00:00 GMT+8 → 2027-11-12 00:00 GMT+8)" in planned.output
    assert "opens at 2027-11-11 00:00 GMT+8" in planned.output
    assert "- delist 101 预售A: outside the window" in planned.output
    assert "1810" not in planned.output.split("1)")[0]  # no epoch ms anywhere before the calls


def test_codes_read_as_the_manifests_words(workspace: Workspace, sandbox: Sandbox) -> None:
    # FullDiscount level: TOP's type 2 / 1; items: all / a list is participate_range 0 / 1
    workspace.write("discounts.yaml", full_discount(level="shop"))
    apply(workspace)
    workspace.write("discounts.yaml", full_discount(level="item"))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "type: shop → item" in planned.output, planned.output
    data = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    assert {"field": "type", "before": 2, "after": 1} in data["changes"][0]["wire_changes"]
    stock(sandbox)
    workspace.write("discounts.yaml", item_discount(items="all"))
    apply(workspace, "--prune")
    workspace.write("discounts.yaml", item_discount(items=["1001"]))
    assert "participate_range: all items → listed items" in workspace.run("plan", str(workspace.campaigns)).output
