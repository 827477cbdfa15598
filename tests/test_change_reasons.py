"""Reasons are true (issue 17.2): a replace or update says "the manifest changed" when only the
manifest changed, "changed outside the reconciler" only when TOP differs from what was last
applied, and both when both — per kind, through the sandbox over real HTTP."""

from __future__ import annotations

from tests.conftest import Sandbox, Workspace
from tests.test_e2e_coupons import coupon
from tests.test_e2e_discounts import known_items  # noqa: F401  (an autouse fixture)
from tests.test_e2e_discounts import ITEM_UPDATE, apply, direct_call, full_discount, item_discount, remote_id
from tests.test_e2e_item_pool import pool
from tests.test_e2e_taoke import gift

MANIFEST = "the manifest changed"
OUTSIDE = "changed outside the reconciler"


def planned(workspace: Workspace) -> str:
    result = workspace.run("plan", str(workspace.campaigns))
    assert result.exit_code in (0, 2), result.output
    return result.output


def tea_on_top_at(workspace: Workspace, rate: int) -> None:
    """The seller console sets the tea discount's rate (permille)."""
    direct_call(workspace, ITEM_UPDATE, {
        "activity_id": remote_id(workspace, "demo-shop/ItemDiscount/tea"), "name": "茶叶tea", "participate_range": 1,
        "start_time": "2027-11-01 00:00:00", "end_time": "2027-11-12 00:00:00", "is_discount": True,
        "discount_rate": rate,
    })


def test_item_discount_manifest_only_outside_only_and_both(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", item_discount(rate="0.85"))
    apply(workspace)

    workspace.write("discounts.yaml", item_discount(rate="0.8"))
    text = planned(workspace)
    assert MANIFEST in text and OUTSIDE not in text, text

    workspace.write("discounts.yaml", item_discount(rate="0.85"))
    tea_on_top_at(workspace, 500)
    text = planned(workspace)
    assert OUTSIDE in text and MANIFEST not in text, text

    workspace.write("discounts.yaml", item_discount(rate="0.8"))
    text = planned(workspace)
    assert f"{MANIFEST} and TOP differs from what was applied ({OUTSIDE})" in text, text


def test_full_discount_manifest_change_is_not_called_drift(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("discounts.yaml", full_discount(decrease="20.00"))
    apply(workspace)
    workspace.write("discounts.yaml", full_discount(decrease="25.00"))
    text = planned(workspace)
    assert MANIFEST in text and OUTSIDE not in text, text


def test_item_pool_stair_change_is_the_manifest_and_drift_agrees(workspace: Workspace, sandbox: Sandbox) -> None:
    # The bug of issue 17: 满30减12 → 满30减15 was called "changed outside the reconciler".
    workspace.write("pools.yaml", pool("fresh", decrease="12.00"))
    apply(workspace)
    workspace.write("pools.yaml", pool("fresh", decrease="15.00"))
    text = planned(workspace)
    assert "replace" in text and MANIFEST in text and OUTSIDE not in text, text
    drift = workspace.run("drift", str(workspace.campaigns))
    assert "no drift" in drift.output.lower(), drift.output


def test_shop_coupon_manifest_change_is_not_called_drift(workspace: Workspace, sandbox: Sandbox) -> None:
    workspace.write("coupons.yaml", coupon("welcome", denomination="10.00"))
    apply(workspace)
    workspace.write("coupons.yaml", coupon("welcome", denomination="20.00"))
    text = planned(workspace)
    assert MANIFEST in text and OUTSIDE not in text and "other content" not in text, text


def test_taoke_gift_manifest_change_is_the_manifest(workspace: Workspace, sandbox: Sandbox) -> None:
    # TOP shows no gift's settings, so a gift can only differ because its manifest changed.
    workspace.write("gifts.yaml", gift(per_face="5.00"))
    apply(workspace)
    workspace.write("gifts.yaml", gift(per_face="6.00"))
    text = planned(workspace)
    assert MANIFEST in text and OUTSIDE not in text, text
