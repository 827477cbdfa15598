"""The minimal number of TOP calls for the benchmark shop, computed from its definition alone.

Nothing here asks the planner: the counts follow from what each TOP method can do (the method
pages in shared/top-api, summed up in each kind module's docstring):

- item-pool activity: no update and no list call. A new activity is one create plus one additem
  per item; a changed activity is deleted and created again with all its items; otherwise each
  item that leaves is one removeitem, each that joins one additem, and a repriced item both
  (additem is the only way to set an item's price). Reading one needs queryactivity by id and
  queryitems pages of 100.
- listing: one listing or delisting call per item whose on-sale state differs from what its
  window wants now. Reading is the paged list calls (200 a page): onsale, and the warehouse twice
  (for_shelved, sold_out), which also holds one item per pool sku (generate_shop.sandbox_items).
- shop coupon: no update; a new or changed coupon is one coupon.add. coupons.get pages of 20.
- item / full discount: one add, plus range.add per 50 items; a changed value is one update
  (it takes every field); items leave and join by range.remove / range.add, 50 ids a call, or
  one range.all.remove when all leave and that would take more than one call. Reading is the
  list pages (50; full discounts one walk per level), one get per activity (the list shows only
  the main fields) and one range.list per activity that names its items.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from bench.generate_shop import DiscountDef, Pool, ShopDef, warehouse_size

POOL = "alibaba.wdk.marketing.itempool."
CREATE, DELETE, ADD_ITEM, REMOVE_ITEM = (POOL + m for m in ("activity.create", "deleteactivity", "additem", "removeitem"))
QUERY, QUERY_ITEMS = POOL + "queryactivity", POOL + "queryitems"
LISTING, DELISTING = "taobao.item.update.listing", "taobao.item.update.delisting"
ONSALE, INVENTORY = "taobao.items.onsale.get", "taobao.items.inventory.get"
COUPON_ADD, COUPONS_GET = "taobao.promotion.coupon.add", "taobao.promotion.coupons.get"
MISC = "taobao.promotionmisc."
RANGE_ADD, RANGE_REMOVE, RANGE_ALL_REMOVE, RANGE_LIST = (
    MISC + "activity.range." + m for m in ("add", "remove", "all.remove", "list.get")
)
ITEM_FAMILY, MJS_FAMILY = MISC + "item.activity", MISC + "mjs.activity"

POOL_ITEMS_PAGE = 100
LISTING_PAGE = 200
COUPON_PAGE = 20
MISC_PAGE = 50
IDS_PER_CALL = 50
MJS_TYPES = {"item": 1, "shop": 2}


def _pages(count: int, size: int) -> int:
    """A list walk always reads its first page, even when it is empty."""
    return max(1, -(-count // size))


def _batches(count: int) -> int:
    return -(-count // IDS_PER_CALL)


# ---- writes ----------------------------------------------------------------------------------


def minimal_writes(before: ShopDef | None, after: ShopDef) -> Counter[str]:
    """Write calls that take TOP from `before` applied (None: nothing managed yet, every listing
    item in the warehouse) to `after`. Nothing is removed from the manifests, so nothing is pruned."""
    calls: Counter[str] = Counter()
    for name, pool in after.pools.items():
        calls += _pool_writes(before.pools.get(name) if before else None, pool)
    calls += _listing_writes(before, after)
    for name, coupon in after.coupons.items():
        if before is None or before.coupons.get(name) != coupon:
            calls[COUPON_ADD] += 1
    for family, discounts, earlier in (
        (ITEM_FAMILY, after.item_discounts, before.item_discounts if before else {}),
        (MJS_FAMILY, after.full_discounts, before.full_discounts if before else {}),
    ):
        for name, discount in discounts.items():
            calls += _discount_writes(family, earlier.get(name), discount)
    return +calls


def _pool_writes(old: Pool | None, new: Pool) -> Counter[str]:
    if old is None:
        return Counter({CREATE: 1, ADD_ITEM: len(new.items)})
    if (old.title, old.decrease) != (new.title, new.decrease):
        return Counter({DELETE: 1, CREATE: 1, ADD_ITEM: len(new.items)})
    leaving = old.items.keys() - new.items.keys()
    joining = new.items.keys() - old.items.keys()
    repriced = [sku for sku in old.items.keys() & new.items.keys() if old.items[sku] != new.items[sku]]
    return Counter({REMOVE_ITEM: len(leaving) + len(repriced), ADD_ITEM: len(joining) + len(repriced)})


def _listing_writes(before: ShopDef | None, after: ShopDef) -> Counter[str]:
    on_sale_now = before.on_sale_wanted() if before else {}
    calls: Counter[str] = Counter()
    for item, wanted in after.on_sale_wanted().items():
        if wanted != on_sale_now.get(item, False):  # every item has stock: nothing else decides
            calls[LISTING if wanted else DELISTING] += 1
    return calls


def _discount_writes(family: str, old: DiscountDef | None, new: DiscountDef) -> Counter[str]:
    if old is None:
        return Counter({f"{family}.add": 1, RANGE_ADD: _batches(len(new.items or ()))})
    calls: Counter[str] = Counter()
    if (old.title, old.value, old.level) != (new.title, new.value, new.level):
        calls[f"{family}.update"] += 1
    leaving = set(old.items or ()) - set(new.items or ())
    joining = set(new.items or ()) - set(old.items or ())
    if leaving and leaving == set(old.items or ()) and _batches(len(leaving)) > 1:
        calls[RANGE_ALL_REMOVE] += 1
    else:
        calls[RANGE_REMOVE] += _batches(len(leaving))
    calls[RANGE_ADD] += _batches(len(joining))
    return calls


# ---- reads -----------------------------------------------------------------------------------


def minimal_reads(shop: ShopDef, live: ShopDef | None, coupons_on_top: int) -> Counter[str]:
    """Read calls a plan of `shop` needs when TOP holds `live` (None: nothing applied yet, every
    listing item in the warehouse): every managed object read once, and the listable kinds' list
    pages. `coupons_on_top` counts every coupon created (a changed coupon leaves the old one valid)."""
    calls: Counter[str] = Counter()
    for pool in (live.pools.values() if live else ()):
        calls[QUERY] += 1
        calls[QUERY_ITEMS] += _pages(len(pool.items), POOL_ITEMS_PAGE)
    on_sale = sum(live.on_sale_wanted().values()) if live else 0
    catalogue = warehouse_size(shop)  # the listing items and one item per pool sku (sandbox_items)
    calls[ONSALE] += _pages(on_sale, LISTING_PAGE)
    calls[INVENTORY] += _pages(catalogue - on_sale, LISTING_PAGE) + _pages(0, LISTING_PAGE)  # for_shelved, sold_out
    calls[COUPONS_GET] += _pages(coupons_on_top, COUPON_PAGE)
    calls += _discount_reads(ITEM_FAMILY, live.item_discounts if live else {}, walks=[None])
    calls += _discount_reads(MJS_FAMILY, live.full_discounts if live else {}, walks=list(MJS_TYPES))
    return +calls


def _discount_reads(family: str, live: Mapping[str, DiscountDef], walks: list[str | None]) -> Counter[str]:
    calls: Counter[str] = Counter()
    for level in walks:
        listed = [d for d in live.values() if level is None or d.level == level]
        calls[f"{family}.list.get"] += _pages(len(listed), MISC_PAGE)
    calls[f"{family}.get"] += len(live)
    calls[RANGE_LIST] += sum(1 for d in live.values() if d.items is not None)
    return calls
