"""engine.safety.threshold_violations on its own (issue 18.5): octoDNS-style thresholds on the
share of a shop's managed objects a plan updates or deletes, from plain Plan values."""

from __future__ import annotations

from reconciler.engine import threshold_violations
from reconciler.model import Action, Call, Change, DropLink, Plan, ResourceKey
from reconciler.settings import SafetySettings  # the settings root's safety group

CALL = (Call("taobao.example.write", {}),)


def _changes(shop: str, action: Action, count: int, *, calls: tuple[Call, ...] = CALL) -> list[Change]:
    return [Change(ResourceKey(shop, "ItemDiscount", f"{action.value}-{n}"), action, calls) for n in range(count)]


def _plan(changes: list[Change], **managed: int) -> Plan:
    return Plan(changes=tuple(changes), managed_counts={shop.replace("_", "-"): n for shop, n in managed.items()})


def test_updating_more_than_30_percent_of_a_shop_is_refused_with_the_figures() -> None:
    plan = _plan(_changes("demo-shop", Action.UPDATE, 4), demo_shop=10)
    assert threshold_violations(plan, SafetySettings()) == [
        "shop demo-shop: the plan would update 4 of 10 managed objects (40%, above the 30% threshold); "
        "check the manifests, then apply with --force if this is intended"
    ]


def test_exactly_at_the_threshold_passes() -> None:
    plan = _plan(_changes("demo-shop", Action.UPDATE, 3) + _changes("demo-shop", Action.DELETE, 3), demo_shop=10)
    assert threshold_violations(plan, SafetySettings()) == []


def test_replaces_count_as_updates_and_creates_count_as_nothing() -> None:
    plan = _plan(
        _changes("demo-shop", Action.REPLACE, 2) + _changes("demo-shop", Action.UPDATE, 2) + _changes("demo-shop", Action.CREATE, 50),
        demo_shop=10,
    )
    problems = threshold_violations(plan, SafetySettings())
    assert len(problems) == 1 and "would update 4 of 10" in problems[0]


def test_deletes_are_checked_apart_from_updates() -> None:
    plan = _plan(_changes("demo-shop", Action.DELETE, 5) + _changes("demo-shop", Action.UPDATE, 1), demo_shop=10)
    problems = threshold_violations(plan, SafetySettings())
    assert len(problems) == 1 and "would delete 5 of 10 managed objects (50%" in problems[0]


def test_forgetting_what_is_already_gone_on_top_is_no_delete() -> None:
    # A delete without calls only drops the state entry of an object someone deleted on TOP.
    forget = _changes("demo-shop", Action.DELETE, 8, calls=())
    forget = [Change(c.key, c.action, (), effects=(DropLink(),)) for c in forget]
    assert threshold_violations(_plan(forget, demo_shop=10), SafetySettings()) == []


def test_small_shops_change_wholesale_and_force_lifts_the_check() -> None:
    small = _plan(_changes("demo-shop", Action.DELETE, 9), demo_shop=9)
    assert threshold_violations(small, SafetySettings()) == []
    assert threshold_violations(small, SafetySettings(min_objects=5)) != []
    big = _plan(_changes("demo-shop", Action.DELETE, 9), demo_shop=10)
    assert threshold_violations(big, SafetySettings(force=True)) == []


def test_each_shop_is_measured_against_its_own_managed_objects_in_name_order() -> None:
    plan = _plan(
        _changes("shop-b", Action.UPDATE, 4) + _changes("shop-a", Action.DELETE, 1) + _changes("shop-c", Action.DELETE, 2),
        shop_a=10, shop_b=10, shop_c=4,
    )
    problems = threshold_violations(plan, SafetySettings(min_objects=4, delete_threshold=0.4))
    assert [p.split(":")[0] for p in problems] == ["shop shop-b", "shop shop-c"]
    assert "delete 2 of 4 managed objects (50%, above the 40% threshold)" in problems[1]
