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


# Token exchange and refresh change no shop: a read-only run (plan) may refresh its access token.
# Re-sending one is harmless for the shop (at worst TOP refuses a used code or refresh token and
# the user authorises again), so they are retried like reads.
AUTH_METHODS: frozenset[str] = frozenset({"taobao.top.auth.token.create", "taobao.top.auth.token.refresh"})


def is_write(method: str) -> bool:
    """True unless `method` is a known read or token call: an unknown method is treated as a write,
    the safe side."""
    return method not in READ_METHODS and method not in AUTH_METHODS
