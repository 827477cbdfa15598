"""engine.plan.order_changes on its own (issue 18.5): the order apply sends changes in, from
plain Change values, without the CLI or TOP. A grant refers to its coupon (CouponGrant.depends_on),
so it is created after the coupon and deleted before it."""

from __future__ import annotations

from reconciler.engine import order_changes
from reconciler.model import Action, Change, ResourceKey


def _change(shop: str, kind: str, name: str, action: Action) -> Change:
    return Change(key=ResourceKey(shop, kind, name), action=action, calls=())


def _addresses(changes: list[Change]) -> list[str]:
    return [f"{c.key} {c.action.value}" for c in changes]


def test_deletes_come_first_and_a_grant_is_deleted_before_its_coupon() -> None:
    changes = [
        _change("s", "ShopCoupon", "old-coupon", Action.DELETE),
        _change("s", "ShopCoupon", "new-coupon", Action.CREATE),
        _change("s", "CouponGrant", "old-grant", Action.DELETE),
    ]
    assert _addresses(order_changes(changes)) == [
        "s/CouponGrant/old-grant delete",  # the grant goes first: it refers to the coupon
        "s/ShopCoupon/old-coupon delete",
        "s/ShopCoupon/new-coupon create",
    ]


def test_a_coupon_is_created_before_the_grant_that_sends_it() -> None:
    changes = [
        _change("s", "CouponGrant", "vip", Action.CREATE),
        _change("s", "ShopCoupon", "vip-20", Action.REPLACE),
    ]
    assert _addresses(order_changes(changes)) == ["s/ShopCoupon/vip-20 replace", "s/CouponGrant/vip create"]


def test_within_a_kind_replaces_then_creates_then_updates_each_by_name() -> None:
    changes = [
        _change("s", "ItemDiscount", "b-update", Action.UPDATE),
        _change("s", "ItemDiscount", "a-update", Action.UPDATE),
        _change("s", "ItemDiscount", "z-create", Action.CREATE),
        _change("s", "ItemDiscount", "y-replace", Action.REPLACE),
        _change("s", "ItemDiscount", "c-create", Action.CREATE),
    ]
    assert _addresses(order_changes(changes)) == [
        "s/ItemDiscount/y-replace replace",
        "s/ItemDiscount/c-create create",
        "s/ItemDiscount/z-create create",
        "s/ItemDiscount/a-update update",
        "s/ItemDiscount/b-update update",
    ]


def test_changes_are_grouped_by_shop_in_name_order() -> None:
    changes = [
        _change("shop-b", "ShopCoupon", "x", Action.DELETE),
        _change("shop-a", "ShopCoupon", "y", Action.CREATE),
        _change("shop-b", "ShopCoupon", "w", Action.CREATE),
        _change("shop-a", "ShopCoupon", "z", Action.DELETE),
    ]
    # Each shop whole (its deletes first), so a plan reads shop by shop and apply's steps stay per shop.
    assert _addresses(order_changes(changes)) == [
        "shop-a/ShopCoupon/z delete",
        "shop-a/ShopCoupon/y create",
        "shop-b/ShopCoupon/x delete",
        "shop-b/ShopCoupon/w create",
    ]


def test_the_order_does_not_depend_on_the_input_order() -> None:
    changes = [
        _change("s", "CouponGrant", "g", Action.CREATE),
        _change("s", "ShopCoupon", "c", Action.CREATE),
        _change("s", "ShopCoupon", "old", Action.DELETE),
        _change("s", "CouponGrant", "old-g", Action.DELETE),
        _change("s", "ItemDiscount", "d", Action.UPDATE),
    ]
    expected = order_changes(changes)
    assert order_changes(list(reversed(changes))) == expected
    assert order_changes(expected) == expected  # ordering an ordered plan changes nothing
    assert order_changes([]) == []
