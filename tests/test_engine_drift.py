"""engine.drift.find_drift on its own (issue 18.5): TOP compared with what was last applied,
through our real client against the sandbox over HTTP, without the CLI. A seller-console edit is
made with the same client, as the console would call TOP. find_drift is given no manifests: what
changed in git is not drift by construction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from reconciler.engine import apply_plan, find_drift, resource_to_data
from reconciler.model import Action, Resource, ResourceKey
from reconciler.state import StateStore
from reconciler.top import TopClient
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
from tests.test_e2e_price_guardrails import SHOP_ITEMS, item_discount

TEA = ResourceKey("demo-shop", "ItemDiscount", "tea")
RICE = ResourceKey("demo-shop", "ItemDiscount", "rice")
RANGE_ADD = "taobao.promotionmisc.activity.range.add"
ACTIVITY_DELETE = "taobao.promotionmisc.item.activity.delete"


@dataclass
class Shop:
    client: TopClient
    store: StateStore

    def activity_id(self, key: ResourceKey) -> int:
        link = self.store.get(key)
        assert link is not None
        return int(link.remote_id)


@contextmanager
def _applied(sandbox: Sandbox, tmp_path: Path, *, record: tuple[ResourceKey, ...] = (TEA, RICE)) -> Iterator[Shop]:
    """Two item discounts applied by the engine; the applied specs of `record` kept as apply keeps them."""
    pin_clock(sandbox)
    stock_items(sandbox, SHOP_ITEMS)
    resources: list[Resource] = desired(item_discount("tea", "rate: 0.8", ["101", "102"]), item_discount("rice", "rate: 0.9", ["104"]))
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        assert apply_plan(plan_of(resources, store, client), store, one_client(client)).ok
        for resource in resources:
            if resource.key in record:
                store.put_applied_spec(resource.key, resource_to_data(resource))
        sandbox.clear_calls()
        yield Shop(client, store)


def test_right_after_apply_nothing_drifted_and_nothing_is_written(sandbox: Sandbox, tmp_path: Path) -> None:
    with _applied(sandbox, tmp_path) as shop:
        report = find_drift(shop.store, one_client(shop.client), NOW)
    assert not report.found and report.drift == () and report.shops == []
    assert report.checked == 2 and report.not_checked == ()
    assert report.plan.read_calls > 0 and sandbox.writes() == []


def test_an_item_added_in_the_seller_console_is_drift_to_take_back(sandbox: Sandbox, tmp_path: Path) -> None:
    with _applied(sandbox, tmp_path) as shop:
        activity_id = shop.activity_id(TEA)
        shop.client.call(RANGE_ADD, {"activity_id": activity_id, "ids": "103"})
        sandbox.clear_calls()
        report = find_drift(shop.store, one_client(shop.client), NOW)
    assert report.found and report.shops == ["demo-shop"]
    [change] = report.drift
    assert change.key == TEA and change.action is Action.UPDATE
    # The change puts TOP back to what was applied: item 103 comes out of the activity.
    assert [(call.method, call.params) for call in change.calls] == [
        ("taobao.promotionmisc.activity.range.remove", {"activity_id": activity_id, "ids": "103"})
    ]
    assert change.details == ("- item 103",)
    assert sandbox.writes() == []


def test_an_activity_deleted_on_top_is_drift_to_create_again(sandbox: Sandbox, tmp_path: Path) -> None:
    with _applied(sandbox, tmp_path) as shop:
        shop.client.call(ACTIVITY_DELETE, {"activity_id": shop.activity_id(RICE)})
        report = find_drift(shop.store, one_client(shop.client), NOW)
    [change] = report.drift
    assert change.key == RICE and change.action is Action.CREATE
    assert "gone on TOP" in change.reason


def test_objects_without_an_applied_spec_are_listed_not_checked_even_when_changed(sandbox: Sandbox, tmp_path: Path) -> None:
    with _applied(sandbox, tmp_path, record=(TEA,)) as shop:
        shop.client.call(ACTIVITY_DELETE, {"activity_id": shop.activity_id(RICE)})
        report = find_drift(shop.store, one_client(shop.client), NOW)
    assert not report.found  # rice has no baseline: it is outside the drift plan
    assert report.checked == 1 and report.not_checked == (RICE,)


def test_with_no_baseline_at_all_nothing_is_read(sandbox: Sandbox, tmp_path: Path) -> None:
    with _applied(sandbox, tmp_path, record=()) as shop:
        report = find_drift(shop.store, one_client(shop.client), NOW)
    assert report.checked == 0 and report.not_checked == (RICE, TEA)
    assert report.plan.empty and sandbox.calls() == []
