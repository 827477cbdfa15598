"""A seller's items (``taobao.item*``, ``taobao.items.*``) as the sandbox emulates them.

Catalogue: every shop starts with a deterministic catalogue of 2,000 items generated from its
name (same shop, same items, on every machine), spread over 12 seller categories, some with
SKUs, some with no stock, some on sale and some in the warehouse. Tests replace or extend it
with ``POST /_sandbox/items`` (see :func:`setup_items`). Item ids are ``P * 10**9 + n`` and
seller category ids ``P * 10**6 + k`` with ``P = 100 + crc32(shop) % 800`` (220 for demo-shop).

Rules, from the method pages (``top-api/methods/*.json``):

``taobao.items.onsale.get``
  * ``fields`` is required (code 40) and may only name the fields its page lists (code 41).
  * ``page_size`` 1..200 (default 40), ``page_no`` from 1 (default 1); ``page_no * page_size``
    above 20,000 is code 41 (the page gives 20,000 under page_size and 100,000 under page_no;
    the sandbox enforces the stricter one).
  * Filters: ``q`` (title contains), ``cid``, ``seller_cids`` (comma-joined, at most 32),
    ``has_discount``, ``has_showcase``, ``start_modified`` / ``end_modified``; ``order_by``
    ``column:asc|desc`` over list_time, delist_time, num, modified, sold_quantity (default
    ``list_time:desc``; ties by num_iid so pages never overlap).
``taobao.items.inventory.get``
  * As onsale.get (its own field list, no sold_quantity order), ``page_no`` at most 101, and
    ``banner``: regular_shelved, never_on_shelf, off_shelf, sold_out, violation_off_shelf, or
    for_shelved (the default) = regular_shelved + never_on_shelf + off_shelf. **sold_out is not
    part of the default**: an item in the warehouse with no stock is only listed under
    ``banner=sold_out``.
``taobao.item.update.listing``
  * ``num_iid`` and ``num`` are required; ``num`` must be above 0 (取值范围:大于零的整数).
    Without SKUs the stock becomes ``num`` (the page: 商品数量根据设置数量调整为num); with SKUs
    the stock stays the SKUs' sum and an item whose SKUs hold nothing cannot be listed
    (``isv.item-out-of-stock``). Listing an item already on sale only sets its stock.
``taobao.item.update.delisting``
  * ``num_iid`` is required; delisting an item already in the warehouse succeeds unchanged.
``taobao.item.seller.get``
  * ``fields`` and ``num_iid`` are required; fields the sandbox does not model are left out
    (TOP leaves empty fields out too); ``sku`` returns ``skus``.
``taobao.item.quantity.update``
  * ``num_iid`` and ``quantity`` are required; ``type`` 1 (full, the default; quantity >= 0) or
    2 (incremental; the result may not go below 0, ``isv.quantity-below-zero``). An item with
    SKUs needs ``sku_id`` (``isv.item-has-skus``); an unknown ``sku_id`` is
    ``isv.sku-not-exist``. Stock changes never move an item on or off sale: an item that sells
    out stays on sale with 0 stock (the "sold out but still online" trouble sellers know).

Every method acts on the session's shop only: another shop's or an unknown ``num_iid`` is
``isv.item-not-exist`` (code 15). Times are ``yyyy-MM-dd HH:mm:ss`` GMT+8; ``seller_cids`` is
answered with surrounding commas (``",220000003,220000001,"``), one of the forms TOP answers.
Lists are bare arrays here and left out when empty; without ``simplify=true`` the server wraps
them with the shape spec's item names (``{"items": {"item": [...]}}``, ``skus`` → ``sku``; shapes.py).

State (per shop, namespace ``items``): ``{"generated": true, "items": {"<num_iid>": item}}``: the
generated catalogue is rebuilt from the shop name, and only items that changed (or were set up
by a test) are kept, overlaid on it; ``generated: false`` once a test replaced it. An item is
``{num_iid, title, approve_status, num, skus?, seller_cids, price, outer_id, cid, sold_quantity,
list_time, delist_time, modified (epoch ms), shelf}``; ``shelf`` says why an item with stock sits
in the warehouse (never_on_shelf, off_shelf, regular_shelved).
"""

from __future__ import annotations

import copy
import random
import zlib
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import lru_cache
from typing import Any

from reconciler.sandbox import params
from reconciler.sandbox.codec import GMT8, format_gmt8
from reconciler.sandbox.context import CallContext, MethodSpec
from reconciler.sandbox.errors import business_error, invalid_argument
from reconciler.sandbox.store import Store

NAMESPACE = "items"
CATALOGUE_SIZE = 2000
MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 40
ONSALE_MAX_ROWS = 20_000
INVENTORY_MAX_PAGE_NO = 101
MAX_SELLER_CIDS = 32
VALID_DAYS = 7
_WEEK_MS = VALID_DAYS * 86_400_000

ONSALE_FIELDS = frozenset(
    "approve_status,num_iid,title,nick,type,cid,pic_url,num,props,valid_thru,list_time,price,has_discount,"
    "has_invoice,has_warranty,has_showcase,modified,delist_time,postage_id,seller_cids,outer_id,sold_quantity".split(",")
)
INVENTORY_FIELDS = ONSALE_FIELDS - {"sold_quantity"}
SELLER_GET_FIELDS = ONSALE_FIELDS | {"iid", "sku", "first_starts_time", "is_virtual", "is_taobao", "is_ex"}
_ORDER_COLUMNS = ("list_time", "delist_time", "num", "modified", "sold_quantity")
_SHELVES = ("regular_shelved", "never_on_shelf", "off_shelf")
BANNERS = (*_SHELVES, "sold_out", "violation_off_shelf", "for_shelved")

# Seller categories of every generated shop: (name, share of items). 新品 is a second category
# given to every 10th item, so it overlaps the others on purpose.
CATEGORIES: tuple[tuple[str, int], ...] = (
    ("新品", 0),
    ("生鲜", 14),
    ("零食", 14),
    ("饮料", 12),
    ("酒水", 8),
    ("粮油", 10),
    ("日化", 10),
    ("家居", 8),
    ("母婴", 6),
    ("美妆", 8),
    ("数码", 6),
    ("双11预售", 1),
)
_UNCATEGORISED_SHARE = 3


# --------------------------------------------------------------------------- catalogue


def shop_prefix(shop: str) -> int:
    return 100 + zlib.crc32(shop.encode("utf-8")) % 800


def category_ids(shop: str) -> dict[str, str]:
    """Category name → seller category id for a generated shop."""
    prefix = shop_prefix(shop)
    return {name: str(prefix * 1_000_000 + index) for index, (name, _) in enumerate(CATEGORIES, start=1)}


def generate_catalogue(shop: str) -> dict[str, dict[str, Any]]:
    """The shop's 2,000 starting items; seeded by the shop name, so always the same."""
    rng = random.Random(f"catalogue:{shop}")
    prefix = shop_prefix(shop)
    cids = category_ids(shop)
    names = [name for name, share in CATEGORIES if share] + [""]
    shares = [share for _, share in CATEGORIES if share] + [_UNCATEGORISED_SHARE]
    first_listed = int(datetime(2026, 1, 1, tzinfo=GMT8).timestamp()) * 1000
    catalogue: dict[str, dict[str, Any]] = {}
    for serial in range(1, CATALOGUE_SIZE + 1):
        category = rng.choices(names, shares)[0]
        seller_cids = [cids[category]] if category else []
        if serial % 10 == 0:
            seller_cids.append(cids["新品"])
        num_iid = prefix * 1_000_000_000 + serial
        item = _generated_item(rng, num_iid, f"{category or '杂货'}{serial:04d}", seller_cids)
        item["list_time"] = first_listed + serial * 7 * 60_000
        item["delist_time"] = item["list_time"] + _WEEK_MS
        item["modified"] = item["list_time"]
        catalogue[str(num_iid)] = item
    for num_iid, outer_id in POOL_CODES.get(shop, {}).items():
        catalogue[str(num_iid)]["outer_id"] = outer_id
    return catalogue


# The merchant codes (商家编码, the item's outer_id) the repository's demo manifests name as
# item-pool skus (campaigns/*.yaml), so the demo's pools reference items the demo shop has: a pool
# sku names an item by its outer_id (reconciler/engine/references.py). Each code sits on an item on
# sale whose worst-case price the pool does not lower below what the demo's other promotions
# already reach, so the demo's price tables stay as they were (tests/golden) — except the 1.00
# exchange item of fruit-exchange-49, which would be the shop's cheapest: it waits in the
# warehouse (never on shelf) for the 618 campaign.
POOL_CODES: dict[str, dict[int, str]] = {
    "demo-shop": {
        220_000_000_101: "6902000000017", 220_000_000_102: "6902000000024", 220_000_000_103: "6902000000031",
        220_000_000_085: "6901234000011", 220_000_001_031: "6901234000028", 220_000_000_868: "6901234000035",
        220_000_000_325: "6901234000042",
        220_000_001_915: "6903000000016", 220_000_001_790: "6903000000023", 220_000_000_316: "6903000000030",
        220_000_001_120: "6904000000015", 220_000_000_888: "6904000000022", 220_000_000_016: "6904000000039",
        220_000_001_886: "6905000000014", 220_000_001_560: "6905000000021",
        220_000_000_091: "6906000000013", 220_000_000_079: "6906000000020", 220_000_001_352: "6906000000037",
        220_000_000_425: "6906000000044",
    },
}


def _generated_item(rng: random.Random, num_iid: int, title: str, seller_cids: list[str]) -> dict[str, Any]:
    num = 0 if rng.random() < 0.08 else rng.randint(1, 500)
    item: dict[str, Any] = {
        "num_iid": num_iid,
        "title": title,
        "num": num,
        "seller_cids": seller_cids,
        "price": f"{rng.randint(100, 99_900) // 100}.{rng.randint(0, 99):02d}",
        "outer_id": f"OUT{num_iid % 1_000_000:06d}",
        "cid": 50_000_000 + rng.randint(1, 400),
        "sold_quantity": rng.randint(0, 5000),
    }
    if rng.random() < 0.15:  # an item with two SKUs: its stock is their sum
        cut = rng.randint(0, num)
        item["skus"] = [{"sku_id": num_iid * 10 + 1, "quantity": cut}, {"sku_id": num_iid * 10 + 2, "quantity": num - cut}]
    on_sale = rng.random() < (0.5 if num == 0 else 0.85)
    item["approve_status"] = "onsale" if on_sale else "instock"
    item["shelf"] = rng.choice(("never_on_shelf", "off_shelf", "off_shelf", "regular_shelved"))
    return item


@lru_cache(maxsize=16)
def _generated(shop: str) -> Mapping[str, Mapping[str, Any]]:
    """Generated once per shop and never mutated: a changed item is copied into the shop's state."""
    return generate_catalogue(shop)


def _space(store: Store, shop: str) -> dict[str, Any]:
    space = store.namespace(shop, NAMESPACE)
    space.setdefault("generated", True)
    space.setdefault("items", {})
    return space


def _catalogue_of(store: Store, shop: str) -> dict[str, Mapping[str, Any]]:
    """Every item of the shop: the generated catalogue (unless replaced) overlaid with the items
    that changed or were set up by tests, which are the only ones kept in state (so the data file
    stays small and a reset shop gets its catalogue back)."""
    space = _space(store, shop)
    base: Mapping[str, Mapping[str, Any]] = _generated(shop) if space["generated"] else {}
    return {**base, **space["items"]}


def _shop(ctx: CallContext) -> str:
    if ctx.shop is None:
        raise invalid_argument("session", "item methods act for a shop")
    return ctx.shop


def _catalogue(ctx: CallContext) -> dict[str, Mapping[str, Any]]:
    return _catalogue_of(ctx.store, _shop(ctx))


def _item(ctx: CallContext, num_iid: int) -> dict[str, Any]:
    """The item to change: copied into the shop's state first, so the generated one stays as it was."""
    key = str(num_iid)
    item = _catalogue(ctx).get(key)
    if item is None:
        raise business_error("item-not-exist", f"item {num_iid} does not exist or is not this seller's")
    changed: dict[str, dict[str, Any]] = _space(ctx.store, _shop(ctx))["items"]
    if key not in changed:
        changed[key] = copy.deepcopy(dict(item))
    return changed[key]


def _existing(ctx: CallContext, num_iid: int) -> Mapping[str, Any]:
    item = _catalogue(ctx).get(str(num_iid))
    if item is None:
        raise business_error("item-not-exist", f"item {num_iid} does not exist or is not this seller's")
    return item


def _banner(item: Mapping[str, Any]) -> str | None:
    if item["approve_status"] == "onsale":
        return None
    return "sold_out" if item["num"] == 0 else str(item["shelf"])


# --------------------------------------------------------------------------- views


def _view(item: Mapping[str, Any], fields: frozenset[str] | set[str], shop: str) -> dict[str, Any]:
    values: dict[str, Callable[[], Any]] = {
        "approve_status": lambda: item["approve_status"],
        "num_iid": lambda: item["num_iid"],
        "iid": lambda: str(item["num_iid"]),
        "title": lambda: item["title"],
        "nick": lambda: shop,
        "type": lambda: "fixed",
        "cid": lambda: item["cid"],
        "pic_url": lambda: f"https://img.alicdn.com/sandbox/{item['num_iid']}.jpg",
        "num": lambda: item["num"],
        "props": lambda: "20000:20000",
        "valid_thru": lambda: VALID_DAYS,
        "list_time": lambda: format_gmt8(item["list_time"]),
        "delist_time": lambda: format_gmt8(item["delist_time"]),
        "first_starts_time": lambda: format_gmt8(item["list_time"]),
        "modified": lambda: format_gmt8(item["modified"]),
        "price": lambda: item["price"],
        "has_discount": lambda: False,
        "has_invoice": lambda: False,
        "has_warranty": lambda: False,
        "has_showcase": lambda: False,
        "is_virtual": lambda: False,
        "is_taobao": lambda: True,
        "is_ex": lambda: False,
        "seller_cids": lambda: "," + ",".join(item["seller_cids"]) + "," if item["seller_cids"] else None,
        "outer_id": lambda: item["outer_id"],
        "sold_quantity": lambda: item["sold_quantity"],
        "sku": lambda: [dict(sku) for sku in item["skus"]] if item.get("skus") else None,
    }
    view: dict[str, Any] = {}
    for field in sorted(fields):
        value = values[field]() if field in values else None
        if value is not None:  # TOP leaves empty fields out
            view["skus" if field == "sku" else field] = value
    return view


def _fields(ctx: CallContext, allowed: frozenset[str], *, strict: bool = True) -> set[str]:
    raw = params.text(ctx, "fields", required=True) or ""
    names = {part.strip() for part in raw.split(",") if part.strip()}
    if not names:
        raise invalid_argument("fields", "must name at least one field")
    unknown = sorted(names - allowed)
    if unknown and strict:
        raise invalid_argument("fields", f"{', '.join(unknown)} cannot be returned by {ctx.method}")
    return names & allowed


# --------------------------------------------------------------------------- list calls


def _page(ctx: CallContext, *, max_page_no: int | None, max_rows: int | None) -> tuple[int, int]:
    page_no = params.long(ctx, "page_no", minimum=1, maximum=max_page_no) or 1
    page_size = params.long(ctx, "page_size", minimum=1, maximum=MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE
    if max_rows is not None and page_no * page_size > max_rows:
        raise invalid_argument(
            "page_no", f"page_no * page_size must be at most {max_rows}; narrow the search (e.g. by modified time)"
        )
    return page_no, page_size


def _filters(ctx: CallContext) -> list[Callable[[Mapping[str, Any]], bool]]:
    checks: list[Callable[[Mapping[str, Any]], bool]] = []
    query = params.text(ctx, "q")
    if query is not None:
        checks.append(lambda item: query in item["title"])
    cid = params.long(ctx, "cid", minimum=1)
    if cid is not None:
        checks.append(lambda item: item["cid"] == cid)
    raw_cids = params.text(ctx, "seller_cids")
    if raw_cids is not None:
        wanted = {part.strip() for part in raw_cids.split(",") if part.strip()}
        if len(wanted) > MAX_SELLER_CIDS:
            raise invalid_argument("seller_cids", f"at most {MAX_SELLER_CIDS} ids, got {len(wanted)}")
        checks.append(lambda item: bool(wanted & set(item["seller_cids"])))
    for flag in ("has_discount", "has_showcase"):
        if params.boolean(ctx, flag):  # no generated item has either: asking for them finds none
            checks.append(lambda item: False)
    start = params.top_time(ctx, "start_modified")
    if start is not None:
        start_ms = int(start.timestamp()) * 1000
        checks.append(lambda item: item["modified"] >= start_ms)
    end = params.top_time(ctx, "end_modified")
    if end is not None:
        end_ms = int(end.timestamp()) * 1000
        checks.append(lambda item: item["modified"] <= end_ms)
    return checks


def _order(ctx: CallContext, columns: tuple[str, ...]) -> tuple[str, bool]:
    raw = params.text(ctx, "order_by") or "list_time:desc"
    column, _, direction = raw.partition(":")
    if column not in columns or direction not in ("asc", "desc"):
        raise invalid_argument("order_by", f"must be column:asc or column:desc with column one of {', '.join(columns)}")
    return column, direction == "desc"


def _list(ctx: CallContext, wanted: Callable[[Mapping[str, Any]], bool], fields: set[str], columns: tuple[str, ...],
          page_no: int, page_size: int) -> dict[str, Any]:
    checks = _filters(ctx)
    column, descending = _order(ctx, columns)
    matching = [item for item in _catalogue(ctx).values() if wanted(item) and all(check(item) for check in checks)]
    matching.sort(key=lambda item: (item[column], item["num_iid"]), reverse=descending)
    start = (page_no - 1) * page_size
    page = [_view(item, fields, ctx.shop or "") for item in matching[start : start + page_size]]
    answer: dict[str, Any] = {"total_results": len(matching)}
    if page:
        answer["items"] = page
    return answer


def onsale_get(ctx: CallContext) -> dict[str, Any]:
    fields = _fields(ctx, ONSALE_FIELDS)
    page_no, page_size = _page(ctx, max_page_no=None, max_rows=ONSALE_MAX_ROWS)
    return _list(ctx, lambda item: item["approve_status"] == "onsale", fields, _ORDER_COLUMNS, page_no, page_size)


def inventory_get(ctx: CallContext) -> dict[str, Any]:
    fields = _fields(ctx, INVENTORY_FIELDS)
    page_no, page_size = _page(ctx, max_page_no=INVENTORY_MAX_PAGE_NO, max_rows=None)
    banner = params.text(ctx, "banner") or "for_shelved"
    if banner not in BANNERS:
        raise invalid_argument("banner", f"must be one of {', '.join(BANNERS)}, got {banner!r}")
    shelves = set(_SHELVES) if banner == "for_shelved" else {banner}
    return _list(ctx, lambda item: _banner(item) in shelves, fields, _ORDER_COLUMNS[:-1], page_no, page_size)


# --------------------------------------------------------------------------- single items


def _item_answer(item: Mapping[str, Any], *extra: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"num_iid": item["num_iid"], "iid": str(item["num_iid"]), "modified": format_gmt8(item["modified"])}
    for field in extra:
        answer[field] = item[field]
    return {"item": answer}


def listing(ctx: CallContext) -> dict[str, Any]:
    num_iid = params.long(ctx, "num_iid", required=True, minimum=1)
    num = params.long(ctx, "num", required=True)
    assert num_iid is not None and num is not None
    if num <= 0:
        raise invalid_argument("num", f"must be a whole number above 0, got {num}")
    item = _item(ctx, num_iid)
    if item.get("skus"):
        if item["num"] == 0:
            raise business_error("item-out-of-stock", f"item {num_iid}: its SKUs hold no stock, so it cannot be listed")
    else:
        item["num"] = num
    if item["approve_status"] != "onsale":
        item["approve_status"] = "onsale"
        item["list_time"] = ctx.now_ms
        item["delist_time"] = ctx.now_ms + _WEEK_MS
    item["modified"] = ctx.now_ms
    return _item_answer(item)


def delisting(ctx: CallContext) -> dict[str, Any]:
    num_iid = params.long(ctx, "num_iid", required=True, minimum=1)
    assert num_iid is not None
    item: Mapping[str, Any] = _existing(ctx, num_iid)
    if item["approve_status"] == "onsale":
        item = changed = _item(ctx, num_iid)
        changed["approve_status"] = "instock"
        changed["shelf"] = "off_shelf"
        changed["delist_time"] = ctx.now_ms
        changed["modified"] = ctx.now_ms
    return _item_answer(item)


def seller_get(ctx: CallContext) -> dict[str, Any]:
    fields = _fields(ctx, SELLER_GET_FIELDS, strict=False)
    num_iid = params.long(ctx, "num_iid", required=True, minimum=1)
    assert num_iid is not None
    return {"item": _view(_existing(ctx, num_iid), fields, ctx.shop or "")}


def quantity_update(ctx: CallContext) -> dict[str, Any]:
    num_iid = params.long(ctx, "num_iid", required=True, minimum=1)
    quantity = params.long(ctx, "quantity", required=True)
    update_type = params.long(ctx, "type") or 1
    sku_id = params.long(ctx, "sku_id", minimum=1)
    assert num_iid is not None and quantity is not None
    if update_type not in (1, 2):
        raise invalid_argument("type", f"must be 1 (full) or 2 (incremental), got {update_type}")
    if update_type == 1 and quantity < 0:
        raise invalid_argument("quantity", f"a full update needs a quantity of at least 0, got {quantity}")
    item = _item(ctx, num_iid)
    holder = _stock_holder(item, sku_id, num_iid)
    new_quantity = quantity if update_type == 1 else holder[_stock_field(holder)] + quantity
    if new_quantity < 0:
        raise business_error("quantity-below-zero", f"stock {holder[_stock_field(holder)]} + {quantity} is below 0")
    holder[_stock_field(holder)] = new_quantity
    if item.get("skus"):
        item["num"] = sum(sku["quantity"] for sku in item["skus"])
    item["modified"] = ctx.now_ms
    answer = _item_answer(item, "num")
    if item.get("skus"):
        answer["item"]["skus"] = [dict(sku) for sku in item["skus"]]
    return answer


def _stock_holder(item: dict[str, Any], sku_id: int | None, num_iid: int) -> dict[str, Any]:
    skus: list[dict[str, Any]] = item.get("skus") or []
    if sku_id is None:
        if skus:
            raise business_error("item-has-skus", f"item {num_iid} has SKUs: update one with sku_id")
        return item
    for sku in skus:
        if sku["sku_id"] == sku_id:
            return sku
    raise business_error("sku-not-exist", f"item {num_iid} has no SKU {sku_id}")


def _stock_field(holder: Mapping[str, Any]) -> str:
    return "quantity" if "sku_id" in holder else "num"


# --------------------------------------------------------------------------- test set-up


def setup_items(store: Store, payload: Mapping[str, Any]) -> dict[str, Any]:
    """``POST /_sandbox/items``: put items into a shop, for tests.

    Body: ``{"shop": "demo-shop", "replace": true, "items": [{"num_iid": 1, "num": 0, ...}]}``.
    ``replace`` (default false) drops every other item of the shop first (the generated
    catalogue included). Per item: ``num_iid`` (required), ``title``, ``approve_status``
    (onsale | instock), ``num`` (default 10), ``skus`` ([{sku_id, quantity}], the stock is then
    their sum), ``seller_cids`` (list of ids), ``price`` (yuan string), ``shelf``.
    """
    shop = payload.get("shop")
    items = payload.get("items")
    if not isinstance(shop, str) or not shop or not isinstance(items, list):
        raise ValueError('body must be {"shop": "...", "items": [...], "replace": false}')
    with store.lock:
        space = _space(store, shop)
        if payload.get("replace"):
            space["generated"] = False
            space["items"] = {}
        for raw in items:
            item = _test_item(raw)
            space["items"][str(item["num_iid"])] = item
        store.save()
        return {"ok": True, "items": len(_catalogue_of(store, shop))}


def _test_item(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict) or not isinstance(raw.get("num_iid"), int) or raw["num_iid"] < 1:
        raise ValueError(f"each item needs a positive integer num_iid, got {raw!r}")
    num_iid = raw["num_iid"]
    skus = [{"sku_id": int(s["sku_id"]), "quantity": int(s["quantity"])} for s in raw.get("skus") or []]
    num = sum(s["quantity"] for s in skus) if skus else int(raw.get("num", 10))
    status = raw.get("approve_status", "onsale")
    if status not in ("onsale", "instock") or num < 0:
        raise ValueError(f"item {num_iid}: approve_status must be onsale or instock and num at least 0")
    listed = int(datetime(2026, 1, 1, tzinfo=GMT8).timestamp()) * 1000
    item: dict[str, Any] = {
        "num_iid": num_iid,
        "title": str(raw.get("title", f"商品{num_iid}")),
        "num": num,
        "seller_cids": [str(c) for c in raw.get("seller_cids") or []],
        "price": str(raw.get("price", "10.00")),
        "outer_id": str(raw.get("outer_id", f"OUT{num_iid}")),
        "cid": int(raw.get("cid", 50_000_001)),
        "sold_quantity": int(raw.get("sold_quantity", 0)),
        "approve_status": status,
        "shelf": str(raw.get("shelf", "off_shelf")),
        "list_time": listed,
        "delist_time": listed + _WEEK_MS,
        "modified": listed,
    }
    if skus:
        item["skus"] = skus
    return item


METHODS: tuple[MethodSpec, ...] = (
    MethodSpec("taobao.items.onsale.get", onsale_get),
    MethodSpec("taobao.items.inventory.get", inventory_get),
    MethodSpec("taobao.item.seller.get", seller_get),
    MethodSpec("taobao.item.update.listing", listing, writes=True),
    MethodSpec("taobao.item.update.delisting", delisting, writes=True),
    MethodSpec("taobao.item.quantity.update", quantity_update, writes=True),
)
