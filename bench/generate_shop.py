"""The benchmark shop: a large, deterministic shop definition, its manifests, its sandbox items,
and the "1 % random edit" the benchmarks apply to it.

The definition is plain data (no reconciler code), so the minimal call counts (bench/minimal.py)
are computed from it alone, independently of the planner. Sizes:

    full      1,000 item-pool activities x 200 items, 2,000 listing items, 40 shop coupons,
              100 item discounts + 100 full discounts (issue 9)
    reduced   pools of the same size, 1/10 as many; 1/5 to 1/20 of the rest (CI)
    tiny      a few of each (the pytest smoke test)

Pool skus are items of the shop (the plan checks every sku a changed pool names against the
shop's items: reconciler/engine/references.py): the sandbox gets one item in the warehouse per
sku, with the sku as its outer_id (商家编码), for the skus before and after the 1 % edit. At the
large sizes the pools draw their skus from one catalogue of SKU_CODES codes, as a supermarket's
activities share its products; one item per pool slot (200,000) would be more than TOP's list
calls can page through (inventory.get stops at page 101).

Run it to look at the manifests:  python bench/generate_shop.py --size reduced --out /tmp/shop
(writes campaigns/*.yaml and items.json, the items to POST to the sandbox's /_sandbox/items).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

SHOP = "demo-shop"
GMT8 = timezone(timedelta(hours=8))
EDIT_SHARE = 0.01  # the "1 % random edit"
POOL_FILE_SIZE = 50  # activities per generated manifest file
BENCH_FLOOR = f"""\
apiVersion: campaigns/v1
kind: PriceFloor
metadata: {{name: bench-floor, shop: {SHOP}}}
spec:
  min_share_of_list: 0.01
"""
FIRST_ITEM_ID = 880_000_000_001
FIRST_POOL_ITEM_ID = 890_000_000_001  # the items the pools' skus name (outer_id = sku)
STOCK = 10
DENOMINATIONS = ("3", "5", "10", "20", "50", "100")


@dataclass(frozen=True)
class Size:
    activities: int
    items_per_activity: int
    listing_items: int
    coupons: int
    item_discounts: int
    full_discounts: int
    windows: int  # listing windows the listing items are split into (half open, half closed)
    sku_codes: int | None = None  # distinct skus the pools draw from; None: each pool has its own


SIZES: dict[str, Size] = {
    "full": Size(1000, 200, 2000, 40, 100, 100, windows=20, sku_codes=10_000),
    "reduced": Size(100, 200, 400, 10, 10, 10, windows=8, sku_codes=5_000),  # pools as large as the full size's
    "tiny": Size(4, 6, 40, 3, 2, 2, windows=4),
}


# ---- the definition ------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """An item-pool activity: activity-level fields (`decrease`, `title`) and its items (sku → fix price or None)."""

    title: str
    decrease: str  # yuan off an order of 30 yuan, stair 1
    items: Mapping[str, str | None]


@dataclass(frozen=True)
class ListingWindowDef:
    open: bool  # open: always on sale; closed: on sale only on a day far ahead
    items: tuple[int, ...]


@dataclass(frozen=True)
class CouponDef:
    denomination: str  # whole yuan
    order_at_least: str  # whole yuan


@dataclass(frozen=True)
class DiscountDef:
    """An item discount (kind ItemDiscount) or a full discount (FullDiscount, level shop or item)."""

    title: str
    value: str  # rate (item discount, "0.85") or yuan off (full discount)
    items: tuple[int, ...] | None  # None: the whole shop
    level: str = "shop"  # full discounts only


@dataclass(frozen=True)
class ShopDef:
    now: datetime
    pools: Mapping[str, Pool]
    windows: Mapping[str, ListingWindowDef]
    coupons: Mapping[str, CouponDef]
    item_discounts: Mapping[str, DiscountDef]
    full_discounts: Mapping[str, DiscountDef]
    catalogue: tuple[int, ...] = field(default=())  # every listing item id
    pool_codes: tuple[str, ...] = field(default=())  # every sku the pools name, before and after the 1 % edit

    def on_sale_wanted(self) -> dict[int, bool]:
        """Each listing item: should it be on sale now (its window is open)?"""
        return {item: window.open for window in self.windows.values() for item in window.items}


def generate(size: Size, *, seed: int = 9, now: datetime | None = None) -> ShopDef:
    rng = random.Random(seed)
    now = now or datetime.now(GMT8)
    catalogue = tuple(range(FIRST_ITEM_ID, FIRST_ITEM_ID + size.listing_items))
    sku_rng = random.Random(f"{seed}:skus")  # its own, so the rest of the shop is drawn as before
    shop = ShopDef(
        now=now,
        pools={f"pool-{i:04d}": _pool(i, size, rng, sku_rng) for i in range(size.activities)},
        windows=_windows(catalogue, size.windows),
        coupons={f"coupon-{i:03d}": CouponDef(DENOMINATIONS[i % len(DENOMINATIONS)], str(200 + 10 * i))
                 for i in range(size.coupons)},
        item_discounts={f"item-discount-{i:03d}": _discount(f"单品{i}", f"0.{rng.randint(50, 95)}", catalogue, i, rng)
                        for i in range(size.item_discounts)},
        full_discounts={f"full-discount-{i:03d}": replace(
            _discount(f"满就送{i}", str(rng.randint(5, 50)), catalogue, i, rng), level=("shop", "item")[i % 2])
            for i in range(size.full_discounts)},
        catalogue=catalogue,
    )
    return replace(shop, pool_codes=tuple(sorted(_skus_named(shop) | _skus_named(one_percent_edit(shop)))))


def _pool(index: int, size: Size, rng: random.Random, sku_rng: random.Random) -> Pool:
    if size.sku_codes is None:
        skus = [_sku(index, n) for n in range(size.items_per_activity)]
    else:
        skus = [_sku(0, n) for n in sorted(sku_rng.sample(range(size.sku_codes), size.items_per_activity))]
    items = {sku: (f"{rng.randint(1, 49)}.90" if rng.random() < 0.25 else None) for sku in skus}
    return Pool(title=f"商品池{index}满30减", decrease=f"{rng.randint(3, 12)}.00", items=items)


def _sku(activity: int, serial: int) -> str:
    return f"69{activity:05d}{serial:06d}"


def _skus_named(shop: ShopDef) -> set[str]:
    return {sku for pool in shop.pools.values() for sku in pool.items}


def _windows(catalogue: tuple[int, ...], count: int) -> dict[str, ListingWindowDef]:
    share = -(-len(catalogue) // count)
    return {
        f"window-{n:02d}": ListingWindowDef(open=n % 2 == 0, items=catalogue[n * share : (n + 1) * share])
        for n in range(count)
    }


def _discount(title: str, value: str, catalogue: tuple[int, ...], index: int, rng: random.Random) -> DiscountDef:
    if index % 5 == 4:  # one in five for the whole shop
        return DiscountDef(title, value, None)
    count = rng.randint(10, min(120, len(catalogue)))
    return DiscountDef(title, value, tuple(sorted(rng.sample(catalogue, count))))


# ---- the 1 % random edit --------------------------------------------------------------------


def one_percent_edit(shop: ShopDef, *, seed: int = 91) -> ShopDef:
    """1 % of each part of the shop changed at random (at least one of each): pool items removed,
    added or repriced; activities changed (a replace on TOP); listing items moved to a window of the
    other state; coupons changed (a new coupon); discounts changed in value or in their items."""
    rng = random.Random(seed)
    return replace(
        shop,
        pools=_edit_pools(shop.pools, rng),
        windows=_edit_windows(shop.windows, rng),
        coupons=_edit_coupons(shop.coupons, rng),
        item_discounts=_edit_discounts(shop.item_discounts, shop.catalogue, rng, rate=True),
        full_discounts=_edit_discounts(shop.full_discounts, shop.catalogue, rng, rate=False),
    )


def _share(count: int) -> int:
    return max(1, round(count * EDIT_SHARE)) if count else 0


def _edit_pools(pools: Mapping[str, Pool], rng: random.Random) -> dict[str, Pool]:
    edited = {name: dict(pool.items) for name, pool in pools.items()}
    slots = [(name, sku) for name, pool in sorted(pools.items()) for sku in pool.items]
    for serial, (name, sku) in enumerate(rng.sample(slots, _share(len(slots)))):
        items = edited[name]
        action = serial % 3
        if action == 0:
            del items[sku]
        elif action == 1:
            del items[sku]
            items[f"{sku}9"] = None  # another sku instead
        else:
            items[sku] = "1.90" if items[sku] != "1.90" else "2.90"
    changed = set(rng.sample(sorted(pools), _share(len(pools))))
    return {
        name: Pool(
            title=pool.title,
            decrease=(f"{int(pool.decrease.split('.')[0]) + 1}.00" if name in changed else pool.decrease),
            items=edited[name],
        )
        for name, pool in pools.items()
    }


def _edit_windows(windows: Mapping[str, ListingWindowDef], rng: random.Random) -> dict[str, ListingWindowDef]:
    items = {name: list(window.items) for name, window in windows.items()}
    placed = [(name, item) for name, window in sorted(windows.items()) for item in window.items]
    opposite = {True: sorted(n for n, w in windows.items() if not w.open), False: sorted(n for n, w in windows.items() if w.open)}
    for name, item in rng.sample(placed, _share(len(placed))):
        target = rng.choice(opposite[windows[name].open])
        items[name].remove(item)
        items[target].append(item)
    return {name: ListingWindowDef(window.open, tuple(sorted(items[name]))) for name, window in windows.items()}


def _edit_coupons(coupons: Mapping[str, CouponDef], rng: random.Random) -> dict[str, CouponDef]:
    edited = dict(coupons)
    for name in rng.sample(sorted(coupons), _share(len(coupons))):
        edited[name] = replace(coupons[name], order_at_least=str(int(coupons[name].order_at_least) + 1))
    return edited


def _edit_discounts(
    discounts: Mapping[str, DiscountDef], catalogue: tuple[int, ...], rng: random.Random, *, rate: bool
) -> dict[str, DiscountDef]:
    edited = dict(discounts)
    for serial, name in enumerate(rng.sample(sorted(discounts), _share(len(discounts)))):
        old = discounts[name]
        if old.items is None or serial % 2 == 0:  # the value changes: one update call
            value = f"0.{int(old.value[2:]) - 1}" if rate else str(int(old.value) + 1)
            edited[name] = replace(old, value=value)
        else:  # a few items leave, as many others join
            leaving = set(rng.sample(old.items, min(3, len(old.items))))
            joining = rng.sample(sorted(set(catalogue) - set(old.items)), len(leaving))
            edited[name] = replace(old, items=tuple(sorted((set(old.items) - leaving) | set(joining))))
    return edited


# ---- manifests -----------------------------------------------------------------------------


SHOP_PROFILE = f"""\
apiVersion: campaigns/v1
kind: Shop
metadata:
  name: {SHOP}
spec:
  sign_method: hmac-sha256
  env: {{app_key: TOP_APP_KEY, app_secret: TOP_APP_SECRET, session: TOP_SESSION, gateway: TOP_GATEWAY}}
"""


def write_manifests(shop: ShopDef, directory: Path) -> Path:
    """Plain YAML files under directory/campaigns (replaced if present); returns that directory."""
    campaigns = directory / "campaigns"
    campaigns.mkdir(parents=True, exist_ok=True)
    for old in campaigns.glob("*.yaml"):
        old.unlink()
    (campaigns / "shops.yaml").write_text(SHOP_PROFILE, encoding="utf-8")
    # The random promotions stack deep by design (a 5折 discount under two 满减 reach 12 % of the
    # list price); a declared floor replaces the default one of 30 % (reconciler/pricing/floors.py)
    # so the guardrail still runs on every item without blocking the benchmark.
    (campaigns / "floors.yaml").write_text(BENCH_FLOOR, encoding="utf-8")
    names = sorted(shop.pools)
    for start in range(0, len(names), POOL_FILE_SIZE):
        chunk = names[start : start + POOL_FILE_SIZE]
        text = "---\n".join(pool_yaml(name, shop.pools[name], shop.now) for name in chunk)
        (campaigns / f"pools-{start // POOL_FILE_SIZE:03d}.yaml").write_text(text, encoding="utf-8")
    sections = {
        "listing.yaml": (window_yaml(name, window, shop.now) for name, window in sorted(shop.windows.items())),
        "coupons.yaml": (coupon_yaml(name, coupon, shop.now) for name, coupon in sorted(shop.coupons.items())),
        "discounts.yaml": (
            *(item_discount_yaml(name, d, shop.now) for name, d in sorted(shop.item_discounts.items())),
            *(full_discount_yaml(name, d, shop.now) for name, d in sorted(shop.full_discounts.items())),
        ),
    }
    for file_name, documents in sections.items():
        text = "---\n".join(documents)
        if text:
            (campaigns / file_name).write_text(text, encoding="utf-8")
    return campaigns


def _iso(moment: datetime) -> str:
    return moment.astimezone(GMT8).replace(microsecond=0).isoformat()


def _day(now: datetime, days: int) -> datetime:
    start: date = now.astimezone(GMT8).date() + timedelta(days=days)
    return datetime(start.year, start.month, start.day, tzinfo=GMT8)


def _header(kind: str, name: str, below_floor: str | None = None) -> str:
    extra = f", allow_below_floor: {below_floor}" if below_floor else ""
    return f"apiVersion: campaigns/v1\nkind: {kind}\nmetadata: {{name: {name}, shop: {SHOP}{extra}}}\n"


# At the reduced and full sizes a 折 discount under three shop-wide 满减 takes a basket of two to
# 0.00, below any floor (PriceFloor needs a share above 0): the guardrail still prices every item,
# and says so, but the benchmark's random discounts are allowed through.
BELOW_FLOOR = '"benchmark: random stacks are deep by design"'


def pool_yaml(name: str, pool: Pool, now: datetime) -> str:
    items = "\n".join(
        f'    - {{sku: "{sku}", fix_price: "{price}"}}' if price else f'    - {{sku: "{sku}"}}'
        for sku, price in pool.items.items()
    )
    return _header("ItemPoolActivity", name) + f"""\
spec:
  title: {pool.title}{pool.decrease}
  description: benchmark pool {name}
  window: {{start: "{_iso(_day(now, 200))}", end: "{_iso(_day(now, 203))}"}}
  shop_ids: ["1001", "1002"]
  terminals: [app, pos]
  limits: {{per_user_daily: 5, per_user: 20, total: 5000, daily: 1000}}
  period: {{weekdays: [mon, fri], daily: ["03:00-05:00"]}}
  stairs:
    - when: {{amount_at_least: "30.00"}}
      discount: {{decrease: "{pool.decrease}"}}
    - when: {{count_at_least: 3}}
      discount: {{rate: 0.6}}
  items:
{items}
"""


def window_yaml(name: str, window: ListingWindowDef, now: datetime) -> str:
    items = ", ".join(f'"{item}"' for item in window.items)
    on_sale = "" if window.open else (
        f'  on_sale:\n    dates:\n      - {{start: "{_iso(_day(now, 300))}", end: "{_iso(_day(now, 301))}"}}\n'
    )
    return _header("ListingWindow", name) + f"spec:\n  items: [{items}]\n{on_sale}"


def coupon_yaml(name: str, coupon: CouponDef, now: datetime) -> str:
    end = _day(now, 91) - timedelta(seconds=1)
    return _header("ShopCoupon", name) + f"""\
spec:
  denomination: "{coupon.denomination}.00"
  order_at_least: "{coupon.order_at_least}.00"
  window: {{start: "{_iso(_day(now, 7))}", end: "{_iso(end)}"}}
"""


def _items_yaml(items: tuple[int, ...] | None) -> str:
    return "all" if items is None else "[" + ", ".join(f'"{item}"' for item in items) + "]"


def item_discount_yaml(name: str, discount: DiscountDef, now: datetime) -> str:
    return _header("ItemDiscount", name, BELOW_FLOOR) + f"""\
spec:
  title: {discount.title}
  window: {{start: "{_iso(_day(now, 30))}", end: "{_iso(_day(now, 40))}"}}
  discount: {{rate: {discount.value}}}
  items: {_items_yaml(discount.items)}
"""


def full_discount_yaml(name: str, discount: DiscountDef, now: datetime) -> str:
    return _header("FullDiscount", name, BELOW_FLOOR) + f"""\
spec:
  title: {discount.title}
  level: {discount.level}
  window: {{start: "{_iso(_day(now, 30))}", end: "{_iso(_day(now, 40))}"}}
  when: {{amount_at_least: "99.00"}}
  reward: {{decrease: "{discount.value}.00"}}
  items: {_items_yaml(discount.items)}
"""


# ---- sandbox state ---------------------------------------------------------------------------


def sandbox_items(shop: ShopDef) -> dict[str, object]:
    """The body for the sandbox's POST /_sandbox/items: the listing items, all in the warehouse
    with stock, and one item per pool sku (its outer_id), in the warehouse too, replacing the
    sandbox's generated catalogue. Everything else starts empty."""
    listing = [
        {"num_iid": item, "title": f"商品{item}", "approve_status": "instock", "num": STOCK, "price": "59.00"}
        for item in shop.catalogue
    ]
    pool_items = [
        {"num_iid": FIRST_POOL_ITEM_ID + n, "title": f"池商品{sku}", "approve_status": "instock", "num": STOCK,
         "price": "59.00", "outer_id": sku}
        for n, sku in enumerate(shop.pool_codes)
    ]
    return {"shop": SHOP, "replace": True, "items": listing + pool_items}


def warehouse_size(shop: ShopDef) -> int:
    """Items the sandbox holds for the shop (sandbox_items), all in the warehouse at first."""
    return len(shop.catalogue) + len(shop.pool_codes)


# ---- a plain nested-dict copy, for the deepdiff baseline ------------------------------------


def plain_tree(shop: ShopDef) -> dict[str, object]:
    """The shop as nested dicts and lists of plain values, the way a generic differ sees it."""
    return {
        "pools": {
            name: {
                "title": pool.title + pool.decrease,
                "stairs": [
                    {"when": {"amount_at_least": "30.00"}, "discount": {"decrease": pool.decrease}},
                    {"when": {"count_at_least": 3}, "discount": {"rate": "0.6"}},
                ],
                "items": {sku: ({"fix_price": price} if price else {}) for sku, price in pool.items.items()},
            }
            for name, pool in shop.pools.items()
        },
        "windows": {name: {"open": w.open, "items": list(w.items)} for name, w in shop.windows.items()},
        "coupons": {name: {"denomination": c.denomination, "order_at_least": c.order_at_least}
                    for name, c in shop.coupons.items()},
        "discounts": {
            name: {"title": d.title, "value": d.value, "level": d.level, "items": list(d.items) if d.items else "all"}
            for name, d in _all_discounts(shop)
        },
    }


def _all_discounts(shop: ShopDef) -> Iterator[tuple[str, DiscountDef]]:
    yield from shop.item_discounts.items()
    yield from shop.full_discounts.items()


def pool_item_count(shop: ShopDef) -> int:
    return sum(len(pool.items) for pool in shop.pools.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", choices=sorted(SIZES), default="reduced")
    parser.add_argument("--out", required=True, type=Path, help="directory for campaigns/ and items.json")
    parser.add_argument("--edited", action="store_true", help="write the shop after the 1 %% random edit")
    args = parser.parse_args(argv)
    shop = generate(SIZES[args.size])
    if args.edited:
        shop = one_percent_edit(shop)
    campaigns = write_manifests(shop, args.out)
    (args.out / "items.json").write_text(json.dumps(sandbox_items(shop)), encoding="utf-8")
    print(f"wrote {campaigns} ({len(shop.pools)} pools, {pool_item_count(shop)} pool items) and {args.out / 'items.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
