"""engine.guardrails.check_prices on its own (issue 18.5): what a plan does to worst-case prices,
checked against price floors, with the shop's list prices read by our real client from the
sandbox over HTTP — no CLI. Shop: 101 龙井 100.00 (floor 70.00), 102 普洱 49.00, 103 红茶 48.99;
every other item's floor is half its list price (PriceFloor min_share_of_list 0.5)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from reconciler.engine import PriceCheck, apply_plan, check_prices, resource_to_data
from reconciler.model import Plan
from tests.conftest import Sandbox
from tests.engine_tools import (
    NOW,
    desired,
    one_client,
    pin_clock,
    plan_of,
    state_store,
    stock_items,
    top_client,
)
from tests.test_e2e_price_guardrails import FLOORS, SHOP_ITEMS, item_discount


def _checked(sandbox: Sandbox, tmp_path: Path, *manifests: str) -> PriceCheck:
    pin_clock(sandbox)
    stock_items(sandbox, SHOP_ITEMS)
    resources = desired(FLOORS, *manifests)
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        plan = plan_of(resources, store, client)
        return check_prices(plan, resources, store, one_client(client), NOW)


def _rows(check: PriceCheck) -> list[tuple[str, int, int]]:
    """(item, before, after) in fen, in the table's order."""
    return [(i.item.item_id, i.before.unit_price, i.after.unit_price) for i in check.impacts]


def test_each_covered_items_worst_case_before_and_after_deepest_cut_first(sandbox: Sandbox, tmp_path: Path) -> None:
    check = _checked(sandbox, tmp_path, item_discount("tea", "rate: 0.8", ["102", "101"]))
    # 8折: 100.00 → 80.00 and 49.00 → 39.20; both -20 %, the larger cut in money first.
    assert _rows(check) == [("101", 10000, 8000), ("102", 4900, 3920)]
    assert [impact.depth for impact in check.impacts] == [Fraction(-1, 5), Fraction(-1, 5)]
    assert check.blocked == () and check.warnings == () and check.unknown_items == ()
    assert check.read_calls > 0  # list prices were read from TOP


def test_a_drop_below_a_floor_blocks_the_plan_naming_item_stack_and_floor(sandbox: Sandbox, tmp_path: Path) -> None:
    check = _checked(sandbox, tmp_path, item_discount("tea", "rate: 0.6", ["101", "103"]))
    # 6折: 101 → 60.00 is below its floor 70.00; 103 → 29.39 stays above half of 48.99.
    assert _rows(check) == [("103", 4899, 2939), ("101", 10000, 6000)]
    [blocked] = check.blocked
    assert blocked.startswith("demo-shop item 101 龙井: the worst-case price would drop to 60.00, below its floor 70.00")
    assert "ItemDiscount/tea (6折) 40.00 = 60.00" in blocked
    assert 'add metadata.allow_below_floor: "<reason>" to ItemDiscount/tea (campaigns/m1.yaml:1)' in blocked


def test_an_allowed_drop_below_the_floor_is_a_warning_with_its_reason(sandbox: Sandbox, tmp_path: Path) -> None:
    check = _checked(sandbox, tmp_path, item_discount("tea", "rate: 0.6", ["101"], allow="launch week"))
    assert check.blocked == ()
    [warning] = check.warnings
    assert "1 item(s) go below their price floor, allowed by metadata.allow_below_floor (ItemDiscount/tea: launch week)" in warning


def test_an_item_the_shop_does_not_have_is_named_with_its_manifest(sandbox: Sandbox, tmp_path: Path) -> None:
    check = _checked(sandbox, tmp_path, item_discount("tea", "rate: 0.9", ["101", "999"]))
    assert check.unknown_items == ("campaigns/m1.yaml:1: ItemDiscount/tea names item 999 (spec.items[1]), which shop demo-shop does not have on TOP",)
    assert _rows(check) == [("101", 10000, 9000)]  # the known item is still priced


@pytest.mark.parametrize("recorded", [True, False])
def test_a_changed_promotion_counts_as_last_applied_before_the_plan(sandbox: Sandbox, tmp_path: Path, recorded: bool) -> None:
    pin_clock(sandbox)
    stock_items(sandbox, SHOP_ITEMS)
    applied = desired(FLOORS, item_discount("tea", "rate: 0.8", ["101"]))
    edited = desired(FLOORS, item_discount("tea", "rate: 0.75", ["101"]))
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        assert apply_plan(plan_of(applied, store, client), store, one_client(client)).ok
        for resource in applied if recorded else []:  # what an apply records for drift and for this check
            store.put_applied_spec(resource.key, resource_to_data(resource))
        plan = plan_of(edited, store, client)
        assert [change.action.value for change in plan.changes] == ["update"]
        check = check_prices(plan, edited, store, one_client(client), NOW)
    # Before is 8折 as last applied (80.00); with nothing recorded the discount counts as absent
    # (the safe side: the change is checked whole, from the list price). After: 7.5折, 75.00.
    assert _rows(check) == [("101", 8000 if recorded else 10000, 7500)]


def test_a_plan_that_changes_no_promotion_reads_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        sandbox.clear_calls()
        check = check_prices(Plan(changes=()), desired(FLOORS), store, one_client(client), NOW)
    assert check == PriceCheck()
    assert sandbox.calls() == []
