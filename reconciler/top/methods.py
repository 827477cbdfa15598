"""Which TOP methods only read. Listed by hand: guessing from names would let a new write slip through."""

from __future__ import annotations

READ_METHODS: frozenset[str] = frozenset(
    {
        # platform
        "taobao.time.get",
        # items
        "taobao.item.seller.get",
        "taobao.items.inventory.get",
        "taobao.items.onsale.get",
        # shop coupons and promotions
        "taobao.promotion.activity.get",
        "taobao.promotion.coupons.get",
        "taobao.promotionmisc.activity.range.list.get",
        "taobao.promotionmisc.item.activity.get",
        "taobao.promotionmisc.item.activity.list.get",
        "taobao.promotionmisc.mjs.activity.get",
        "taobao.promotionmisc.mjs.activity.list.get",
        # Taoke
        "taobao.tbk.coupon.get",
        "taobao.tbk.dg.material.optional",
        "taobao.tbk.dg.vegas.tlj.report",
        "taobao.tbk.item.info.get",
        # item-pool activities
        "alibaba.wdk.marketing.itempool.queryactivity",
        "alibaba.wdk.marketing.itempool.queryitems",
    }
)


def is_write(method: str) -> bool:
    """True unless `method` is a known read: an unknown method is treated as a write, the safe side."""
    return method not in READ_METHODS
