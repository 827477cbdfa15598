"""engine.apply.apply_plan on its own (issue 18.5): a plan made by the engine from the demo's
coupons and discounts is sent by apply_plan through our real client to the sandbox over HTTP,
without the CLI. What apply promises: exactly the plan's calls in the plan's order, ids an
earlier call returned filled in, the state store holding every call that succeeded, and after
a failure no new step started."""

from __future__ import annotations

import json
from pathlib import Path

from reconciler.engine import ApplyListener, apply_plan
from reconciler.errors import ReconcilerError
from reconciler.model import Call, Change, Plan, ResourceKey
from tests.conftest import Sandbox
from tests.engine_tools import (
    demo_manifest,
    desired,
    one_client,
    pin_clock,
    plan_of,
    set_faults,
    state_store,
    top_client,
)

COUPON_ADD = "taobao.promotion.coupon.add"
COUPON_SEND = "taobao.promotion.coupon.send"
ACTIVITY_ADD = "taobao.promotionmisc.item.activity.add"
RANGE_ADD = "taobao.promotionmisc.activity.range.add"


def _demo() -> list[str]:
    return [demo_manifest("coupons.yaml"), demo_manifest("discounts.yaml")]


def _sent(sandbox: Sandbox, method: str) -> list[dict[str, str]]:
    return [call["params"] for call in sandbox.writes() if call["method"] == method and call["ok"]]


def test_apply_sends_exactly_the_plans_calls_in_order_and_records_every_link(sandbox: Sandbox, tmp_path: Path) -> None:
    pin_clock(sandbox)
    resources = desired(*_demo())
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        plan = plan_of(resources, store, client)
        assert plan.counts()["create"] == 5 and plan.write_calls == 6
        sandbox.clear_calls()

        report = apply_plan(plan, store, one_client(client))

        assert report.ok and report.failed == [] and report.not_tried == []
        assert report.done == list(plan.changes) and report.calls_sent == plan.write_calls
        assert [call["method"] for call in sandbox.writes()] == [call.method for c in plan.changes for call in c.calls]
        assert {link.key for link in store.links()} == {change.key for change in plan.changes}
        # Once applied, the same manifests plan nothing.
        assert plan_of(resources, store, client).empty


def test_ids_an_earlier_call_returned_are_filled_into_later_calls(sandbox: Sandbox, tmp_path: Path) -> None:
    pin_clock(sandbox)
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        apply_plan(plan_of(desired(*_demo()), store, client), store, one_client(client))
        coupon = store.get(ResourceKey("demo-shop", "ShopCoupon", "vip-20-off-199"))
        discount = store.get(ResourceKey("demo-shop", "ItemDiscount", "double11-tea-85"))
    assert coupon is not None and discount is not None
    # Across changes: the grant sends the coupon created one step earlier.
    [send] = _sent(sandbox, COUPON_SEND)
    assert str(send["coupon_id"]) == coupon.remote_id
    # Within a change: the items go into the activity its first call created.
    [range_add] = _sent(sandbox, RANGE_ADD)
    assert str(range_add["activity_id"]) == discount.remote_id
    assert range_add["ids"] == "220000000101,220000000102,220000000103"


def test_a_failed_change_stops_later_steps_and_keeps_what_succeeded(sandbox: Sandbox, tmp_path: Path) -> None:
    pin_clock(sandbox)
    resources = desired(*_demo())
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        plan = plan_of(resources, store, client)
        set_faults(sandbox, {"error_rate": {RANGE_ADD: 1.0}})  # the discount's second call fails

        report = apply_plan(plan, store, one_client(client))

        assert not report.ok
        [(failed, error)] = report.failed
        assert failed.key.name == "double11-tea-85" and isinstance(error, ReconcilerError)
        # The grant is a later step (it depends on coupons): not started once a change failed.
        assert [change.key.name for change in report.not_tried] == ["vip-spring"]
        assert [change.key.kind for change in report.done] == ["ShopCoupon", "ShopCoupon", "FullDiscount"]
        # The activity TOP accepted is in the store, so the next plan does not create it again.
        assert store.get(failed.key) is not None
        set_faults(sandbox, {})
        again = plan_of(resources, store, client)
        methods = [call.method for change in again.changes for call in change.calls]
        assert ACTIVITY_ADD not in methods and COUPON_ADD not in methods
        assert RANGE_ADD in methods and COUPON_SEND in methods


class _Recorder(ApplyListener):
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None]] = []

    def call_started(self, change: Change, call: Call) -> None:
        self.events.append(("started", call.method, None))

    def call_finished(self, change: Change, call: Call, error: str | None) -> None:
        self.events.append(("finished", call.method, error))


def test_a_step_goes_out_in_parallel_and_the_report_keeps_plan_order(sandbox: Sandbox, tmp_path: Path) -> None:
    pin_clock(sandbox)
    coupons = "---\n".join(
        f"""\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata: {{name: coupon-{n}, shop: demo-shop}}
spec:
  denomination: "{d}.00"
  order_at_least: "{d * 10}.00"
  window: {{start: "2027-01-01T00:00:00+08:00", end: "2027-03-31T23:59:59+08:00"}}
"""
        for n, d in enumerate((3, 5, 10, 20))
    )
    listener = _Recorder()
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        plan = plan_of(desired(coupons), store, client)
        report = apply_plan(plan, store, one_client(client), listener=listener, parallelism=4)
        assert report.ok and report.done == list(plan.changes) and report.calls_sent == 4
        assert len(store.links()) == 4
    # Each call is announced before and after it is sent, with no error.
    assert sorted(listener.events) == sorted([("started", COUPON_ADD, None), ("finished", COUPON_ADD, None)] * 4)
    assert len({json.dumps(params, sort_keys=True) for params in _sent(sandbox, COUPON_ADD)}) == 4


def test_an_empty_plan_sends_nothing(sandbox: Sandbox, tmp_path: Path) -> None:
    with top_client(sandbox) as client, state_store(tmp_path) as store:
        report = apply_plan(Plan(changes=()), store, one_client(client))
    assert report.ok and report.done == [] and report.calls_sent == 0 and report.run_id
    assert sandbox.writes() == []
