"""End to end: ItemDiscount and FullDiscount manifests → plan → apply against the sandbox over
real HTTP, counting TOP calls through /_sandbox/calls."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import httpx
import pytest

from reconciler.top import Credentials, TopClient
from tests.conftest import Sandbox, Workspace

ITEM_ADD = "taobao.promotionmisc.item.activity.add"
ITEM_UPDATE = "taobao.promotionmisc.item.activity.update"
ITEM_DELETE = "taobao.promotionmisc.item.activity.delete"
MJS_ADD = "taobao.promotionmisc.mjs.activity.add"
MJS_UPDATE = "taobao.promotionmisc.mjs.activity.update"
MJS_DELETE = "taobao.promotionmisc.mjs.activity.delete"
RANGE_ADD = "taobao.promotionmisc.activity.range.add"
RANGE_REMOVE = "taobao.promotionmisc.activity.range.remove"
RANGE_ALL_REMOVE = "taobao.promotionmisc.activity.range.all.remove"
WINDOW = '{start: "2027-11-01T00:00:00+08:00", end: "2027-11-12T00:00:00+08:00"}'


# The item ids these tests name; the plan checks each against the shop's items (issue 17.4).
TEST_ITEMS = [1001, 1002, 1003, 1004, 1005, 1006, 1007, 1009, 9999, *(600000000000 + n for n in range(120))]


@pytest.fixture(autouse=True)
def known_items(sandbox: Sandbox) -> None:
    """Adds the ids the tests name to the demo shop's generated catalogue."""
    items = [{"num_iid": num_iid, "title": f"item {num_iid}", "price": "100.00"} for num_iid in TEST_ITEMS]
    httpx.post(f"{sandbox.server.url}/_sandbox/items", json={"shop": "demo-shop", "items": items}).raise_for_status()


def item_discount(name: str = "tea", rate: str = "0.85", items: list[str] | str | None = None) -> str:
    items = items if items is not None else ["1001", "1002", "1003", "1004"]
    listed = items if isinstance(items, str) else "[" + ", ".join(f'"{item}"' for item in items) + "]"
    return f"""\
apiVersion: campaigns/v1
kind: ItemDiscount
metadata:
  name: {name}
  shop: demo-shop
spec:
  title: 茶叶{name}
  window: {WINDOW}
  discount: {{rate: {rate}}}
  items: {listed}
"""


def full_discount(name: str = "d11", decrease: str = "20.00", level: str = "shop") -> str:
    return f"""\
apiVersion: campaigns/v1
kind: FullDiscount
metadata:
  name: {name}
  shop: demo-shop
spec:
  title: 满199减{decrease}
  level: {level}
  window: {WINDOW}
  when: {{amount_at_least: "199.00"}}
  no_ceiling: true
  reward: {{decrease: "{decrease}", free_shipping: {{except_areas: ["650000"]}}}}
  items: all
"""


def methods(calls: list[dict[str, Any]]) -> Counter[str]:
    return Counter(call["method"] for call in calls)


def apply(workspace: Workspace, *extra: str) -> None:
    result = workspace.run("apply", str(workspace.campaigns), "--auto-approve", *extra)
    assert result.exit_code == 0, result.output


def assert_converged(workspace: Workspace, sandbox: Sandbox) -> None:
    sandbox.clear_calls()
    second = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert second.exit_code == 0, second.output
    assert "No changes" in second.output
    assert sandbox.writes() == []


def remote_id(workspace: Workspace, address: str) -> int:
    return int(json.loads(workspace.run("state", "show", address).output)["remote_id"])


def direct_call(workspace: Workspace, method: str, params: dict[str, Any]) -> dict[str, Any]:
    """A change made 'in the seller console': a direct call, not through the reconciler."""
    env = workspace.env
    credentials = Credentials(env["TOP_APP_KEY"], env["TOP_APP_SECRET"], env["TOP_SESSION"], env["TOP_GATEWAY"])
    with TopClient(credentials) as client:
        return client.call(method, params)


def test_apply_from_empty_then_the_second_plan_has_no_writes(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount() + "---\n" + full_discount())

    first = workspace.run("plan", str(workspace.campaigns), "--detailed-exitcode")
    assert first.exit_code == 2, first.output
    assert "2 to create" in first.output
    assert sandbox.writes() == []  # plan never writes

    apply(workspace)
    assert methods(sandbox.writes()) == {ITEM_ADD: 1, RANGE_ADD: 1, MJS_ADD: 1}
    assert_converged(workspace, sandbox)


def test_wire_units_on_the_calls_sent(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount(rate="0.85") + "---\n" + full_discount(decrease="20.50"))
    apply(workspace)
    sent = {call["method"]: call["params"] for call in sandbox.calls()}
    assert sent[ITEM_ADD]["discount_rate"] == "850"
    assert sent[ITEM_ADD]["start_time"] == "2027-11-01 00:00:00"
    assert sent[MJS_ADD]["total_price"] == "19900" and sent[MJS_ADD]["decrease_amount"] == "2050"
    assert sent[MJS_ADD]["type"] == "2" and sent[MJS_ADD]["exclude_area"] == "650000"
    assert sent[RANGE_ADD]["ids"] == "1001,1002,1003,1004"


def test_a_changed_rate_is_exactly_one_update_call(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount() + "---\n" + full_discount())
    apply(workspace)
    workspace.write("discounts.yaml", item_discount(rate="0.7") + "---\n" + full_discount())
    sandbox.clear_calls()

    planned = json.loads(workspace.run("plan", str(workspace.campaigns), "--json").stdout)
    [change] = planned["changes"]
    assert (change["name"], change["action"]) == ("tea", "update")
    assert "in place" in change["reason"]
    assert change["details"] == ["discount_rate: 8.5折 → 7折"]

    apply(workspace)
    assert methods(sandbox.writes()) == {ITEM_UPDATE: 1}
    assert_converged(workspace, sandbox)


def test_a_changed_full_discount_is_one_update_and_a_changed_level_a_replace(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    workspace.write("discounts.yaml", full_discount())
    apply(workspace)
    old_id = remote_id(workspace, "demo-shop/FullDiscount/d11")

    workspace.write("discounts.yaml", full_discount(decrease="25.00"))
    sandbox.clear_calls()
    apply(workspace)
    assert methods(sandbox.writes()) == {MJS_UPDATE: 1}
    assert_converged(workspace, sandbox)

    workspace.write("discounts.yaml", full_discount(decrease="25.00", level="item"))
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "cannot change type" in planned.output
    sandbox.clear_calls()
    apply(workspace)
    assert methods(sandbox.writes()) == {MJS_DELETE: 1, MJS_ADD: 1}
    assert remote_id(workspace, "demo-shop/FullDiscount/d11") != old_id
    assert_converged(workspace, sandbox)


def test_plus_three_minus_two_items_is_one_remove_and_one_add(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount(items=["1001", "1002", "1003", "1004"]))
    apply(workspace)
    workspace.write("discounts.yaml", item_discount(items=["1001", "1003", "1005", "1006", "1007"]))
    sandbox.clear_calls()

    apply(workspace)
    writes = sandbox.writes()
    assert methods(writes) == {RANGE_REMOVE: 1, RANGE_ADD: 1}
    sent = {call["method"]: call["params"]["ids"] for call in writes}
    assert sent == {RANGE_REMOVE: "1002,1004", RANGE_ADD: "1005,1006,1007"}
    assert_converged(workspace, sandbox)


def test_a_large_range_is_batched_to_50_ids_per_call(workspace: Workspace, sandbox: Sandbox) -> None:
    many = [str(600000000000 + n) for n in range(120)]
    workspace.write("discounts.yaml", item_discount(items=many))
    apply(workspace)
    batches = [call["params"]["ids"].count(",") + 1 for call in sandbox.writes() if call["method"] == RANGE_ADD]
    assert batches == [50, 50, 20]
    assert_converged(workspace, sandbox)

    workspace.write("discounts.yaml", item_discount(items="all"))
    sandbox.clear_calls()
    apply(workspace)
    # 120 removals would be three remove calls; clearing the range is one.
    assert [call["method"] for call in sandbox.writes()] == [RANGE_ALL_REMOVE, ITEM_UPDATE]
    assert_converged(workspace, sandbox)


def test_an_unmanaged_activity_is_listed_and_never_touched(workspace: Workspace, sandbox: Sandbox) -> None:
    foreign = direct_call(
        workspace,
        ITEM_ADD,
        {
            "name": "卖家手工活动",
            "participate_range": 0,
            "start_time": "2027-12-01 00:00:00",
            "end_time": "2027-12-12 00:00:00",
            "is_decrease_money": True,
            "decrease_amount": 300,
        },
    )["activity_id"]
    workspace.write("discounts.yaml", item_discount())
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns))
    listed = f"unmanaged (left alone): demo-shop/ItemDiscount: item discount {foreign} '卖家手工活动'"
    assert listed in planned.output
    apply(workspace, "--prune")
    assert_converged(workspace, sandbox)
    data = json.loads(workspace.run("plan", str(workspace.campaigns), "--json", "--prune").stdout)
    assert any(str(foreign) in line for line in data["unmanaged"])

    touched = [call for call in sandbox.calls() if str(foreign) == call["params"].get("activity_id")]
    assert all(call["method"] not in (ITEM_UPDATE, ITEM_DELETE, RANGE_ADD, RANGE_REMOVE) for call in touched)
    assert direct_call(workspace, "taobao.promotionmisc.item.activity.get", {"activity_id": foreign})


def test_unmanaged_activities_are_reported_without_any_manifest(workspace: Workspace, sandbox: Sandbox) -> None:
    direct_call(
        workspace,
        MJS_ADD,
        {
            "name": "店铺满就送",
            "type": 1,
            "participate_range": 0,
            "start_time": "2027-12-01 00:00:00",
            "end_time": "2027-12-12 00:00:00",
            "is_item_count_over": True,
            "item_count": 2,
            "is_free_post": True,
        },
    )
    workspace.write("discounts.yaml", item_discount())
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "demo-shop/FullDiscount: full discount" in planned.output and "店铺满就送" in planned.output


def test_a_change_made_on_top_is_put_back_with_one_update(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount(rate="0.85"))
    apply(workspace)
    activity_id = remote_id(workspace, "demo-shop/ItemDiscount/tea")
    direct_call(
        workspace,
        ITEM_UPDATE,
        {
            "activity_id": activity_id,
            "name": "茶叶tea",
            "participate_range": 1,
            "start_time": "2027-11-01 00:00:00",
            "end_time": "2027-11-12 00:00:00",
            "is_discount": True,
            "discount_rate": 500,
        },
    )
    direct_call(workspace, RANGE_ADD, {"activity_id": activity_id, "ids": "9999"})
    sandbox.clear_calls()

    planned = workspace.run("plan", str(workspace.campaigns))
    assert "changed outside the reconciler" in planned.output and "- item 9999" in planned.output
    apply(workspace)
    assert methods(sandbox.writes()) == {RANGE_REMOVE: 1, ITEM_UPDATE: 1}
    assert_converged(workspace, sandbox)


def test_deleted_outside_is_created_again_and_prune_deletes(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount() + "---\n" + full_discount())
    apply(workspace)
    direct_call(workspace, ITEM_DELETE, {"activity_id": remote_id(workspace, "demo-shop/ItemDiscount/tea")})
    sandbox.clear_calls()

    assert "gone on TOP" in workspace.run("plan", str(workspace.campaigns)).output
    apply(workspace)
    assert methods(sandbox.writes()) == {ITEM_ADD: 1, RANGE_ADD: 1}

    workspace.write("discounts.yaml", item_discount())
    sandbox.clear_calls()
    apply(workspace)
    assert sandbox.writes() == []  # prune is off: the full discount stays
    apply(workspace, "--prune")
    assert methods(sandbox.writes()) == {MJS_DELETE: 1}
    assert_converged(workspace, sandbox)


def test_a_create_whose_answer_was_lost_is_found_on_top_not_sent_twice(
    workspace: Workspace, sandbox: Sandbox
) -> None:
    workspace.write("discounts.yaml", item_discount() + "---\n" + full_discount())
    # Each add and the range add run on the sandbox, then the connection closes before the answer.
    faults = {"drop_answer": {"methods": [ITEM_ADD, MJS_ADD, RANGE_ADD], "count": 3, "mode": "close"}}
    httpx.post(f"{sandbox.server.url}/_sandbox/faults", json=faults).raise_for_status()

    apply(workspace)
    assert methods(sandbox.writes()) == {ITEM_ADD: 1, RANGE_ADD: 1, MJS_ADD: 1}  # none sent twice
    sequence = [call["method"] for call in sandbox.calls()]
    writes = (ITEM_ADD, MJS_ADD, RANGE_ADD)
    looked = {sequence[index + 1] for index, method in enumerate(sequence[:-1]) if method in writes}
    assert looked == {  # after each lost answer, a look on TOP
        "taobao.promotionmisc.item.activity.list.get",
        "taobao.promotionmisc.mjs.activity.list.get",
        "taobao.promotionmisc.activity.range.list.get",
    }
    httpx.post(f"{sandbox.server.url}/_sandbox/faults", json={}).raise_for_status()
    assert_converged(workspace, sandbox)


def test_an_unmanaged_activity_can_be_imported_and_then_converges(workspace: Workspace, sandbox: Sandbox) -> None:
    foreign = direct_call(
        workspace,
        ITEM_ADD,
        {
            "name": "茶叶tea",
            "participate_range": 1,
            "start_time": "2027-11-01 00:00:00",
            "end_time": "2027-11-12 00:00:00",
            "is_discount": True,
            "discount_rate": 900,
        },
    )["activity_id"]
    direct_call(workspace, RANGE_ADD, {"activity_id": foreign, "ids": "1001,1009"})
    workspace.write("discounts.yaml", item_discount(items=["1001", "1002"]))

    hinted = workspace.run("plan", str(workspace.campaigns)).output
    assert f"`reconciler import ItemDiscount tea {foreign}` instead of creating another" in hinted
    missing = workspace.run("import", "ItemDiscount", "tea", "999999", str(workspace.campaigns))
    assert missing.exit_code == 1 and "has no item discount 999999" in missing.output
    imported = workspace.run("import", "ItemDiscount", "tea", str(foreign), str(workspace.campaigns))
    assert imported.exit_code == 0, imported.output
    sandbox.clear_calls()
    planned = workspace.run("plan", str(workspace.campaigns))
    assert "unmanaged (left alone)" not in planned.output
    assert "imported activity differs from the manifest" in planned.output
    apply(workspace)
    assert methods(sandbox.writes()) == {RANGE_REMOVE: 1, ITEM_UPDATE: 1, RANGE_ADD: 1}  # no new activity
    assert_converged(workspace, sandbox)
