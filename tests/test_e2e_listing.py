"""End to end: listing windows → plan (at a chosen moment) → apply, against the sandbox over real
HTTP, counting TOP calls through /_sandbox/calls."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import REPO, Sandbox, Workspace
from tests.fault_tools import FAST_ENV, set_faults

ONSALE = "taobao.items.onsale.get"
INVENTORY = "taobao.items.inventory.get"
SELLER_GET = "taobao.item.seller.get"
LISTING = "taobao.item.update.listing"
DELISTING = "taobao.item.update.delisting"
QUANTITY = "taobao.item.quantity.update"
# 2027-11-11 is a Thursday; these are all GMT+8.
BEFORE = "2027-11-10T23:59+08:00"
DURING = "2027-11-11T00:00+08:00"
AFTER = "2027-11-12T00:00+08:00"


def window(name: str, selection: str, on_sale: str = "", stock: str = "") -> str:
    text = f"apiVersion: campaigns/v1\nkind: ListingWindow\nmetadata: {{name: {name}, shop: demo-shop}}\nspec:\n  {selection}\n"
    if on_sale:
        text += f"  on_sale: {on_sale}\n"
    if stock:
        text += f"  stock: {stock}\n"
    return text


DOUBLE11 = '{dates: [{start: "2027-11-11T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}]}'


def shop(sandbox: Sandbox, items: list[dict[str, Any]]) -> None:
    response = httpx.post(f"{sandbox.server.url}/_sandbox/items", json={"shop": "demo-shop", "replace": True, "items": items})
    response.raise_for_status()


def item_state(sandbox: Sandbox, num_iid: int) -> dict[str, Any]:
    items = sandbox.state()["shops"]["demo-shop"]["items"]["items"]
    return {key: items[str(num_iid)][key] for key in ("approve_status", "num")}


def methods(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(call["method"] for call in calls)


def direct_call(workspace: Workspace, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A change made 'in the seller console': a direct call, not through the reconciler."""
    from reconciler.top import Credentials, TopClient

    env = workspace.env
    credentials = Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"])
    with TopClient(credentials) as client:
        return client.call(method, params)


SMALL_SHOP = [
    {"num_iid": 101, "title": "预售A", "num": 5, "seller_cids": ["900"]},
    {"num_iid": 102, "title": "预售B", "num": 7, "seller_cids": ["900"], "approve_status": "instock"},
    {"num_iid": 103, "title": "预售C", "num": 0, "seller_cids": ["900"], "approve_status": "instock"},
    {"num_iid": 201, "title": "其他", "num": 9, "seller_cids": ["901"]},
]


def test_window_follows_the_moment_and_converges(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, SMALL_SHOP)
    workspace.write("listing.yaml", window("presale", 'seller_categories: ["900"]', DOUBLE11))

    before = workspace.run("plan", str(workspace.campaigns), "--at", BEFORE, "--json")
    assert before.exit_code == 0, before.output
    (change,) = json.loads(before.stdout)["changes"]
    assert [(c["method"], c["params"]["num_iid"]) for c in change["calls"]] == [(DELISTING, 101)]
    assert "is closed" in change["reason"] and "opens at 2027-11-11 00:00 GMT+8" in change["reason"]

    during = json.loads(workspace.run("plan", str(workspace.campaigns), "--at", DURING, "--json").stdout)
    (change,) = during["changes"]
    # 102 is listed with the stock it has (7), so listing never changes stock; 103 has none: TOP
    # refuses num 0, so it stays in the warehouse.
    assert [(c["method"], c["params"]) for c in change["calls"]] == [(LISTING, {"num_iid": 102, "num": 7})]
    assert sandbox.writes() == []  # plan never writes


def test_saved_plan_for_a_moment_is_applied_exactly_then_plans_converge(
    workspace: Workspace, sandbox: Sandbox, tmp_path: Path
) -> None:
    shop(sandbox, SMALL_SHOP)
    workspace.write("listing.yaml", window("presale", 'seller_categories: ["900"]', DOUBLE11))
    plan_file = tmp_path / "plan.json"
    planned = workspace.run("plan", str(workspace.campaigns), "--at", DURING, "--out", str(plan_file))
    assert planned.exit_code == 0, planned.output

    applied = workspace.run("apply", str(plan_file), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert methods(sandbox.writes()) == {LISTING: 1}
    assert item_state(sandbox, 102) == {"approve_status": "onsale", "num": 7}  # stock untouched

    sandbox.clear_calls()
    again = workspace.run("plan", str(workspace.campaigns), "--at", DURING, "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output and sandbox.writes() == []


def test_apply_now_delists_outside_the_window_then_nothing(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, SMALL_SHOP)
    workspace.write("listing.yaml", window("presale", 'seller_categories: ["900"]', DOUBLE11))
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert methods(sandbox.writes()) == {DELISTING: 1}
    assert item_state(sandbox, 101)["approve_status"] == "instock"
    assert "201" not in json.dumps(sandbox.writes())  # another category: untouched

    sandbox.clear_calls()
    second = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert sandbox.writes() == []


def test_stock_rules_delist_at_zero_and_relist_on_restock(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, [{"num_iid": 301, "title": "鲜奶", "num": 0}, {"num_iid": 302, "title": "酸奶", "num": 4}])
    workspace.write("listing.yaml", window("dairy", 'items: ["301", "302"]'))  # always on sale while in stock
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert [(c["method"], c["params"]["num_iid"]) for c in sandbox.writes()] == [(DELISTING, "301")]

    # Sold out items sit under banner=sold_out, which the default inventory listing leaves out:
    # the window still sees 301 (no "not in the shop" error) and does nothing while it has no stock.
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0
    assert {c["params"].get("banner") for c in sandbox.calls() if c["method"] == INVENTORY} == {"for_shelved", "sold_out"}

    direct_call(workspace, QUANTITY, {"num_iid": 301, "quantity": 12})  # restocked in the seller console
    sandbox.clear_calls()
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "+ list 301 鲜奶 (stock 12): inside the window" in planned.output
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    assert [(c["method"], c["params"]) for c in sandbox.writes()] == [(LISTING, {"num_iid": "301", "num": "12"})]


def test_without_relist_an_item_delisted_for_stock_stays_delisted(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, [{"num_iid": 301, "title": "鲜奶", "num": 0}])
    workspace.write("listing.yaml", window("dairy", 'items: ["301"]', stock="{relist_on_restock: false}"))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    record = json.loads(workspace.run("state", "show", "demo-shop/ListingWindow/dairy").output)["record"]
    assert record["held"] == {"301": "delisted when out of stock"}

    direct_call(workspace, QUANTITY, {"num_iid": 301, "quantity": 12})
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0
    assert sandbox.writes() == []


def test_reads_are_paged_list_calls_never_one_per_item(workspace: Workspace, sandbox: Sandbox) -> None:
    items = [{"num_iid": 1000 + n, "num": n % 7, "approve_status": "onsale" if n % 3 else "instock"} for n in range(450)]
    shop(sandbox, items)
    ids = ", ".join(f'"{1000 + n}"' for n in range(0, 450, 9))
    workspace.write("listing.yaml", window("many", f"items: [{ids}]"))
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns)).exit_code == 0
    calls = [call for call in sandbox.calls() if call["method"].startswith(("taobao.item", "taobao.items"))]
    reads = methods(calls)
    # 300 on sale → 2 pages of 200; 150 in the warehouse: 129 with stock (1 page), 21 without (1 page).
    assert reads == {ONSALE: 2, INVENTORY: 2}
    assert all(call["params"]["page_size"] == "200" for call in calls)


def test_category_only_windows_filter_the_list_calls(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, SMALL_SHOP)
    workspace.write("listing.yaml", window("presale", 'seller_categories: ["900"]', DOUBLE11))
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns)).exit_code == 0
    item_reads = [call for call in sandbox.calls() if call["method"] in (ONSALE, INVENTORY)]
    assert len(item_reads) == 3 and {call["params"].get("seller_cids") for call in item_reads} == {"900"}


def test_two_windows_claiming_one_item_is_an_error_naming_both(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, SMALL_SHOP)
    workspace.write("a.yaml", window("presale", 'seller_categories: ["900"]', DOUBLE11))
    workspace.write("b.yaml", window("weekend", 'items: ["102", "201"]', '{weekly: [{weekdays: [sat], hours: ["10:00-22:00"]}]}'))
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1
    assert "ListingWindow/presale (" in result.output and "ListingWindow/weekend (" in result.output
    assert "a.yaml:" in result.output and "b.yaml:" in result.output and "102" in result.output
    assert sandbox.writes() == []


def test_an_item_that_is_not_in_the_shop_is_an_error(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, SMALL_SHOP)
    workspace.write("listing.yaml", window("typo", 'items: ["101", "777"]'))
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code == 1 and "777 are not in the shop" in result.output


def test_removed_window_is_forgotten_with_prune_and_its_items_stay(workspace: Workspace, sandbox: Sandbox) -> None:
    shop(sandbox, SMALL_SHOP)
    path = workspace.write("listing.yaml", window("presale", 'seller_categories: ["900"]', DOUBLE11))
    assert workspace.run("apply", str(workspace.campaigns), "--auto-approve").exit_code == 0
    path.unlink()
    sandbox.clear_calls()
    pruned = workspace.run("apply", str(workspace.campaigns), "--auto-approve", "--prune")
    assert pruned.exit_code == 0, pruned.output
    assert sandbox.writes() == [] and "left as they are" in pruned.output
    assert "ListingWindow" not in workspace.run("state", "list").output


def test_the_demo_manifests_converge(workspace: Workspace, sandbox: Sandbox) -> None:
    """campaigns/listing.yaml and campaigns/taoke.yaml against the sandbox's generated demo shop."""
    for name in ("listing.yaml", "taoke.yaml"):
        shutil.copy(REPO / "campaigns" / name, workspace.campaigns / name)
    workspace.env["TOP_QPS"] = "1000"  # ~70 calls: the sandbox has no quota to protect
    applied = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    assert sandbox.writes()
    sandbox.clear_calls()
    second = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output and sandbox.writes() == []
    assert not {call["method"] for call in sandbox.calls()} & {SELLER_GET}


def test_a_listing_whose_answer_is_lost_is_found_by_the_items_status(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.env.update(FAST_ENV)
    shop(sandbox, SMALL_SHOP)
    workspace.write("listing.yaml", window("presale", 'seller_categories: ["900"]'))  # always on sale while in stock
    set_faults(sandbox, drop_answer={"methods": [LISTING], "count": 1, "mode": "close"})
    first = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    set_faults(sandbox)
    second = workspace.run("apply", str(workspace.campaigns), "--auto-approve")
    assert second.exit_code == 0, first.output + second.output
    listings = [call for call in sandbox.writes() if call["method"] == LISTING]
    assert [call["params"]["num_iid"] for call in listings] == ["102"]  # once: the item showed it on sale
    assert any(call["method"] == SELLER_GET for call in sandbox.calls())
    sandbox.clear_calls()
    assert workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode").exit_code == 0
