"""ShopCoupon without a network: the unit traps (yuan on add, fen from coupons.get, GMT+8 wall
times), what a changed or removed coupon plans and says, the 50-coupon cap, and recovery."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

import pytest

from reconciler.errors import ManifestError, PlanError
from reconciler.kinds.base import LiveState, NormaliseContext, Phase, PlanContext
from reconciler.kinds.shop_coupon import ADD, LIST, ShopCoupon, add_months, content_of, list_view
from reconciler.kinds.units import GMT8, UnitError, parse_top_datetime, whole_yuan
from reconciler.manifest import load_manifest_texts
from reconciler.model import Action, Link, Ref, Resource, SetLink

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=GMT8)
SHOPS = """\
apiVersion: campaigns/v1
kind: Shop
metadata: {name: demo-shop}
"""
KIND = ShopCoupon()


def manifest(name: str = "welcome-10", denomination: str = '"10.00"', threshold: str = '"99.00"',
             window: str = '{start: "2027-01-01T00:00:00+08:00", end: "2027-03-31T23:59:59+08:00"}') -> str:
    return f"""\
apiVersion: campaigns/v1
kind: ShopCoupon
metadata: {{name: {name}, shop: demo-shop}}
spec:
  denomination: {denomination}
  order_at_least: {threshold}
  window: {window}
"""


def normalise(*texts: str) -> list[Resource]:
    loaded = load_manifest_texts([("shops.yaml", SHOPS)] + [(f"c{i}.yaml", t) for i, t in enumerate(texts)])
    return [KIND.normalise(doc, NormaliseContext(now=NOW)) for doc in loaded.documents]


def problems(text: str) -> list[str]:
    with pytest.raises(ManifestError) as caught:
        normalise(text)
    return [str(p) for p in caught.value.problems]


def ctx(resources: list[Resource], links: list[Link] = ()) -> PlanContext:  # type: ignore[assignment]
    return PlanContext(
        shop="demo-shop", now=NOW, desired={r.key: r for r in resources}, links={link.key: link for link in links}
    )


def row(coupon_id: int, denominations: int = 1000, condition: int = 9900, end: str = "2027-03-31 23:59:59") -> dict[str, Any]:
    """A coupons.get row: money in fen."""
    return {"coupon_id": coupon_id, "denominations": denominations, "condition": condition,
            "end_time": end, "creat_time": "2026-11-01 10:00:00", "create_channel": "自己创建"}


class FakeTop:
    """Answers coupons.get from a list of rows, 20 per page, and counts the calls."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.calls: list[tuple[str, Mapping[str, Any]]] = []

    def call(self, method: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        params = params or {}
        self.calls.append((method, params))
        assert method == LIST
        selected = [r for r in self.rows if "coupon_id" not in params or r["coupon_id"] == params["coupon_id"]]
        page, size = int(params.get("page_no", 1)), int(params.get("page_size", 20))
        return {"total_results": len(selected), "coupons": {"coupon": selected[(page - 1) * size : page * size]}}


def linked(resource: Resource, coupon_id: str, **record: Any) -> Link:
    return Link(resource.key, coupon_id, {"add": dict(resource.spec["add"]), **record})


# --------------------------------------------------------------------------- units


def test_yuan_strings_become_whole_yuan_and_times_gmt8_wall_time() -> None:
    (coupon,) = normalise(manifest(window='{start: "2026-12-31T16:00:00Z", end: "2027-03-31T23:59:59+09:00"}'))
    assert coupon.spec["add"] == {
        "denominations": 10,  # coupon.add takes yuan, as a Long
        "condition": 99,
        "start_time": "2027-01-01 00:00:00",  # 16:00 UTC is midnight in GMT+8
        "end_time": "2027-03-31 22:59:59",  # +09:00 is an hour ahead of GMT+8
    }
    assert all(not isinstance(v, float) for v in coupon.spec["add"].values())


def test_coupons_get_fen_compare_equal_to_added_yuan() -> None:
    (coupon,) = normalise(manifest())
    assert list_view(coupon.spec["add"]) == {"denominations": 1000, "condition": 9900, "end_time": "2027-03-31 23:59:59"}
    # TOP's JSON numbers may arrive as Decimal or str; the comparison must not care.
    assert content_of(row(1, Decimal("1000"), Decimal("9900"))) == list_view(coupon.spec["add"])
    assert content_of({**row(1), "denominations": "1000"}) == list_view(coupon.spec["add"])


def test_whole_yuan_refuses_fen_and_floats() -> None:
    assert whole_yuan("20.00") == 20 and whole_yuan("3") == 3
    for bad in ("9.90", "0.01", 9.9):
        with pytest.raises(UnitError):
            whole_yuan(bad)
    assert parse_top_datetime("2027-03-31 23:59:59") == datetime(2027, 3, 31, 23, 59, 59, tzinfo=GMT8)
    with pytest.raises(UnitError):
        parse_top_datetime("2027-03-31T23:59:59")


def test_denomination_and_threshold_rules_name_the_field() -> None:
    found = problems(manifest(denomination='"7.00"'))
    assert any("c0.yaml:5" in p and "spec.denomination" in p for p in found), found
    below = problems(manifest(denomination='"20.00"', threshold='"19.00"'))
    assert any("spec.order_at_least" in p and "at least 20.00 yuan" in p for p in below), below
    fen = problems(manifest(threshold='"99.50"'))
    assert any("spec.order_at_least" in p for p in fen), fen
    (no_threshold,) = normalise(manifest(threshold='"0.00"'))
    assert no_threshold.spec["add"]["condition"] == 0


def test_an_ended_coupon_is_no_manifest_problem_but_a_window_without_offset_is() -> None:
    # Time moves while the file stays: an ended coupon is the plan's business (Kind.phase).
    (ended,) = normalise(manifest(window='{end: "2026-11-01T00:00:00+08:00"}'))
    assert KIND.phase(ended, ctx([ended])) is Phase.ENDED
    (live,) = normalise(manifest(window='{end: "2026-11-23T12:00:00+08:00"}'))  # its end second still counts
    assert KIND.phase(live, ctx([live], [Link(live.key, "5001", {})])) is Phase.LIVE
    # ...for a coupon that exists: one not made yet that ends before 23:59:59 today never can be.
    assert KIND.phase(live, ctx([live])) is Phase.ENDED
    (later,) = normalise(manifest())
    assert KIND.phase(later, ctx([later])) is Phase.NOT_STARTED
    naive = problems(manifest(window='{end: "2027-03-31T23:59:59"}'))
    assert any("spec.window.end" in p for p in naive), naive


# --------------------------------------------------------------------------- reading


def test_read_lists_every_page_and_reports_unmanaged_valid_coupons() -> None:
    (coupon,) = normalise(manifest())
    rows = [row(i, 500, 0) for i in range(1, 25)] + [row(99, end="2026-01-01 00:00:00")]  # 99 has ended
    top = FakeTop(rows)
    live = KIND.read_live(top, ctx([coupon], [linked(coupon, "3")]))
    assert [params["page_no"] for _, params in top.calls] == [1, 2]  # one paged list, nothing per coupon
    assert live.by_name["welcome-10"] == row(3, 500, 0)
    assert live.extra["valid_coupons"] == 24
    assert len(live.unmanaged) == 23 and "coupon 1: 5.00 yuan off any order" in live.unmanaged[0]
    assert not any("coupon 99" in line for line in live.unmanaged)


def test_a_declared_coupon_with_a_lookalike_on_top_is_noted() -> None:
    (coupon,) = normalise(manifest())
    ctx_ = ctx([coupon])
    live = KIND.read_live(FakeTop([row(7)]), ctx_)
    change = KIND.plan_change(coupon, None, live.by_name.get("welcome-10"), ctx_)
    assert change is not None and change.action is Action.CREATE
    assert any("unmanaged coupon 7 already has this content" in d for d in change.details)


# --------------------------------------------------------------------------- planning


def test_create_binds_the_new_coupon_id_for_grants() -> None:
    (coupon,) = normalise(manifest())
    change = KIND.plan_change(coupon, None, None, ctx([coupon]))
    assert change is not None
    (call,) = change.calls
    assert call.method == ADD and call.params == coupon.spec["add"]
    ref_name = f"{coupon.key}#id"
    assert call.binds == {ref_name: "coupon_id"}
    assert call.effects == (SetLink(Ref(ref_name), {"add": coupon.spec["add"], "retired": {}}),)


def test_unchanged_coupon_plans_nothing() -> None:
    (coupon,) = normalise(manifest())
    assert KIND.plan_change(coupon, linked(coupon, "5"), row(5), ctx([coupon])) is None


def test_changed_coupon_is_a_new_coupon_and_the_plan_says_the_old_stays() -> None:
    (old,) = normalise(manifest())
    (new,) = normalise(manifest(denomination='"20.00"'))
    change = KIND.plan_change(new, linked(old, "5"), row(5), ctx([new]))
    assert change is not None and change.action is Action.REPLACE
    assert [call.method for call in change.calls] == [ADD]  # no delete exists
    assert "cannot update or delete a shop coupon" in change.reason
    assert "old coupon 5 stays valid until 2027-03-31 23:59:59" in change.reason
    assert "denomination: 10.00 yuan → 20.00 yuan" in change.details
    assert change.wire_changes == ({"field": "denominations", "before": 10, "after": 20},)  # whole yuan, as sent
    effect = change.calls[0].effects[0]
    assert isinstance(effect, SetLink) and effect.record["retired"] == {"5": "2027-03-31 23:59:59"}


def test_start_time_change_is_a_new_coupon_too() -> None:
    (old,) = normalise(manifest())
    (new,) = normalise(manifest(window='{start: "2027-01-02T00:00:00+08:00", end: "2027-03-31T23:59:59+08:00"}'))
    change = KIND.plan_change(new, linked(old, "5"), row(5), ctx([new]))
    assert change is not None and any(d.startswith("start:") for d in change.details)


def test_imported_coupon_is_compared_by_what_top_shows() -> None:
    (coupon,) = normalise(manifest())
    adopted = Link(coupon.key, "5", {})
    assert KIND.plan_change(coupon, adopted, row(5), ctx([coupon])) is None
    change = KIND.plan_change(coupon, adopted, row(5, condition=0), ctx([coupon]))
    assert change is not None and "order threshold: 0.00 yuan → 99.00 yuan" in change.details


def test_coupon_gone_on_top_is_created_again() -> None:
    (coupon,) = normalise(manifest())
    change = KIND.plan_change(coupon, linked(coupon, "5"), None, ctx([coupon]))
    assert change is not None and change.action is Action.CREATE and "no longer on TOP" in change.reason


def test_removed_manifest_makes_no_call_and_says_the_coupon_stays() -> None:
    (coupon,) = normalise(manifest())
    change = KIND.plan_change(None, linked(coupon, "5"), row(5), ctx([]))
    assert change is not None and change.action is Action.DELETE
    assert change.calls == ()
    assert "TOP cannot delete a shop coupon" in change.reason
    assert "stays valid until 2027-03-31 23:59:59" in change.reason


# --------------------------------------------------------------------------- shop-wide rules


def _creates(count: int) -> tuple[list[Resource], list[Any]]:
    resources = normalise(*[manifest(f"c-{i}", window=f'{{end: "2027-03-{10 + i}T23:59:59+08:00"}}') for i in range(count)])
    changes = [KIND.plan_change(r, None, None, ctx(resources)) for r in resources]
    return resources, changes


def test_fifty_valid_coupons_cap_counts_live_and_planned() -> None:
    resources, changes = _creates(2)
    assert KIND.check_plan(changes, LiveState(extra={"valid_coupons": 48}), ctx(resources)) == []
    errors = KIND.check_plan(changes, LiveState(extra={"valid_coupons": 49}), ctx(resources))
    assert len(errors) == 1 and "at most 50" in errors[0] and "49 are valid now" in errors[0] and "51 in all" in errors[0]


def test_a_replace_counts_against_the_cap_since_the_old_coupon_stays() -> None:
    (old,) = normalise(manifest())
    (new,) = normalise(manifest(denomination='"20.00"'))
    change = KIND.plan_change(new, linked(old, "5"), row(5), ctx([new]))
    errors = KIND.check_plan([change], LiveState(extra={"valid_coupons": 50}), ctx([new]))
    assert any("at most 50" in e for e in errors)


def test_create_time_end_limits_are_checked_before_any_call() -> None:
    soon = normalise(manifest("soon", window='{end: "2026-11-23T18:00:00+08:00"}'))
    far = normalise(manifest("far", window='{end: "2027-06-01T00:00:00+08:00"}'))
    for resources, words in ((soon, "2026-11-23 23:59:59 (GMT+8) or later"), (far, "at most 6 months ahead")):
        changes = [KIND.plan_change(r, None, None, ctx(resources)) for r in resources]
        errors = KIND.check_plan(changes, LiveState(extra={"valid_coupons": 0}), ctx(resources))
        assert any(words in e for e in errors), errors


def test_six_months_is_calendar_months() -> None:
    assert add_months(datetime(2026, 8, 31, tzinfo=GMT8), 6) == datetime(2027, 2, 28, tzinfo=GMT8)
    assert add_months(datetime(2026, 11, 23, 12, tzinfo=GMT8), 6) == datetime(2027, 5, 23, 12, tzinfo=GMT8)


def test_two_coupons_with_the_same_content_are_refused() -> None:
    twins = normalise(manifest("a"), manifest("b"))
    errors = KIND.check_plan([], LiveState(), ctx(twins))
    assert len(errors) == 1 and "could not be told apart" in errors[0]


# --------------------------------------------------------------------------- recovery and import


def test_lost_add_is_found_by_content() -> None:
    (coupon,) = normalise(manifest())
    params = coupon.spec["add"]
    assert KIND.recover(FakeTop([row(1, 500, 0)]), ADD, params) is None  # certainly not created
    assert KIND.recover(FakeTop([row(1, 500, 0), row(8)]), ADD, params) == {"coupon_id": 8}
    with pytest.raises(PlanError, match="coupons 8, 9"):
        KIND.recover(FakeTop([row(8), row(9)]), ADD, params)


def test_import_checks_the_coupon_exists() -> None:
    (coupon,) = normalise(manifest())
    assert KIND.import_record(FakeTop([row(8)]), "8", coupon) == {}
    with pytest.raises(PlanError, match="no coupon 9"):
        KIND.import_record(FakeTop([row(8)]), "9", coupon)

